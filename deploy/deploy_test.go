package deploy

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/mimc-bridge/mimc-bridge/config"
)

// docs parses every YAML document of the files matching glob.
func docs(t *testing.T, glob string) map[string]map[string]any {
	t.Helper()
	files, err := filepath.Glob(glob)
	if err != nil || len(files) == 0 {
		t.Fatalf("no files match %s: %v", glob, err)
	}
	out := map[string]map[string]any{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for i := 0; ; i++ {
			var doc map[string]any
			if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: document %d: %v", f, i, err)
			}
			kind, _ := doc["kind"].(string)
			md, _ := doc["metadata"].(map[string]any)
			name, _ := md["name"].(string)
			if doc["apiVersion"] == nil || kind == "" || name == "" && kind != "Kustomization" {
				t.Errorf("%s: document %d lacks apiVersion, kind or metadata.name", f, i)
			}
			out[kind+"/"+name] = doc
		}
	}
	return out
}

// at walks a path of map keys and list indexes.
func at(t *testing.T, v any, path ...any) any {
	t.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("no %q in %v", k, path)
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				t.Fatalf("no [%d] in %v", k, path)
			}
			v = l[k]
		}
	}
	return v
}

func TestKubernetesManifests(t *testing.T) {
	all := docs(t, "kubernetes/*.yaml")
	for k, v := range docs(t, "kubernetes/keda/*.yaml") {
		all[k] = v
	}
	for _, want := range []string{"Deployment/mimc-bridge", "ConfigMap/mimc-bridge", "Secret/mimc-bridge",
		"PodDisruptionBudget/mimc-bridge", "Service/mimc-bridge", "ScaledObject/mimc-bridge"} {
		if all[want] == nil {
			t.Errorf("no %s", want)
		}
	}

	// Every setting in the ConfigMap is one the bridge knows, and valid.
	known := map[string]bool{}
	for _, s := range config.Settings() {
		known[s.Env] = true
	}
	data := at(t, all["ConfigMap/mimc-bridge"], "data").(map[string]any)
	env := map[string]string{}
	for k, v := range data {
		if !known[k] {
			t.Errorf("configmap.yaml: %s is not a setting", k)
		}
		s, ok := v.(string)
		if !ok {
			t.Errorf("configmap.yaml: %s is not a string", k)
		}
		env[k] = s
	}
	// The password comes from the Secret (secretKeyRef).
	env[config.EnvPrefix+"KAFKA_SASL_PASSWORD"] = "from-the-secret"
	cfg, _, err := config.Load(nil, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err == nil {
		err = cfg.Validate(false)
	}
	if err != nil {
		t.Errorf("configmap.yaml settings: %v", err)
	}

	dep := all["Deployment/mimc-bridge"]
	spec := at(t, dep, "spec", "template", "spec")
	c := at(t, spec, "containers", 0)
	if r := at(t, dep, "spec", "replicas"); r != 3 {
		t.Errorf("replicas %v, want 3", r)
	}
	if p := at(t, c, "livenessProbe", "httpGet", "path"); p != "/healthz" {
		t.Errorf("liveness probe %v", p)
	}
	if p := at(t, c, "readinessProbe", "httpGet", "path"); p != "/readyz" {
		t.Errorf("readiness probe %v", p)
	}
	if p := at(t, c, "ports", 0, "containerPort"); p != 8080 {
		t.Errorf("container port %v", p)
	}
	if ref := at(t, c, "envFrom", 0, "configMapRef", "name"); ref != "mimc-bridge" {
		t.Errorf("envFrom %v", ref)
	}
	grace := time.Duration(at(t, spec, "terminationGracePeriodSeconds").(int)) * time.Second
	if grace <= cfg.ShutdownTimeout+5*time.Second {
		t.Errorf("terminationGracePeriodSeconds %s is not above SHUTDOWN_TIMEOUT %s + 5s", grace, cfg.ShutdownTimeout)
	}
	var secretFile string
	for _, e := range at(t, c, "env").([]any) {
		if at(t, e, "name") == config.EnvPrefix+"MIMC_APP_SECRET_FILE" {
			secretFile = at(t, e, "value").(string)
		}
	}
	mount := at(t, c, "volumeMounts", 0, "mountPath").(string)
	if secretFile == "" || !strings.HasPrefix(secretFile, mount+"/") {
		t.Errorf("MIMC_APP_SECRET_FILE %q is not in the secret mount %s", secretFile, mount)
	}
	if at(t, c, "resources", "requests") == nil || at(t, c, "resources", "limits") == nil {
		t.Error("no resource requests or limits")
	}
	if at(t, all["ScaledObject/mimc-bridge"], "spec", "triggers", 0, "metadata", "consumerGroup") != cfg.KafkaGroupID {
		t.Error("the KEDA trigger watches another consumer group")
	}
}

func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, re := range []string{
		`(?m)^FROM golang:1\.26 AS build$`,
		`CGO_ENABLED=0`,
		`(?m)^FROM gcr\.io/distroless/static[-a-z0-9]*:nonroot$`,
		`(?m)^USER nonroot`,
		`(?m)^EXPOSE 8080$`,
		`(?m)^ENTRYPOINT \["/mimc-bridge"\]$`,
		`(?m)^CMD \["run"\]$`,
	} {
		if !regexp.MustCompile(re).MatchString(s) {
			t.Errorf("the Dockerfile does not match %s", re)
		}
	}
}

package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"

	"github.com/mimc-bridge/mimc-bridge/config"
)

// scaledObject is KEDA's ScaledObject (keda.sh/v1alpha1) as far as the
// manifests use it, spelled as KEDA's CRD spells it: a misspelt field, or a
// trigger metadata value that is not a string, fails here as it would at
// `kubectl apply`. (KEDA's own Go module is too large to bring in for this.)
type scaledObject struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		ScaleTargetRef struct {
			APIVersion string `json:"apiVersion,omitempty"`
			Kind       string `json:"kind,omitempty"`
			Name       string `json:"name"`
		} `json:"scaleTargetRef"`
		PollingInterval *int32 `json:"pollingInterval,omitempty"`
		CooldownPeriod  *int32 `json:"cooldownPeriod,omitempty"`
		MinReplicaCount *int32 `json:"minReplicaCount,omitempty"`
		MaxReplicaCount *int32 `json:"maxReplicaCount,omitempty"`
		Advanced        *struct {
			HorizontalPodAutoscalerConfig *struct {
				Name     string                                         `json:"name,omitempty"`
				Behavior *autoscalingv2.HorizontalPodAutoscalerBehavior `json:"behavior,omitempty"`
			} `json:"horizontalPodAutoscalerConfig,omitempty"`
		} `json:"advanced,omitempty"`
		Triggers []struct {
			Type              string            `json:"type"`
			Name              string            `json:"name,omitempty"`
			Metadata          map[string]string `json:"metadata"`
			AuthenticationRef *struct {
				Name string `json:"name"`
				Kind string `json:"kind,omitempty"`
			} `json:"authenticationRef,omitempty"`
		} `json:"triggers"`
	} `json:"spec"`
}

// triggerAuthentication is KEDA's TriggerAuthentication (keda.sh/v1alpha1)
// as far as the manifests use it.
type triggerAuthentication struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		SecretTargetRef []struct {
			Parameter string `json:"parameter"`
			Name      string `json:"name"`
			Key       string `json:"key"`
		} `json:"secretTargetRef"`
	} `json:"spec"`
}

// kinds maps apiVersion/kind to the Go type a document must decode into.
var kinds = map[string]func() any{
	"v1/Namespace":                            func() any { return new(corev1.Namespace) },
	"v1/ConfigMap":                            func() any { return new(corev1.ConfigMap) },
	"v1/Secret":                               func() any { return new(corev1.Secret) },
	"v1/Service":                              func() any { return new(corev1.Service) },
	"v1/ServiceAccount":                       func() any { return new(corev1.ServiceAccount) },
	"apps/v1/Deployment":                      func() any { return new(appsv1.Deployment) },
	"policy/v1/PodDisruptionBudget":           func() any { return new(policyv1.PodDisruptionBudget) },
	"keda.sh/v1alpha1/ScaledObject":           func() any { return new(scaledObject) },
	"keda.sh/v1alpha1/TriggerAuthentication":  func() any { return new(triggerAuthentication) },
	"monitoring.coreos.com/v1/ServiceMonitor": func() any { return new(monitoringv1.ServiceMonitor) },
}

// objects is a rendered set of manifests, each strictly decoded into its Go
// type, by "Kind/name".
type objects map[string]any

// decodeStrict splits a YAML stream into documents and decodes each into the
// Go type of its apiVersion and kind: an unknown kind, an unknown or
// duplicate field (case counts) or a value of the wrong type fails the test.
func decodeStrict(t *testing.T, source string, stream []byte) objects {
	t.Helper()
	out := objects{}
	r := k8syaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(stream)))
	for i := 0; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("%s: document %d: %v", source, i, err)
		}
		js, err := yaml.YAMLToJSONStrict(doc)
		if err != nil {
			t.Errorf("%s: document %d: %v", source, i, err)
			continue
		}
		if string(bytes.TrimSpace(js)) == "null" {
			continue // only comments
		}
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := kjson.UnmarshalCaseSensitivePreserveInts(js, &head); err != nil {
			t.Errorf("%s: document %d: %v", source, i, err)
			continue
		}
		id := head.Kind + "/" + head.Metadata.Name
		newObj, ok := kinds[head.APIVersion+"/"+head.Kind]
		if !ok {
			t.Errorf("%s: %s: no Go type for apiVersion %s kind %s", source, id, head.APIVersion, head.Kind)
			continue
		}
		obj := newObj()
		strict, err := kjson.UnmarshalStrict(js, obj)
		if err == nil {
			err = errors.Join(strict...)
		}
		if err != nil {
			t.Errorf("%s: %s: %v", source, id, err)
			continue
		}
		if head.Metadata.Name == "" {
			t.Errorf("%s: document %d (%s) has no metadata.name", source, i, head.Kind)
		}
		if _, dup := out[id]; dup {
			t.Errorf("%s: %s twice", source, id)
		}
		out[id] = obj
	}
	return out
}

// only returns the one object of type T in objs.
func only[T any](t *testing.T, objs objects) T {
	t.Helper()
	var found []T
	for _, o := range objs {
		if v, ok := o.(T); ok {
			found = append(found, v)
		}
	}
	if len(found) != 1 {
		var zero T
		t.Fatalf("want one %T, found %d", zero, len(found))
	}
	return found[0]
}

// all returns the objects of type T in objs.
func all[T any](objs objects) []T {
	var found []T
	for _, o := range objs {
		if v, ok := o.(T); ok {
			found = append(found, v)
		}
	}
	return found
}

// bridgeContainer returns the pod spec and the bridge's container.
func bridgeContainer(t *testing.T, dep *appsv1.Deployment) (*corev1.PodSpec, *corev1.Container) {
	t.Helper()
	spec := &dep.Spec.Template.Spec
	for i := range spec.Containers {
		if spec.Containers[i].Name == "mimc-bridge" {
			return spec, &spec.Containers[i]
		}
	}
	t.Fatalf("deployment %s has no container mimc-bridge", dep.Name)
	return nil, nil
}

// placeholder is what a value nobody filled in looks like.
var placeholder = regexp.MustCompile(`(?i)replace[-_ ]?me|change[-_ ]?me|placeholder|^x+$|^secret$|^password$|^todo`)

// goMemLimit parses GOMEMLIMIT as the Go runtime does: a number of bytes
// with an optional B, KiB, MiB, GiB or TiB suffix.
func goMemLimit(v string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if n, ok := strings.CutSuffix(v, u.suffix); ok {
			v, mult = n, u.mult
			break
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("GOMEMLIMIT %q is not a number of bytes with an optional B, KiB, MiB, GiB or TiB suffix", v)
	}
	return n * mult, nil
}

// settingsOf loads the bridge's settings as the container sees them: its
// ConfigMaps (envFrom) and literal env values, checking each MIMC_BRIDGE_
// variable is a setting. A variable set from a Secret counts as set.
func settingsOf(t *testing.T, objs objects, c *corev1.Container) (config.Config, map[string]corev1.EnvVar) {
	t.Helper()
	known := map[string]bool{}
	for _, s := range config.Settings() {
		known[s.Env] = true
	}
	env := map[string]string{}
	for _, from := range c.EnvFrom {
		if from.ConfigMapRef == nil {
			continue
		}
		cm, ok := objs["ConfigMap/"+from.ConfigMapRef.Name].(*corev1.ConfigMap)
		if !ok {
			t.Fatalf("envFrom names ConfigMap %s, which is not rendered", from.ConfigMapRef.Name)
		}
		for k, v := range cm.Data {
			if strings.HasPrefix(k, config.EnvPrefix) && !known[k] {
				t.Errorf("ConfigMap %s: %s is not a setting", cm.Name, k)
			}
			env[k] = v
		}
	}
	vars := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		vars[e.Name] = e
		if strings.HasPrefix(e.Name, config.EnvPrefix) && !known[e.Name] {
			t.Errorf("env %s is not a setting", e.Name)
		}
		switch {
		case e.Name == config.EnvPrefix+"MIMC_APP_SECRET_FILE":
			// Checked by checkBridge: the file is in the pod, not here.
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			env[e.Name] = "from-the-secret"
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		}
	}
	// Validate reads the CA file, which is in the pod: the caller checks
	// that a volume is mounted there.
	caFile := env[config.EnvPrefix+"KAFKA_TLS_CA_FILE"]
	delete(env, config.EnvPrefix+"KAFKA_TLS_CA_FILE")
	cfg, _, err := config.Load(nil, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err == nil {
		err = cfg.Validate(false)
	}
	cfg.KafkaTLSCAFile = caFile
	if err != nil {
		t.Errorf("the settings the container gets: %v", err)
	}
	return cfg, vars
}

// checkBridge checks what makes a rendered bridge start and stop well: the
// settings are valid, the app secret file is readable by the container's
// user, GOMEMLIMIT leaves headroom below the memory limit, the probes ask
// /healthz and /readyz on the HTTP port, the grace period outlasts the
// drain, and no Secret holds a placeholder.
func checkBridge(t *testing.T, objs objects) (config.Config, *appsv1.Deployment) {
	t.Helper()
	dep := only[*appsv1.Deployment](t, objs)
	pod, c := bridgeContainer(t, dep)
	cfg, env := settingsOf(t, objs, c)

	// The app secret: a file in a Secret volume that the container's user
	// can read. Secret files belong to root and, with fsGroup, to that group.
	psc := pod.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	uid := psc.RunAsUser
	if c.SecurityContext != nil && c.SecurityContext.RunAsUser != nil {
		uid = c.SecurityContext.RunAsUser
	}
	if uid == nil {
		t.Error("no runAsUser: the test cannot tell who reads the secret (the image runs as 65532)")
		uid = new(int64)
		*uid = 65532
	}
	file := env[config.EnvPrefix+"MIMC_APP_SECRET_FILE"].Value
	if file == "" {
		t.Fatalf("no %sMIMC_APP_SECRET_FILE", config.EnvPrefix)
	}
	var mount *corev1.VolumeMount
	for i, m := range c.VolumeMounts {
		if strings.HasPrefix(file, strings.TrimSuffix(m.MountPath, "/")+"/") {
			mount = &c.VolumeMounts[i]
		}
	}
	if mount == nil {
		t.Fatalf("MIMC_APP_SECRET_FILE %s is in no volume mount", file)
	}
	rel := strings.TrimPrefix(file, strings.TrimSuffix(mount.MountPath, "/")+"/")
	var vol *corev1.SecretVolumeSource
	for _, v := range pod.Volumes {
		if v.Name == mount.Name {
			vol = v.Secret
		}
	}
	if vol == nil {
		t.Fatalf("volume %s of MIMC_APP_SECRET_FILE is not a Secret volume", mount.Name)
	}
	mode, key := int32(0o644), rel // the API's default mode, and keys as files
	if vol.DefaultMode != nil {
		mode = *vol.DefaultMode
	}
	if len(vol.Items) > 0 {
		key = ""
		for _, it := range vol.Items {
			if it.Path == rel {
				key = it.Key
				if it.Mode != nil {
					mode = *it.Mode
				}
			}
		}
		if key == "" {
			t.Errorf("secret volume %s has no item with path %s", mount.Name, rel)
		}
	}
	readable := mode&0o004 != 0 || *uid == 0 && mode&0o400 != 0 || psc.FSGroup != nil && mode&0o040 != 0
	if !readable {
		fs := "no fsGroup"
		if psc.FSGroup != nil {
			fs = fmt.Sprintf("fsGroup %d", *psc.FSGroup)
		}
		t.Errorf("user %d cannot read %s: mode %#o, owner root, %s", *uid, file, mode, fs)
	}
	if s, ok := objs["Secret/"+vol.SecretName].(*corev1.Secret); ok {
		if _, ok := s.Data[key]; !ok {
			if _, ok := s.StringData[key]; !ok {
				t.Errorf("Secret %s has no key %s for MIMC_APP_SECRET_FILE", s.Name, key)
			}
		}
	}
	for _, e := range c.Env {
		if ref := e.ValueFrom; ref != nil && ref.SecretKeyRef != nil {
			if s, ok := objs["Secret/"+ref.SecretKeyRef.Name].(*corev1.Secret); ok {
				if _, ok := s.Data[ref.SecretKeyRef.Key]; !ok {
					t.Errorf("%s: Secret %s has no key %s", e.Name, s.Name, ref.SecretKeyRef.Key)
				}
			}
		}
	}
	for _, s := range all[*corev1.Secret](objs) {
		for k, v := range s.Data {
			if placeholder.Match(bytes.TrimSpace(v)) {
				t.Errorf("Secret %s holds a placeholder in %s", s.Name, k)
			}
		}
		for k, v := range s.StringData {
			if placeholder.MatchString(strings.TrimSpace(v)) {
				t.Errorf("Secret %s holds a placeholder in %s", s.Name, k)
			}
		}
	}

	// GOMEMLIMIT: about 85% of the memory limit.
	limit := c.Resources.Limits.Memory()
	if limit.IsZero() {
		t.Error("no memory limit")
	} else if v, ok := env["GOMEMLIMIT"]; !ok || v.ValueFrom != nil {
		t.Errorf("GOMEMLIMIT is not set to a value: %+v", v)
	} else if n, err := goMemLimit(v.Value); err != nil {
		t.Error(err)
	} else if r := float64(n) / float64(limit.Value()); r < 0.80 || r > 0.90 {
		t.Errorf("GOMEMLIMIT %s is %.0f%% of the memory limit %s, want 80-90%%", v.Value, 100*r, limit)
	}

	// Probes on the HTTP port.
	_, port, _ := strings.Cut(cfg.HTTPAddr, ":")
	var httpPort *corev1.ContainerPort
	for i, p := range c.Ports {
		if p.Name == "http" {
			httpPort = &c.Ports[i]
		}
	}
	if httpPort == nil || strconv.Itoa(int(httpPort.ContainerPort)) != port {
		t.Errorf("no container port named http on HTTP_ADDR %q: %+v", cfg.HTTPAddr, c.Ports)
	}
	for _, p := range []struct {
		name, path string
		probe      *corev1.Probe
	}{{"liveness", "/healthz", c.LivenessProbe}, {"readiness", "/readyz", c.ReadinessProbe}, {"startup", "/healthz", c.StartupProbe}} {
		switch {
		case p.probe == nil && p.name == "startup":
		case p.probe == nil || p.probe.HTTPGet == nil:
			t.Errorf("no HTTP %s probe", p.name)
		case p.probe.HTTPGet.Path != p.path:
			t.Errorf("%s probe asks %s, want %s", p.name, p.probe.HTTPGet.Path, p.path)
		case p.probe.HTTPGet.Port.String() != "http" && p.probe.HTTPGet.Port.String() != port:
			t.Errorf("%s probe asks port %s, not http (%s)", p.name, p.probe.HTTPGet.Port.String(), port)
		}
	}

	// The kubelet must not SIGKILL a draining bridge: it forces its own
	// exit SHUTDOWN_TIMEOUT + 5s after SIGTERM (cli.shutdownWatchdog).
	drain := cfg.ShutdownTimeout + 5*time.Second
	grace := time.Duration(0)
	if g := pod.TerminationGracePeriodSeconds; g != nil {
		grace = time.Duration(*g) * time.Second
	}
	if grace <= drain {
		t.Errorf("terminationGracePeriodSeconds %s is not above SHUTDOWN_TIMEOUT %s + 5s", grace, cfg.ShutdownTimeout)
	}
	if c.Resources.Requests.Memory().IsZero() || c.Resources.Requests.Cpu().IsZero() {
		t.Error("no cpu or memory request")
	}
	return cfg, dep
}

// checkKEDA checks that a ScaledObject scales the bridge on its own group's
// lag, with credentials from Secrets that are rendered (or named by the
// operator) and hold the keys it asks for.
func checkKEDA(t *testing.T, objs objects, cfg config.Config, dep *appsv1.Deployment) {
	t.Helper()
	so := only[*scaledObject](t, objs)
	if so.Spec.ScaleTargetRef.Name != dep.Name {
		t.Errorf("the ScaledObject scales %s, not %s", so.Spec.ScaleTargetRef.Name, dep.Name)
	}
	if len(so.Spec.Triggers) != 1 || so.Spec.Triggers[0].Type != "kafka" {
		t.Fatalf("want one kafka trigger: %+v", so.Spec.Triggers)
	}
	tr := so.Spec.Triggers[0]
	if tr.Metadata["consumerGroup"] != cfg.KafkaGroupID {
		t.Errorf("the trigger watches group %q, the bridge is %q", tr.Metadata["consumerGroup"], cfg.KafkaGroupID)
	}
	if got, want := tr.Metadata["bootstrapServers"], strings.Join(cfg.KafkaBrokers, ","); got != want {
		t.Errorf("the trigger's bootstrapServers %q are not KAFKA_BROKERS %q", got, want)
	}
	if min, max := so.Spec.MinReplicaCount, so.Spec.MaxReplicaCount; min == nil || max == nil || *min < 1 || *max < *min {
		t.Errorf("replica bounds %v..%v", min, max)
	}
	if cfg.KafkaSASLMechanism == "" || tr.AuthenticationRef == nil {
		return
	}
	ta, ok := objs["TriggerAuthentication/"+tr.AuthenticationRef.Name].(*triggerAuthentication)
	if !ok {
		t.Fatalf("the trigger's authenticationRef %s is not rendered", tr.AuthenticationRef.Name)
	}
	params := map[string]bool{}
	for _, ref := range ta.Spec.SecretTargetRef {
		params[ref.Parameter] = true
		s, ok := objs["Secret/"+ref.Name].(*corev1.Secret)
		if !ok {
			continue // the operator's own Secret
		}
		if _, ok := s.Data[ref.Key]; !ok {
			if _, ok := s.StringData[ref.Key]; !ok {
				t.Errorf("TriggerAuthentication %s: Secret %s has no key %s", ta.Name, ref.Name, ref.Key)
			}
		}
	}
	for _, p := range []string{"sasl", "username", "password"} {
		if !params[p] {
			t.Errorf("TriggerAuthentication %s gives no %s with SASL %s", ta.Name, p, cfg.KafkaSASLMechanism)
		}
	}
}

// kedaOff is how kustomization.yaml leaves the KEDA component out; an
// operator turns it on by uncommenting the two lines.
const kedaOff = "# components:\n#   - keda\n"

// kustomize renders deploy/kubernetes with kustomize's library, as `kubectl
// apply -k` does, in memory: secretFiles are the operator's secrets/ folder,
// and keda turns the KEDA component on as the operator does.
func kustomize(keda bool, secretFiles map[string]string) ([]byte, error) {
	mem := filesys.MakeFsInMemory()
	err := filepath.WalkDir("kubernetes", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Base(filepath.Dir(p)) == "secrets" {
			return err // the machine's own secret files are not the test's
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if keda && p == filepath.Join("kubernetes", "kustomization.yaml") {
			if !bytes.Contains(b, []byte(kedaOff)) {
				return fmt.Errorf("%s does not hold %q to uncomment", p, kedaOff)
			}
			b = bytes.Replace(b, []byte(kedaOff), []byte("components:\n  - keda\n"), 1)
		}
		return mem.WriteFile("/"+filepath.ToSlash(p), b)
	})
	if err != nil {
		return nil, err
	}
	for name, v := range secretFiles {
		if err := mem.WriteFile(path.Join("/kubernetes/secrets", name), []byte(v)); err != nil {
			return nil, err
		}
	}
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(mem, "/kubernetes")
	if err != nil {
		return nil, err
	}
	return res.AsYaml()
}

func TestKubernetesManifests(t *testing.T) {
	files := map[string]string{"mimc-app-secret": "app-secret-from-a-file\n", "kafka-sasl-password": "sasl-password-from-a-file"}
	for _, keda := range []bool{false, true} {
		t.Run(fmt.Sprintf("keda=%v", keda), func(t *testing.T) {
			out, err := kustomize(keda, files)
			if err != nil {
				t.Fatal(err)
			}
			objs := decodeStrict(t, "kustomize build deploy/kubernetes", out)
			cfg, dep := checkBridge(t, objs)
			for _, want := range []string{"Namespace/mimc-bridge", "Service/mimc-bridge", "PodDisruptionBudget/mimc-bridge"} {
				if objs[want] == nil {
					t.Errorf("no %s", want)
				}
			}
			if r := dep.Spec.Replicas; r == nil || *r != 3 {
				t.Errorf("replicas %v, want 3", r)
			}
			// The Secret comes from the operator's files, under a name with
			// a hash of them that every reference follows.
			pod, _ := bridgeContainer(t, dep)
			var s *corev1.Secret
			for _, v := range pod.Volumes {
				if v.Secret != nil {
					s, _ = objs["Secret/"+v.Secret.SecretName].(*corev1.Secret)
				}
			}
			if s == nil {
				t.Fatal("the secret volume's Secret is not rendered")
			}
			if !regexp.MustCompile(`^mimc-bridge-[a-z0-9]{10}$`).MatchString(s.Name) {
				t.Errorf("the Secret is %s, want mimc-bridge-<hash>", s.Name)
			}
			for k, v := range files {
				if string(s.Data[k]) != v {
					t.Errorf("Secret %s: %s is %q, not the file's %q", s.Name, k, s.Data[k], v)
				}
			}
			if keda {
				checkKEDA(t, objs, cfg, dep)
				for _, ta := range all[*triggerAuthentication](objs) {
					for _, ref := range ta.Spec.SecretTargetRef {
						if objs["Secret/"+ref.Name] == nil && ref.Name != "mimc-bridge-keda" {
							t.Errorf("TriggerAuthentication %s names Secret %s, which is not rendered", ta.Name, ref.Name)
						}
					}
				}
			} else if len(all[*scaledObject](objs)) != 0 {
				t.Error("the base renders a ScaledObject: KEDA is optional")
			}
		})
	}

	// Without the operator's files nothing renders, so no placeholder can
	// be applied.
	if _, err := kustomize(false, nil); err == nil || !strings.Contains(err.Error(), "mimc-app-secret") {
		t.Errorf("rendering without secrets/mimc-app-secret: %v, want an error naming it", err)
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

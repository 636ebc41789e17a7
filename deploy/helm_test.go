package deploy

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"

	"github.com/mimc-bridge/mimc-bridge/config"
)

var update = flag.Bool("update", false, "rewrite the settings block of the chart's values.yaml from the settings table")

const (
	chartDir   = "helm/mimc-bridge"
	allOnFile  = "helm/mimc-bridge/ci/all-on-values.yaml"
	valuesFile = "helm/mimc-bridge/values.yaml"
)

// chartSetting reports whether a setting of the table is a key of the
// chart's `settings`: the secrets come from the chart's Secret, and
// MIMC_APP_SECRET_FILE is where the chart mounts it.
func chartSetting(s config.Setting) bool {
	return !s.Secret && s.Name != "MIMC_APP_SECRET_FILE"
}

// settingsBlock is the part of values.yaml that the settings table writes:
// each setting's help as a comment, then its default.
func settingsBlock() string {
	var b strings.Builder
	b.WriteString("  # settings-table: begin\n")
	for _, s := range config.Settings() {
		if chartSetting(s) {
			fmt.Fprintf(&b, "  # %s\n  %s: %s\n", s.Help, s.Name, strconv.Quote(s.Default))
		}
	}
	b.WriteString("  # settings-table: end\n")
	return b.String()
}

func TestHelmValuesAreTheSettingsTable(t *testing.T) {
	b, err := os.ReadFile(valuesFile)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	const begin, end = "  # settings-table: begin\n", "  # settings-table: end\n"
	i, j := strings.Index(text, begin), strings.Index(text, end)
	if i < 0 || j < i {
		t.Fatalf("%s has no %q ... %q block", valuesFile, begin, end)
	}
	want := settingsBlock()
	if got := text[i : j+len(end)]; got != want {
		if *update {
			if err := os.WriteFile(valuesFile, []byte(text[:i]+want+text[j+len(end):]), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("rewrote the settings block of %s", valuesFile)
		} else {
			t.Errorf("the settings block of %s differs from the settings table; run go test ./deploy -run TestHelmValues -update, or replace it with:\n%s", valuesFile, want)
		}
	}

	// The same as YAML: `settings` holds the table's defaults, as strings.
	var values struct {
		Settings map[string]any `json:"settings"`
	}
	if err := yaml.Unmarshal(b, &values); err != nil {
		t.Fatal(err)
	}
	for _, s := range config.Settings() {
		v, ok := values.Settings[s.Name]
		switch {
		case !chartSetting(s) && ok:
			t.Errorf("values.yaml: settings.%s must not be there: the chart sets it", s.Name)
		case chartSetting(s) && v != s.Default:
			t.Errorf("values.yaml: settings.%s is %#v, want the default %q", s.Name, v, s.Default)
		}
		delete(values.Settings, s.Name)
	}
	for name := range values.Settings {
		t.Errorf("values.yaml: settings.%s is not a setting", name)
	}
}

// helmTemplate renders the chart as `helm template mimc-bridge` does, with
// Helm's own library, after `helm lint` (warnings fail too). valuesFile ""
// means the defaults. It returns the objects and NOTES.txt.
func helmTemplate(t *testing.T, valuesFile string) ([]byte, string) {
	t.Helper()
	vals := map[string]any{}
	if valuesFile != "" {
		v, err := chartutil.ReadValuesFile(valuesFile)
		if err != nil {
			t.Fatal(err)
		}
		vals = v
	}
	for _, m := range lint.All(chartDir, vals, "mimc-bridge", false).Messages {
		if m.Severity >= support.WarningSev {
			t.Errorf("helm lint: %s", m)
		}
	}
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	opts := chartutil.ReleaseOptions{Name: "mimc-bridge", Namespace: "mimc-bridge", Revision: 1, IsInstall: true}
	rv, err := chartutil.ToRenderValues(ch, vals, opts, chartutil.DefaultCapabilities)
	if err != nil {
		t.Fatal(err)
	}
	files, err := engine.Render(ch, rv)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	var notes string
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if path.Base(name) == "NOTES.txt" {
			notes = files[name]
		}
		if path.Ext(name) != ".yaml" || strings.TrimSpace(files[name]) == "" {
			continue // NOTES.txt, helpers
		}
		fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", name, files[name])
	}
	return out.Bytes(), notes
}

// selects checks that a selector picks the bridge's pods.
func selects(t *testing.T, what string, sel map[string]string, dep *appsv1.Deployment) {
	t.Helper()
	if len(sel) == 0 || !labels.SelectorFromSet(sel).Matches(labels.Set(dep.Spec.Template.Labels)) {
		t.Errorf("%s selects %v, not the pods (%v)", what, sel, dep.Spec.Template.Labels)
	}
}

func TestHelmChartWithDefaultValues(t *testing.T) {
	out, notes := helmTemplate(t, "")
	objs := decodeStrict(t, "helm template (defaults)", out)
	for _, want := range []string{"settings.KAFKA_BROKERS, settings.MIMC_APP_ID, settings.MIMC_APP_KEY", "create secret generic mimc-bridge"} {
		if !strings.Contains(notes, want) {
			t.Errorf("NOTES.txt with the defaults does not say %q:\n%s", want, notes)
		}
	}
	_, dep := checkBridge(t, objs)
	if r := dep.Spec.Replicas; r == nil || *r != 3 {
		t.Errorf("replicas %v, want 3", r)
	}
	pod, _ := bridgeContainer(t, dep)
	for _, v := range pod.Volumes {
		if v.Secret != nil && v.Secret.SecretName != "mimc-bridge" {
			t.Errorf("the secret volume mounts %s, want the existing Secret mimc-bridge", v.Secret.SecretName)
		}
	}
	if n := len(all[*corev1.Secret](objs)); n != 0 {
		t.Errorf("the defaults render %d Secrets: the app secret is the operator's", n)
	}
	svc := only[*corev1.Service](t, objs)
	selects(t, "the Service", svc.Spec.Selector, dep)
	pdb := only[*policyv1.PodDisruptionBudget](t, objs)
	selects(t, "the PodDisruptionBudget", pdb.Spec.Selector.MatchLabels, dep)
	if len(all[*scaledObject](objs))+len(all[*monitoringv1.ServiceMonitor](objs)) != 0 || len(objs) != 4 {
		t.Errorf("the defaults render %d objects, want a ConfigMap, a Deployment, a Service and a PodDisruptionBudget: %v",
			len(objs), slices.Sorted(maps.Keys(objs)))
	}
}

func TestHelmChartWithEveryOption(t *testing.T) {
	out, notes := helmTemplate(t, allOnFile)
	objs := decodeStrict(t, "helm template -f ci/all-on-values.yaml", out)
	if strings.Contains(notes, "WARNING") {
		t.Errorf("NOTES.txt warns with every setting given:\n%s", notes)
	}
	cfg, dep := checkBridge(t, objs)
	if dep.Spec.Replicas != nil {
		t.Errorf("replicas %d with KEDA: KEDA owns them", *dep.Spec.Replicas)
	}
	checkKEDA(t, objs, cfg, dep)
	if cfg.MaxPendingEvents != 1000000 || cfg.RateP2P != 300 {
		t.Errorf("numbers in values reach the bridge changed: MAX_PENDING_EVENTS %d, RATE_P2P %g", cfg.MaxPendingEvents, cfg.RateP2P)
	}

	// The chart's Secret, from the operator's files.
	s, ok := objs["Secret/mimc-bridge"].(*corev1.Secret)
	if !ok {
		t.Fatal("no Secret mimc-bridge from secret.appSecret")
	}
	if got := string(s.Data["mimc-app-secret"]); got != "app-secret-from-a-file\n" {
		t.Errorf("mimc-app-secret %q", got)
	}
	if got := string(s.Data["kafka-sasl-password"]); got != "sasl-password-from-a-file" {
		t.Errorf("kafka-sasl-password %q: an environment variable keeps a trailing newline", got)
	}

	pod, c := bridgeContainer(t, dep)
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	if env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "" {
		t.Error("values env did not reach the container")
	}
	if want := strconv.Itoa(1 << 30 * 85 / 100); env["GOMEMLIMIT"] != want {
		t.Errorf("GOMEMLIMIT %s, want 85%% of 1Gi = %s", env["GOMEMLIMIT"], want)
	}
	caMounted := false
	for _, m := range c.VolumeMounts {
		caMounted = caMounted || strings.HasPrefix(cfg.KafkaTLSCAFile, m.MountPath+"/")
	}
	if !caMounted {
		t.Errorf("KAFKA_TLS_CA_FILE %s is in no mounted volume", cfg.KafkaTLSCAFile)
	}
	if *pod.TerminationGracePeriodSeconds != 60 {
		t.Errorf("terminationGracePeriodSeconds %d, want the values' 60", *pod.TerminationGracePeriodSeconds)
	}

	svc := only[*corev1.Service](t, objs)
	sm := only[*monitoringv1.ServiceMonitor](t, objs)
	if !labels.SelectorFromSet(sm.Spec.Selector.MatchLabels).Matches(labels.Set(svc.Labels)) {
		t.Errorf("the ServiceMonitor selects %v, not the Service (%v)", sm.Spec.Selector.MatchLabels, svc.Labels)
	}
	if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "http" || sm.Spec.Endpoints[0].Path != "/metrics" {
		t.Errorf("ServiceMonitor endpoints %+v, want port http path /metrics", sm.Spec.Endpoints)
	}
	if sm.Labels["release"] != "prometheus" {
		t.Errorf("ServiceMonitor labels %v lack serviceMonitor.labels", sm.Labels)
	}

	// The dashboard: the repository's, with its data source input resolved.
	cm, ok := objs["ConfigMap/mimc-bridge-dashboard"].(*corev1.ConfigMap)
	if !ok {
		t.Fatal("no dashboard ConfigMap")
	}
	if cm.Labels["grafana_dashboard"] != "1" || cm.Annotations["grafana_folder"] != "Kafka" {
		t.Errorf("dashboard labels %v, annotations %v", cm.Labels, cm.Annotations)
	}
	dash := cm.Data["mimc-bridge.json"]
	if !json.Valid([]byte(dash)) || strings.Contains(dash, "${DS_PROMETHEUS}") || !strings.Contains(dash, `"uid": "prometheus"`) {
		t.Errorf("the dashboard is not JSON with the data source prometheus: %.200s", dash)
	}
	if len(objs) != 10 {
		t.Errorf("every option renders %d objects, want 10: %v", len(objs), slices.Sorted(maps.Keys(objs)))
	}
}

func TestHelmChartDashboardIsTheRepositorysDashboard(t *testing.T) {
	chart, err := os.ReadFile(chartDir + "/dashboards/mimc-bridge.json")
	if err != nil {
		t.Fatal(err)
	}
	repo, err := os.ReadFile("grafana/mimc-bridge.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(chart, repo) {
		t.Errorf("%s/dashboards/mimc-bridge.json differs from grafana/mimc-bridge.json: cp deploy/grafana/mimc-bridge.json deploy/%s/dashboards/", chartDir, chartDir)
	}
}

func TestCIRunPinsTheHelmThatGoModRequires(t *testing.T) {
	mod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*helm\.sh/helm/v3 (v\S+)`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("go.mod does not require helm.sh/helm/v3")
	}
	run, err := os.ReadFile("../.ci/run")
	if err != nil {
		t.Fatal(err)
	}
	if want := "helm.sh/helm/v3/cmd/helm@" + string(m[1]); !strings.Contains(string(run), want) {
		t.Errorf(".ci/run does not run %s, the Helm of go.mod", want)
	}
}

package deploy

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mimc-bridge/mimc-bridge/metrics"
)

// exported returns the name of every metric the bridge registers.
func exported(t *testing.T) map[string]bool {
	t.Helper()
	descs := make(chan *prometheus.Desc)
	go func() {
		metrics.New().Registry.Describe(descs)
		close(descs)
	}()
	fq := regexp.MustCompile(`fqName: "([^"]+)"`)
	names := map[string]bool{}
	for d := range descs {
		if m := fq.FindStringSubmatch(d.String()); m != nil {
			names[m[1]] = true
		}
	}
	if !names["mimc_bridge_outcomes_total"] {
		t.Fatalf("the metrics registry describes no mimc_bridge_outcomes_total: %d names", len(names))
	}
	return names
}

// A metric name in PromQL: the bridge's, and the process and Go runtime
// collectors' it registers too.
var metricName = regexp.MustCompile(`\b((?:mimc_bridge|process|go)_[a-zA-Z0-9_]+)\b`)

func TestTheDashboardQueriesOnlyMetricsTheBridgeExports(t *testing.T) {
	b, err := os.ReadFile("grafana/mimc-bridge.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Type    string `json:"type"`
			GridPos struct {
				H, W, X, Y int
			} `json:"gridPos"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	if dash.Title == "" || dash.UID == "" {
		t.Error("the dashboard has no title or uid")
	}
	names := exported(t)
	queried := map[string]bool{}
	expired := false
	for i, p := range dash.Panels {
		a := p.GridPos
		for _, q := range dash.Panels[:i] {
			b := q.GridPos
			if a.X < b.X+b.W && b.X < a.X+a.W && a.Y < b.Y+b.H && b.Y < a.Y+a.H {
				t.Errorf("panel %q overlaps panel %q", p.Title, q.Title)
			}
		}
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q queries nothing", p.Title)
		}
		for _, tg := range p.Targets {
			expired = expired || strings.Contains(tg.Expr, `status="expired"`)
			found := metricName.FindAllString(tg.Expr, -1)
			if len(found) == 0 {
				t.Errorf("panel %q: no metric in %q", p.Title, tg.Expr)
			}
			for _, n := range found {
				queried[n] = true
				base := n
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					if s, ok := strings.CutSuffix(n, suffix); ok && names[s] {
						base = s
					}
				}
				if !names[base] {
					t.Errorf("panel %q queries %s, which the bridge does not export", p.Title, n)
				}
			}
		}
	}
	// What the dashboard is for: the quota, 429s, the concurrency limit,
	// lag, outcomes, pending events and stall; the urgent lane against the
	// others, and what expired.
	for _, want := range []string{"mimc_bridge_quota_share", "mimc_bridge_quota_group_rate", "mimc_bridge_mimc_recipients_total",
		"mimc_bridge_quota_refusals_total", "mimc_bridge_mimc_concurrency_limit", "mimc_bridge_partition_lag",
		"mimc_bridge_outcomes_total", "mimc_bridge_pending_events", "mimc_bridge_stalled",
		"mimc_bridge_priority_outcomes_total", "mimc_bridge_send_wait_seconds_bucket"} {
		if !queried[want] {
			t.Errorf("no panel shows %s", want)
		}
	}
	if !expired {
		t.Error(`no panel shows the expired outcomes (status="expired")`)
	}
	if t.Failed() {
		all := make([]string, 0, len(names))
		for n := range names {
			all = append(all, n)
		}
		slices.Sort(all)
		t.Logf("exported: %s", strings.Join(all, " "))
	}
}

// The quota's series exist only with RATE_P2P or RATE_P2T: a panel that
// shows only them says it is empty without a quota, so an empty panel does
// not read as a broken dashboard.
func TestQuotaPanelsSayTheyAreEmptyWithoutAQuota(t *testing.T) {
	b, err := os.ReadFile("grafana/mimc-bridge.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title, Description string
			Targets            []struct{ Expr string } `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range dash.Panels {
		onlyQuota := len(p.Targets) > 0
		for _, q := range p.Targets {
			onlyQuota = onlyQuota && strings.Contains(q.Expr, "quota")
		}
		if !onlyQuota {
			continue
		}
		n++
		if !strings.Contains(p.Description, "Empty without a quota") {
			t.Errorf("panel %q shows only quota series and does not say it is empty without a quota: %q", p.Title, p.Description)
		}
	}
	if n == 0 {
		t.Error("no panel shows quota series")
	}
}

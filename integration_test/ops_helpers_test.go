package integration_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// opsAddr returns the address the bridge serves /metrics, /healthz and
// /readyz on, read from its start-up log line (HTTP_ADDR 127.0.0.1:0
// binds a free port).
func opsAddr(t *testing.T, b *bridgeProc) string {
	t.Helper()
	var addr string
	waitFor(t, 20*time.Second, "the ops server's address in the log", func() bool {
		for line := range strings.Lines(b.logs.String()) {
			if !strings.Contains(line, "serving /metrics") {
				continue
			}
			var rec struct{ Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Addr != "" {
				addr = rec.Addr
				return true
			}
		}
		return false
	})
	return addr
}

// get fetches an ops endpoint and returns its status and body.
func get(t *testing.T, addr, path string) (int, string) {
	t.Helper()
	cl := &http.Client{Timeout: 5 * time.Second}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, string(b)
}

// metric returns the value of an unlabelled metric in a Prometheus text
// exposition, and whether it is there.
func metric(body, name string) (float64, bool) {
	for line := range strings.Lines(body) {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f, err == nil
		}
	}
	return 0, false
}

// scrapeNoSecret reads /metrics, /healthz and /readyz and checks the canary
// secret is in none of them (metric names, labels or values).
func scrapeNoSecret(t *testing.T, b *bridgeProc) string {
	t.Helper()
	addr := opsAddr(t, b)
	var metrics string
	for _, p := range []string{"/metrics", "/healthz", "/readyz"} {
		_, body := get(t, addr, p)
		if strings.Contains(body, appSecret) {
			t.Errorf("%s carries the secret", p)
		}
		if p == "/metrics" {
			metrics = body
		}
	}
	if !strings.Contains(metrics, "mimc_bridge_") {
		t.Errorf("/metrics has no mimc_bridge_ metric:\n%.500s", metrics)
	}
	return metrics
}

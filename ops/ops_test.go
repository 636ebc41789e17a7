package ops

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/mimc-bridge/mimc-bridge/metrics"
)

func TestTheEndpointsAnswerOverHTTP(t *testing.T) {
	var notReady atomic.Bool
	met := metrics.New()
	met.PendingEvents.WithLabelValues("normal").Set(7)
	srv, err := Listen(t.Context(), "127.0.0.1:0", met.Registry, func(time.Time) error {
		if notReady.Load() {
			return errors.New("not a member of the consumer group yet")
		}
		return nil
	}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	get := func(path string) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+srv.Addr()+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	tests := []struct {
		name     string
		notReady bool
		path     string
		code     int
		body     string
	}{
		{"healthz answers 200 while the process runs", false, "/healthz", 200, "ok"},
		{"readyz answers 200 when ready", false, "/readyz", 200, "ready"},
		{"readyz answers 503 with the reason when not", true, "/readyz", 503, "not a member of the consumer group yet"},
		{"metrics serves the bridge's collectors", false, "/metrics", 200, `mimc_bridge_pending_events{priority="normal"} 7`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			notReady.Store(tt.notReady)
			code, body := get(tt.path)
			if code != tt.code || !strings.Contains(body, tt.body) {
				t.Errorf("GET %s = %d %q, want %d with %q", tt.path, code, firstLine(body), tt.code, tt.body)
			}
		})
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

package bridge

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mimc-bridge/mimc-bridge/metrics"
)

func TestReadiness(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	long := now.Add(-time.Minute).UnixNano()
	recent := now.Add(-time.Second).UnixNano()
	tests := []struct {
		name  string
		setup func(h *Health)
		want  []string // reasons; none means ready
	}{
		{"a member with nothing failing is ready", func(h *Health) { h.setJoined(true) }, nil},
		{"a process that has not joined the group is not ready", func(*Health) {}, []string{"not a member"}},
		{"outcome writes failing for a moment do not change readiness", func(h *Health) {
			h.setJoined(true)
			h.writerFailedAt.Store(recent)
		}, nil},
		{"outcome writes failing for longer than the grace make it not ready", func(h *Health) {
			h.setJoined(true)
			h.writerFailedAt.Store(long)
		}, []string{"writing outcomes has failed"}},
		{"a MIMC that has answered nothing for long makes it not ready", func(h *Health) {
			h.setJoined(true)
			h.mimcFailedAt.Store(long)
		}, []string{"MIMC has not answered"}},
		{"a stall makes it not ready", func(h *Health) {
			h.setJoined(true)
			h.stalled.Store(true)
		}, []string{"work has stalled"}},
		{"every reason is reported", func(h *Health) {
			h.writerFailedAt.Store(long)
			h.stalled.Store(true)
		}, []string{"not a member", "writing outcomes", "work has stalled"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHealth()
			tt.setup(h)
			err := h.Ready(now)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Ready() = %v, want ready", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Ready() = nil, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Ready() = %q, does not say %q", err, w)
				}
			}
		})
	}
}

func TestTheObserverTracksWhetherMIMCAnswers(t *testing.T) {
	h := NewHealth()
	o := observer{met: metrics.New(), health: h}
	o.Attempt("/api/push/p2p/", 0, 0, 1, errors.New("connection refused"), time.Millisecond)
	first := h.mimcFailedAt.Load()
	if first == 0 {
		t.Fatal("a transport error did not mark MIMC as failing")
	}
	o.Attempt("/api/push/p2p/", 0, 0, 1, errors.New("timeout"), time.Millisecond)
	if h.mimcFailedAt.Load() != first {
		t.Error("a second transport error moved the time MIMC started failing")
	}
	o.Attempt("/api/push/p2p/", 500, 0, 1, errors.New("http 500"), time.Millisecond)
	if h.mimcFailedAt.Load() != 0 {
		t.Error("an HTTP answer, even a 500, did not mark MIMC as answering")
	}
}

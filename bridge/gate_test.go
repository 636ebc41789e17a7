package bridge

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/mimc-bridge/mimc-bridge/inflight"
	"github.com/mimc-bridge/mimc-bridge/message"
	"github.com/mimc-bridge/mimc-bridge/mimc"
	"github.com/mimc-bridge/mimc-bridge/quota"
)

func TestWhatAnAnswerSaysAboutMIMCsLoad(t *testing.T) {
	tests := []struct {
		scenario string
		e        *mimc.Error
		want     inflight.Answer
	}{
		{"a success is served", nil, inflight.Served},
		{"a final refusal took the time MIMC needed", &mimc.Error{HTTPStatus: 200, Code: 403}, inflight.Served},
		{"an envelope 429 is an overload", &mimc.Error{HTTPStatus: 200, Code: 429}, inflight.Overloaded},
		{"an HTTP 429 is an overload", &mimc.Error{HTTPStatus: 429}, inflight.Overloaded},
		{"an HTTP 503 is an overload", &mimc.Error{HTTPStatus: 503}, inflight.Overloaded},
		{"an envelope 500 is an overload", &mimc.Error{HTTPStatus: 200, Code: 500}, inflight.Overloaded},
		{"no answer (a timeout) is an overload", &mimc.Error{Retryable: true}, inflight.Overloaded},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			if got := loadOf(tt.e); got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestTheGateTeachesTheQuotaA429(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q, err := quota.New(quota.Config{RateP2T: 100, MaxRecipients: 10}, nil)
		if err != nil {
			t.Fatal(err)
		}
		calls, err := inflight.New(inflight.Config{Max: 4}, nil)
		if err != nil {
			t.Fatal(err)
		}
		g := gate{quota: q, inflight: calls}
		ctx := withPolicy(t.Context(), &callPolicy{prio: urgent})
		adm, err := g.Admit(ctx, message.P2T, 10)
		if err != nil {
			t.Fatal(err)
		}
		if calls.Inflight() != 1 {
			t.Fatalf("%d calls in flight after an admission, want 1", calls.Inflight())
		}
		start := time.Now()
		adm.Done(&mimc.Error{HTTPStatus: 429, Code: 429, RetryAfter: 3 * time.Second})
		if r := q.Rate(message.P2T); r != 50 {
			t.Errorf("rate %v after a 429, want half of 100", r)
		}
		adm, err = g.Admit(ctx, message.P2T, 1)
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < 3*time.Second {
			t.Errorf("the next attempt went after %s, within the Retry-After of 3s", d)
		}
		adm.Cancel()
		synctest.Wait()
		if calls.Inflight() != 0 {
			t.Errorf("%d calls in flight once every admission ended", calls.Inflight())
		}
	})
}

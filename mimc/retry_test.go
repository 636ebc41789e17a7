package mimc

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mimc-bridge/mimc-bridge/mimc/mimctest"
	"github.com/mimc-bridge/mimc-bridge/secret"
)

func TestRetryPolicyRefusesSuccess(t *testing.T) {
	tests := []struct {
		scenario string
		policy   RetryPolicy
		errHas   string // "" when valid
	}{
		{"the defaults are valid", RetryPolicy{}, ""},
		{"retrying HTTP 200 is refused", RetryPolicy{HTTPStatuses: MustParseCodeSet("200")}, `retry http statuses: "200" holds a success status`},
		{"a range reaching into 2xx is refused", RetryPolicy{HTTPStatuses: MustParseCodeSet("429,100-")}, `"100-" holds a success status`},
		{"a range ending in 2xx is refused", RetryPolicy{HTTPStatuses: MustParseCodeSet("150-204")}, `"150-204" holds a success status`},
		{"a status past 599 is refused", RetryPolicy{HTTPStatuses: MustParseCodeSet("429,500-700")}, `"500-700" is outside`},
		{"an open range of 5xx is valid", RetryPolicy{HTTPStatuses: MustParseCodeSet("429,500-")}, ""},
		{"1xx and 3xx may be retried", RetryPolicy{HTTPStatuses: MustParseCodeSet("100-199,300-399")}, ""},
		{"retrying envelope code 200 is refused", RetryPolicy{Codes: MustParseCodeSet("429,200")}, `retry codes: "200" holds 200`},
		{"an open code range over 200 is refused", RetryPolicy{Codes: MustParseCodeSet("0-")}, `"0-" holds 200`},
		{"codes around 200 are valid", RetryPolicy{Codes: MustParseCodeSet("0-199,201-")}, ""},
		{"a max interval below the initial one is refused", RetryPolicy{InitialInterval: time.Second, MaxInterval: time.Millisecond}, "retry max interval"},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			cfg := Config{Credentials: Credentials{AppID: "1", AppKey: "k", AppSecret: secret.New(canary)}, Retry: tt.policy}
			_, err := New(cfg, nil)
			if tt.errHas == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.errHas) {
				t.Fatalf("New: err = %v, want one saying %s", err, tt.errHas)
			}
		})
	}
}

func TestRetryAfterComesWithTheError(t *testing.T) {
	policy := RetryPolicy{InitialInterval: time.Second, MaxInterval: time.Second, MaxElapsed: 10 * time.Second}
	policy.setDefaults()
	retryable := func(ra time.Duration) *Error { return &Error{HTTPStatus: 429, Retryable: true, RetryAfter: ra} }
	t.Run("a Retry-After longer than the backoff is the wait", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r := policy.start(time.Time{})
			if d, ok := r.next(retryable(5 * time.Second)); !ok || d != 5*time.Second {
				t.Fatalf("next = %v, %v; want 5s", d, ok)
			}
			// Used once: the next wait is the backoff's again.
			if d, ok := r.next(retryable(0)); !ok || d > 1500*time.Millisecond {
				t.Fatalf("next = %v, %v; want the backoff of at most 1.5s", d, ok)
			}
		})
	})
	t.Run("a Retry-After shorter than the backoff changes nothing", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r := policy.start(time.Time{})
			if d, ok := r.next(retryable(time.Millisecond)); !ok || d < 500*time.Millisecond {
				t.Fatalf("next = %v, %v; want the backoff of at least 0.5s", d, ok)
			}
		})
	})
	t.Run("a Retry-After past the budget waits only what is left of it", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r := policy.start(time.Time{})
			time.Sleep(4 * time.Second)
			if d, ok := r.next(retryable(time.Hour)); !ok || d != 6*time.Second {
				t.Fatalf("next = %v, %v; want the 6s left", d, ok)
			}
		})
	})
	t.Run("a final error is not retried", func(t *testing.T) {
		r := policy.start(time.Time{})
		if _, ok := r.next(&Error{Code: 403}); ok {
			t.Fatal("a final error was retried")
		}
	})
	t.Run("no attempt starts past the context's deadline", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r := policy.start(time.Now().Add(time.Second))
			if d, ok := r.next(retryable(2 * time.Second)); ok {
				t.Fatalf("next = %v past a deadline in 1s", d)
			}
		})
	})
}

func TestRetryPolicyTransport(t *testing.T) {
	var p RetryPolicy
	p.setDefaults()
	cert := fmt.Errorf("post: %w", x509.UnknownAuthorityError{})
	if p.Transport(cert) {
		t.Error("a TLS certificate error is retried by default")
	}
	if !p.Transport(errors.New("connection reset by peer")) {
		t.Error("a network error is not retried by default")
	}

	srv, c, _ := newFake(t, func(c *Config) { c.Retry.Transport = func(error) bool { return false } })
	srv.Script(mimctest.FaultDrop, mimctest.FaultOK)
	_, err := c.Push(ctxT(t), p2p("alice"))
	if e := asError(t, err); e.Retryable || e.Attempts != 1 {
		t.Errorf("got %+v, want the dropped connection final after 1 attempt", e)
	}
}

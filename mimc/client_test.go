package mimc

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mimc-bridge/mimc-bridge/message"
	"github.com/mimc-bridge/mimc-bridge/mimc/mimctest"
	"github.com/mimc-bridge/mimc-bridge/secret"
)

func TestPushEndpoints(t *testing.T) {
	big := int64(1)<<53 + 1 // not representable as a float64
	tests := []struct {
		scenario string
		call     Call
		endpoint string
		want     []string // Delivered values, in recipient order
	}{
		{"one account goes to p2p/ as toAccount", p2p("alice"), EndpointP2P, []string{"p2p:alice"}},
		{"many accounts go to p2p/more as toAccounts", p2p("alice", "bob", "carol"), EndpointP2PMore,
			[]string{"p2p:alice", "p2p:bob", "p2p:carol"}},
		{"one topic goes to p2t/ as a topicId number", p2t(big), EndpointP2T, []string{"p2t:" + strconv.FormatInt(big, 10)}},
		{"many topics beyond 2^53 go to p2t/more with every digit", p2t(big, math.MaxInt64, 7), EndpointP2TMore,
			[]string{"p2t:" + strconv.FormatInt(big, 10), "p2t:" + strconv.FormatInt(math.MaxInt64, 10), "p2t:7"}},
		{"bizType, isStore and a base64 message are carried", Call{Content: message.Content{Kind: message.P2P, FromAccount: "shop", Msg: "aGk=",
			MsgType: "base64", BizType: "ORDER", IsStore: message.StoreTrue}, Recipients: accounts("alice", "bob")}, EndpointP2PMore,
			[]string{"p2p:alice", "p2p:bob"}},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			srv, c, _ := newFake(t, nil)
			res, err := c.Push(ctxT(t), tt.call)
			if err != nil {
				t.Fatalf("Push: %v", err)
			}
			if res.Endpoint != tt.endpoint || res.Attempts != 1 || len(res.PacketIDs) != len(tt.want) {
				t.Fatalf("result %+v, want endpoint %s, 1 attempt, %d ids", res, tt.endpoint, len(tt.want))
			}
			delivered := srv.Delivered()
			for i, id := range res.PacketIDs {
				if delivered[id] != tt.want[i] {
					t.Errorf("packetId %d %q went to %q, want %q", i, id, delivered[id], tt.want[i])
				}
			}
			calls := srv.Calls()
			if len(calls) != 1 {
				t.Fatalf("server saw %d calls, want 1", len(calls))
			}
			got := calls[0]
			if got.Endpoint != tt.endpoint || got.FromAccount != tt.call.FromAccount || got.Msg != tt.call.Msg ||
				got.MsgType != tt.call.MsgType || got.BizType != tt.call.BizType ||
				(got.IsStore == nil) != (tt.call.IsStore == message.StoreUnset) {
				t.Errorf("server recorded %+v for %+v", got, tt.call)
			}
		})
	}
}

// always500 makes every call of srv an HTTP 500.
var always500 = mimctest.Faults{HTTP500: 1}

func TestPushRetries(t *testing.T) {
	tests := []struct {
		scenario string
		mod      func(*Config)
		setup    func(*mimctest.Server)
		call     Call
		attempts int // of a success; 0 when an error is expected
		check    func(t *testing.T, e *Error, elapsed time.Duration)
	}{
		{scenario: "a 5xx is retried until it succeeds",
			setup:    func(s *mimctest.Server) { s.Script("http500", "http500", "ok") },
			attempts: 3},
		{scenario: "an envelope 5xx is retried until it succeeds",
			setup:    func(s *mimctest.Server) { s.Script("envelope500", "ok") },
			attempts: 2},
		{scenario: "a dropped connection is retried",
			setup:    func(s *mimctest.Server) { s.Script("drop", "drop", "ok") },
			attempts: 3},
		{scenario: "a hang times out and is retried",
			mod:      func(c *Config) { c.HTTPTimeout = 100 * time.Millisecond },
			setup:    func(s *mimctest.Server) { s.Script("hang", "ok") },
			attempts: 2},
		{scenario: "a 429 without Retry-After is retried",
			setup:    func(s *mimctest.Server) { s.Script("http429", "ok") },
			attempts: 2},
		{scenario: "wrong credentials are final after one attempt",
			mod: func(c *Config) { c.Credentials.AppSecret = secret.New("wrong-" + canary) },
			check: func(t *testing.T, e *Error, _ time.Duration) {
				if e.Code != 401 || e.HTTPStatus != 200 || e.Attempts != 1 || e.Retryable || !errors.Is(e, ErrRejected) {
					t.Errorf("got %+v, want final code 401 after 1 attempt", e)
				}
			}},
		{scenario: "a final code for the sender is not retried",
			setup: func(s *mimctest.Server) { s.SetFaults(mimctest.Faults{FinalCodeFor: map[string]int{"shop": 403}}) },
			check: func(t *testing.T, e *Error, _ time.Duration) {
				if e.Code != 403 || e.Attempts != 1 || e.Retryable || e.Message != "forbidden" {
					t.Errorf("got %+v, want final code 403 after 1 attempt", e)
				}
			}},
		{scenario: "a field the server refuses is final",
			call: Call{Content: message.Content{Kind: message.P2P, FromAccount: "shop", Msg: "hi", MsgType: "hex"}, Recipients: accounts("alice")},
			check: func(t *testing.T, e *Error, _ time.Duration) {
				if e.Code != 400 || e.Attempts != 1 || e.Retryable {
					t.Errorf("got %+v, want final code 400 after 1 attempt", e)
				}
			}},
		{scenario: "retries stop at Retry.MaxElapsed",
			mod:   func(c *Config) { c.Retry.MaxElapsed = 200 * time.Millisecond },
			setup: func(s *mimctest.Server) { s.SetFaults(always500) },
			check: func(t *testing.T, e *Error, elapsed time.Duration) {
				if e.HTTPStatus != 500 || !e.Retryable || e.Attempts < 3 || !errors.Is(e, ErrUnavailable) {
					t.Errorf("got %+v, want a retryable 500 after several attempts", e)
				}
				if elapsed > time.Second {
					t.Errorf("gave up after %s, want about 200ms", elapsed)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			srv, c, _ := newFake(t, tt.mod)
			if tt.setup != nil {
				tt.setup(srv)
			}
			call := tt.call
			if call.Kind == "" {
				call = p2p("alice", "bob")
			}
			start := time.Now()
			res, err := c.Push(ctxT(t), call)
			elapsed := time.Since(start)
			if tt.check == nil {
				if err != nil {
					t.Fatalf("Push: %v", err)
				}
				if res.Attempts != tt.attempts || len(res.PacketIDs) != call.Recipients.Len() {
					t.Fatalf("result %+v, want %d attempts", res, tt.attempts)
				}
				if n := len(srv.Calls()); n != tt.attempts {
					t.Errorf("server saw %d calls, want %d", n, tt.attempts)
				}
				return
			}
			e := asError(t, err)
			if res.Attempts != e.Attempts {
				t.Errorf("Result.Attempts %d, Error.Attempts %d", res.Attempts, e.Attempts)
			}
			if n := len(srv.Calls()); n != e.Attempts {
				t.Errorf("server saw %d calls, error says %d attempts", n, e.Attempts)
			}
			tt.check(t, e, elapsed)
		})
	}
}

func TestPushRetryAfterIsHonoured(t *testing.T) {
	srv, c, _ := newFake(t, nil)
	srv.SetFaults(mimctest.Faults{RetryAfter: time.Second})
	srv.Script("http429", "ok")
	start := time.Now()
	res, err := c.Push(ctxT(t), p2p("alice"))
	if err != nil {
		t.Fatalf("Push: %v", err)
	}
	if elapsed := time.Since(start); elapsed < 950*time.Millisecond {
		t.Errorf("retried after %s, want at least the Retry-After of 1s", elapsed)
	}
	if res.Attempts != 2 {
		t.Errorf("attempts %d, want 2", res.Attempts)
	}
}

func TestPushRetryAfterLongerThanTheBudget(t *testing.T) {
	srv, c, _ := newFake(t, func(c *Config) { c.Retry.MaxElapsed = 300 * time.Millisecond })
	srv.SetFaults(mimctest.Faults{HTTP429: 1, RetryAfter: time.Hour})
	start := time.Now()
	_, err := c.Push(ctxT(t), p2p("alice"))
	e := asError(t, err)
	if e.HTTPStatus != 429 || !e.Retryable {
		t.Errorf("got %+v, want a retryable 429", e)
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("waited %s, want the Retry-After capped by the 300ms budget", elapsed)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		scenario, header string
		want             time.Duration
		ok               bool
	}{
		{"seconds are read", "3", 3 * time.Second, true},
		{"an HTTP date is read", now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{"a date in the past is no wait", now.Add(-time.Minute).Format(http.TimeFormat), 0, true},
		{"a huge number is capped", "99999999999999", maxRetryAfter, true},
		{"a negative number is ignored", "-1", 0, false},
		{"garbage is ignored", "soon", 0, false},
		{"nothing is ignored", "", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			got, ok := parseRetryAfter(tt.header, now)
			if got != tt.want || ok != tt.ok {
				t.Errorf("parseRetryAfter(%q) = %s, %v; want %s, %v", tt.header, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestPushFinalHTTPStatuses(t *testing.T) {
	tests := []struct {
		scenario string
		status   int
		body     string
		code     int
	}{
		{"HTTP 501 is final", http.StatusNotImplemented, "not implemented", 0},
		{"HTTP 400 with an envelope keeps its code", http.StatusBadRequest, `{"code":400,"message":"bad field","data":null}`, 400},
		{"HTTP 404 is final", http.StatusNotFound, "<html>nope</html>", 0},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			c, _ := newTestClient(t, testConfig(answering(t, tt.status, nil, tt.body)))
			_, err := c.Push(ctxT(t), p2p("alice"))
			e := asError(t, err)
			if e.HTTPStatus != tt.status || e.Code != tt.code || e.Attempts != 1 || e.Retryable {
				t.Errorf("got %+v, want final http %d code %d after 1 attempt", e, tt.status, tt.code)
			}
		})
	}
}

func TestPushConnectionRefusedIsRetried(t *testing.T) {
	ln, err := new(net.ListenConfig).Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	cfg := testConfig("http://" + addr)
	cfg.Retry.MaxElapsed = 100 * time.Millisecond
	c, logs := newTestClient(t, cfg)
	_, err = c.Push(ctxT(t), p2p("alice"))
	e := asError(t, err)
	var op *net.OpError
	if !e.Retryable || e.Attempts < 2 || e.HTTPStatus != 0 || !errors.As(err, &op) {
		t.Errorf("got %+v, want a retryable net error after several attempts", e)
	}
	if n := logs.FilterMessage("mimc call failed, retrying").Len(); n != e.Attempts-1 {
		t.Errorf("%d retry log lines for %d attempts", n, e.Attempts)
	}
	entry := logs.All()[0]
	for _, key := range []string{"endpoint", "attempt", "http_status", "code"} {
		if _, ok := entry.ContextMap()[key]; !ok {
			t.Errorf("retry log line has no %q field: %v", key, entry.ContextMap())
		}
	}
}

func TestPushContext(t *testing.T) {
	t.Run("a cancelled context stops the retries", func(t *testing.T) {
		srv, c, _ := newFake(t, func(c *Config) { c.Retry.MaxElapsed = time.Minute })
		srv.SetFaults(always500)
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		_, err := c.Push(ctx, p2p("alice"))
		e := asError(t, err)
		if !errors.Is(err, context.Canceled) || e.Attempts < 1 {
			t.Errorf("got %v, want context.Canceled after at least one attempt", err)
		}
		if elapsed := time.Since(start); elapsed > 2*time.Second {
			t.Errorf("returned after %s", elapsed)
		}
	})
	t.Run("a context done before the call makes no attempt", func(t *testing.T) {
		srv, c, _ := newFake(t, nil)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := c.Push(ctx, p2p("alice"))
		e := asError(t, err)
		if !errors.Is(err, context.Canceled) || e.Attempts != 0 || len(srv.Calls()) != 0 {
			t.Errorf("got %+v, want context.Canceled and no attempt", e)
		}
	})
	t.Run("a hang is cut by the context", func(t *testing.T) {
		srv, c, _ := newFake(t, func(c *Config) { c.HTTPTimeout = time.Minute })
		srv.Script("hang")
		ctx, cancel := context.WithTimeout(t.Context(), 150*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := c.Push(ctx, p2p("alice"))
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("got %v, want context.DeadlineExceeded", err)
		}
		if elapsed := time.Since(start); elapsed > 2*time.Second {
			t.Errorf("returned after %s", elapsed)
		}
	})
	t.Run("a deadline shorter than the next wait stops at once", func(t *testing.T) {
		srv, c, _ := newFake(t, func(c *Config) {
			c.Retry.InitialInterval, c.Retry.MaxInterval = 10*time.Second, 10*time.Second
		})
		srv.SetFaults(always500)
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		start := time.Now()
		_, err := c.Push(ctx, p2p("alice"))
		e := asError(t, err)
		if e.HTTPStatus != 500 || e.Attempts != 1 {
			t.Errorf("got %+v, want the 500 of the only attempt", e)
		}
		if elapsed := time.Since(start); elapsed > time.Second {
			t.Errorf("returned after %s, want at once", elapsed)
		}
	})
}

func TestPushInvalidCalls(t *testing.T) {
	tests := []struct {
		scenario string
		call     Call
	}{
		{"a p2p call without recipients fails at once", p2p()},
		{"a p2t call without recipients fails at once", p2t()},
		{"a p2p call with topic ids fails at once", Call{Content: message.Content{Kind: message.P2P, FromAccount: "shop", Msg: "m"},
			Recipients: message.Recipients{TopicIDs: []int64{1}}}},
		{"a p2t call with accounts fails at once", Call{Content: message.Content{Kind: message.P2T, FromAccount: "shop", Msg: "m"},
			Recipients: accounts("a")}},
		{"a call of unknown kind fails at once", Call{Content: message.Content{Kind: "p2x", FromAccount: "shop", Msg: "m"},
			Recipients: accounts("a")}},
		{"a call without sender fails at once", Call{Content: message.Content{Kind: message.P2P, Msg: "m"}, Recipients: accounts("a")}},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			srv, c, _ := newFake(t, nil)
			_, err := c.Push(ctxT(t), tt.call)
			e := asError(t, err)
			if !errors.Is(err, ErrInvalidCall) || e.Attempts != 0 || len(srv.Calls()) != 0 {
				t.Errorf("got %+v, want ErrInvalidCall and no attempt", e)
			}
		})
	}
}

func TestPushMalformedAnswers(t *testing.T) {
	huge := `{"code":200,"message":"` + strings.Repeat("x", 4096) + `","data":{"packetIds":["a","b"]}}`
	tests := []struct {
		scenario string
		body     string
		want     error
		text     string
	}{
		{"an answer that is not JSON is a bad answer", "<html>ok</html>", ErrNotJSON, ""},
		{"an empty answer is a bad answer", "", ErrNotJSON, ""},
		{"data as a string is the wrong shape", `{"code":200,"message":"success","data":"p-1"}`, ErrAnswerShape, ""},
		{"packetIds of numbers are the wrong shape", `{"code":200,"data":{"packetIds":[1,2]}}`, ErrAnswerShape, ""},
		{"a success without data is the wrong shape", `{"code":200,"message":"success","data":null}`, ErrAnswerShape, ""},
		{"an envelope without code is the wrong shape", `{"message":"success","data":{"packetIds":["a","b"]}}`, ErrAnswerShape, ""},
		{"a huge body is too large", huge, ErrAnswerTooLarge, ""},
		{"fewer packetIds than recipients is a protocol error", `{"code":200,"data":{"packetIds":["a","b"]}}`, ErrProtocol,
			"3 recipients but 2 packetIds"},
		{"more packetIds than recipients is a protocol error", `{"code":200,"data":{"packetIds":["a","b","c","d"]}}`, ErrProtocol,
			"3 recipients but 4 packetIds"},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			cfg := testConfig(answering(t, http.StatusOK, nil, tt.body))
			cfg.MaxResponseBytes = 1024
			c, _ := newTestClient(t, cfg)
			_, err := c.Push(ctxT(t), p2p("alice", "bob", "carol"))
			e := asError(t, err)
			if !errors.Is(err, tt.want) || e.Attempts != 1 || e.Retryable {
				t.Errorf("got %v, want a final %v after 1 attempt", err, tt.want)
			}
			if !errors.Is(tt.want, ErrProtocol) && !errors.Is(err, ErrBadAnswer) {
				t.Errorf("%v is not an ErrBadAnswer", err)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %q does not say %q", err, tt.text)
			}
		})
	}
}

type countingObserver struct {
	mu       sync.Mutex
	attempts []string
	retries  int
}

func (o *countingObserver) Attempt(endpoint string, httpStatus, code, recipients int, err error, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.attempts = append(o.attempts, fmt.Sprintf("%s %d %d %d %v", endpoint, httpStatus, code, recipients, err != nil))
}

func (o *countingObserver) Retry(string) {
	o.mu.Lock()
	o.retries++
	o.mu.Unlock()
}

func TestObserverHearsEveryAttempt(t *testing.T) {
	obs := &countingObserver{}
	srv, c, _ := newFake(t, func(c *Config) { c.Observer = obs })
	srv.Script("http500", "envelope500", "ok")
	if _, err := c.Push(ctxT(t), p2p("alice", "bob")); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"/api/push/p2p/more 500 500 2 true",
		"/api/push/p2p/more 200 500 2 true",
		"/api/push/p2p/more 200 200 2 false",
	}
	if !slices.Equal(obs.attempts, want) || obs.retries != 2 {
		t.Errorf("attempts %q, retries %d; want %q, 2", obs.attempts, obs.retries, want)
	}
}

package mimctest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// serve posts a p2p/more (or p2t/more) call of n recipients to s in
// process, so that synctest's clock applies, and returns the answer.
func serve(t *testing.T, s *Server, kind string, n int) (status, code int, retryAfter string) {
	t.Helper()
	path, field, list := EndpointP2PMore, "toAccounts", make([]string, n)
	for i := range list {
		list[i] = `"a` + strings.Repeat("x", i%3) + string(rune('a'+i%26)) + `"`
	}
	if kind == "p2t" {
		path, field = EndpointP2TMore, "topicIds"
		for i := range list {
			list[i] = "1" + strings.Repeat("0", i%10)
		}
	}
	body := `{` + creds + `,"fromAccount":"shop","msg":"hi","` + field + `":[` + strings.Join(list, ",") + `]}`
	w := httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequestWithContext(t.Context(), http.MethodPost, path, strings.NewReader(body)))
	var e envelope
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
		t.Fatalf("answer %q: %v", w.Body.String(), err)
	}
	return w.Code, e.Code, w.Header().Get("Retry-After")
}

func TestQuota(t *testing.T) {
	t.Run("calls within the quota are accepted and counted, the first call past it is refused with code 429", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := New(testCfg)
			s.SetQuota(Quota{P2P: 100})
			for range 2 {
				if status, code, _ := serve(t, s, "p2p", 50); status != 200 || code != 200 {
					t.Fatalf("got %d/%d within the quota", status, code)
				}
			}
			status, code, ra := serve(t, s, "p2p", 10)
			if status != 200 || code != 429 || ra != "" {
				t.Fatalf("past the quota: http %d code %d Retry-After %q, want 200 429 none", status, code, ra)
			}
			st := s.QuotaStats().P2P
			if st.AcceptedCalls != 2 || st.AcceptedRecipients != 100 || st.RefusedCalls != 1 || st.RefusedRecipients != 10 {
				t.Fatalf("stats %+v", st)
			}
			calls := s.Calls()
			if calls[2].Fault != FaultQuota || calls[2].PacketIDs != nil {
				t.Fatalf("the refused call is recorded as %+v", calls[2])
			}
		})
	})
	t.Run("the bucket refills at the quota's rate", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := New(testCfg)
			s.SetQuota(Quota{P2T: 100})
			serve(t, s, "p2t", 100)
			time.Sleep(490 * time.Millisecond)
			if _, code, _ := serve(t, s, "p2t", 50); code != 429 {
				t.Fatalf("49 tokens took 50 recipients: code %d", code)
			}
			time.Sleep(10 * time.Millisecond)
			if _, code, _ := serve(t, s, "p2t", 50); code != 200 {
				t.Fatalf("50 tokens refused 50 recipients: code %d", code)
			}
		})
	})
	t.Run("the kinds have quotas of their own", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := New(testCfg)
			s.SetQuota(Quota{P2P: 10})
			serve(t, s, "p2p", 10)
			if _, code, _ := serve(t, s, "p2t", 10); code != 200 {
				t.Fatalf("p2t, with no quota, got code %d", code)
			}
			if _, code, _ := serve(t, s, "p2p", 1); code != 429 {
				t.Fatalf("p2p past its quota got code %d", code)
			}
		})
	})
	t.Run("HTTP mode answers HTTP 429 with the seconds until the call fits", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := New(testCfg)
			s.SetQuota(Quota{P2P: 10, Burst: 5 * time.Second, HTTP: true, RetryAfter: true})
			serve(t, s, "p2p", 50)
			status, code, ra := serve(t, s, "p2p", 25)
			if status != 429 || code != 429 || ra != "3" {
				t.Fatalf("got http %d code %d Retry-After %q, want 429 429 3", status, code, ra)
			}
		})
	})
	t.Run("a call larger than the bucket never fits", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := New(testCfg)
			s.SetQuota(Quota{P2P: 10})
			time.Sleep(time.Minute)
			if _, code, _ := serve(t, s, "p2p", 11); code != 429 {
				t.Fatalf("got code %d", code)
			}
		})
	})
	t.Run("use is accepted recipients over the quota times the span", func(t *testing.T) {
		k := KindStats{AcceptedRecipients: 900, AcceptedCalls: 99, RefusedCalls: 1}
		if u := k.Use(100, 10*time.Second); u != 0.9 {
			t.Fatalf("use %v", u)
		}
		if r := k.RefusedShare(); r != 0.01 {
			t.Fatalf("refused share %v", r)
		}
	})
}

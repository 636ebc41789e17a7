package mimctest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var testCfg = Config{AppID: "2882303761517669588", AppKey: "key", AppSecret: "s3cret", Seed: 7}

const creds = `"appId":"2882303761517669588","appKey":"key","appSecret":"s3cret"`

type envelope struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

func post(t *testing.T, url, path, body string) (int, envelope) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	var e envelope
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("answer %q is not an envelope: %v", b, err)
	}
	return resp.StatusCode, e
}

func TestValidation(t *testing.T) {
	tests := []struct {
		scenario, path, body string
		status, code         int
	}{
		{"one account is answered with a packetId", EndpointP2P,
			`{` + creds + `,"fromAccount":"shop","toAccount":"alice","msg":"hi","msgType":""}`, 200, 200},
		{"an app id as a number is accepted", EndpointP2P,
			`{"appId":2882303761517669588,"appKey":"key","appSecret":"s3cret","fromAccount":"shop","toAccount":"a","msg":"hi"}`, 200, 200},
		{"topic ids beyond 2^53 are accepted as numbers", EndpointP2TMore,
			`{` + creds + `,"fromAccount":"shop","topicIds":[9007199254740993,9223372036854775807],"msg":"hi"}`, 200, 200},
		{"a wrong secret is code 401", EndpointP2P,
			`{"appId":"2882303761517669588","appKey":"key","appSecret":"nope","fromAccount":"shop","toAccount":"a","msg":"hi"}`, 200, 401},
		{"a body that is not JSON is HTTP 400", EndpointP2P, `{oops`, 400, 400},
		{"a topic id as a string is code 400", EndpointP2T,
			`{` + creds + `,"fromAccount":"shop","topicId":"123","msg":"hi"}`, 200, 400},
		{"a topic id with a fraction is code 400", EndpointP2TMore,
			`{` + creds + `,"fromAccount":"shop","topicIds":[1.5],"msg":"hi"}`, 200, 400},
		{"an empty toAccounts is code 400", EndpointP2PMore,
			`{` + creds + `,"fromAccount":"shop","toAccounts":[],"msg":"hi"}`, 200, 400},
		{"toAccount on the /more endpoint is code 400", EndpointP2PMore,
			`{` + creds + `,"fromAccount":"shop","toAccount":"a","msg":"hi"}`, 200, 400},
		{"a message that is not base64 is code 400", EndpointP2P,
			`{` + creds + `,"fromAccount":"shop","toAccount":"a","msg":"!!","msgType":"base64"}`, 200, 400},
		{"an empty msg is code 400", EndpointP2P,
			`{` + creds + `,"fromAccount":"shop","toAccount":"a","msg":""}`, 200, 400},
		{"a missing fromAccount is code 400", EndpointP2P, `{` + creds + `,"toAccount":"a","msg":"x"}`, 200, 400},
		{"an unknown path is 404", "/api/push/p2x/", `{}`, 404, 404},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			s, url := NewTestServer(t, testCfg)
			status, e := post(t, url, tt.path, tt.body)
			if status != tt.status || e.Code != tt.code {
				t.Fatalf("got http %d code %d (%s), want %d %d", status, e.Code, e.Message, tt.status, tt.code)
			}
			calls := s.Calls()
			if len(calls) != 1 || calls[0].HTTPStatus != status || calls[0].Code != e.Code {
				t.Errorf("recorded %+v", calls)
			}
			if e.Code != 200 && string(e.Data) != "null" {
				t.Errorf("data %s, want null", e.Data)
			}
		})
	}
}

func TestGetIsRefused(t *testing.T) {
	_, url := NewTestServer(t, testCfg)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url+EndpointP2P, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET got %d, want 405", resp.StatusCode)
	}
}

func TestPacketIDsAreUniqueAndIncreasing(t *testing.T) {
	s, url := NewTestServer(t, testCfg)
	var all []string
	for range 3 {
		_, e := post(t, url, EndpointP2PMore, `{`+creds+`,"fromAccount":"shop","toAccounts":["a","b","c"],"msg":"hi"}`)
		var d struct{ PacketIDs []string }
		if err := json.Unmarshal(e.Data, &d); err != nil || len(d.PacketIDs) != 3 {
			t.Fatalf("data %s: %v", e.Data, err)
		}
		all = append(all, d.PacketIDs...)
	}
	prefix, _, _ := strings.Cut(all[0], "-")
	for i, id := range all {
		p, n, _ := strings.Cut(id, "-")
		if p != prefix || n != strconv.Itoa(i+1) {
			t.Errorf("packetId %d is %q, want %s-%d", i, id, prefix, i+1)
		}
	}
	delivered := s.Delivered()
	if len(delivered) != 9 || delivered[all[4]] != "p2p:b" {
		t.Errorf("delivered %v", delivered)
	}
	other, _ := NewTestServer(t, testCfg)
	if other.prefix == s.prefix {
		t.Errorf("two servers share the prefix %q", s.prefix)
	}
}

func TestFaults(t *testing.T) {
	body := `{` + creds + `,"fromAccount":"shop","toAccount":"a","msg":"hi"}`
	t.Run("a script applies one fault per call, in order", func(t *testing.T) {
		s, url := NewTestServer(t, testCfg)
		s.SetFaults(Faults{RetryAfter: 1500 * time.Millisecond})
		s.Script("http500", "http429", "envelope500", "ok")
		want := [][2]int{{500, 500}, {429, 429}, {200, 500}, {200, 200}}
		for i, w := range want {
			status, e := post(t, url, EndpointP2P, body)
			if status != w[0] || e.Code != w[1] {
				t.Errorf("call %d: http %d code %d, want %v", i, status, e.Code, w)
			}
		}
		calls := s.Calls()
		faults := []string{calls[0].Fault, calls[1].Fault, calls[2].Fault, calls[3].Fault}
		if strings.Join(faults, ",") != "http500,http429,envelope500," {
			t.Errorf("faults %q", faults)
		}
		if len(s.Delivered()) != 1 {
			t.Errorf("delivered %v, want only the last call", s.Delivered())
		}
	})
	t.Run("a 429 carries Retry-After in whole seconds", func(t *testing.T) {
		s, url := NewTestServer(t, testCfg)
		s.SetFaults(Faults{HTTP429: 1, RetryAfter: 1500 * time.Millisecond})
		resp, err := postJSON(t.Context(), url+EndpointP2P, body)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "2" {
			t.Errorf("got %d Retry-After %q, want 429 and 2", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	})
	t.Run("a drop closes the connection without an answer", func(t *testing.T) {
		s, url := NewTestServer(t, testCfg)
		s.Script("drop")
		resp, err := postJSON(t.Context(), url+EndpointP2P, body)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("got http %d, want a connection error", resp.StatusCode)
		}
		if c := s.Calls(); len(c) != 1 || c[0].Fault != "drop" || c[0].HTTPStatus != 0 {
			t.Errorf("recorded %+v", c)
		}
	})
	t.Run("a hang ends when the client goes away", func(t *testing.T) {
		s, url := NewTestServer(t, testCfg)
		s.Script("hang")
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+EndpointP2P, strings.NewReader(body))
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			t.Fatal("a hang was answered")
		}
		deadline := time.Now().Add(2 * time.Second)
		for {
			c := s.Calls()
			if len(c) == 1 && c[0].Fault == "hang" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the hang did not end: %+v", c)
			}
			time.Sleep(5 * time.Millisecond) // polling a recorded outcome, not timing
		}
	})
	t.Run("Close ends a hang at once", func(t *testing.T) {
		s := New(testCfg)
		url, err := s.Start("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s.Script("hang")
		done := make(chan struct{})
		go func() {
			defer close(done)
			if resp, err := postJSON(t.Context(), url+EndpointP2P, body); err == nil {
				resp.Body.Close()
			}
		}()
		for len(s.Calls()) == 0 {
			time.Sleep(time.Millisecond)
		}
		start := time.Now()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		<-done
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("Close took %s", d)
		}
	})
	t.Run("a final code for an account is answered", func(t *testing.T) {
		s, url := NewTestServer(t, testCfg)
		s.SetFaults(Faults{FinalCodeFor: map[string]int{"shop": 403}})
		if _, e := post(t, url, EndpointP2P, body); e.Code != 403 || e.Message != "forbidden" {
			t.Errorf("got %+v, want 403 forbidden", e)
		}
	})
	t.Run("the same seed draws the same faults", func(t *testing.T) {
		draws := func() string {
			s, url := NewTestServer(t, testCfg)
			s.SetFaults(Faults{HTTP500: 0.3, Envelope500: 0.3})
			var out []string
			for range 20 {
				_, e := post(t, url, EndpointP2P, body)
				out = append(out, strconv.Itoa(e.Code))
			}
			return strings.Join(out, ",")
		}
		a, b := draws(), draws()
		if a != b {
			t.Errorf("seed 7 drew %s then %s", a, b)
		}
		if !strings.Contains(a, "500") || !strings.Contains(a, "200") {
			t.Errorf("draws %s have no mix of faults", a)
		}
	})
	t.Run("Reset forgets calls but ids keep increasing", func(t *testing.T) {
		s, url := NewTestServer(t, testCfg)
		post(t, url, EndpointP2P, body)
		s.Reset()
		_, e := post(t, url, EndpointP2P, body)
		if len(s.Calls()) != 1 || !strings.Contains(string(e.Data), "-2\"") {
			t.Errorf("after Reset: %d calls, data %s", len(s.Calls()), e.Data)
		}
	})
}

// The demo serves this sandbox from the shipped binary, which must not link
// the testing package (its flags and its code).
func TestTheBinaryDoesNotLinkTesting(t *testing.T) {
	out, err := exec.CommandContext(t.Context(), "go", "list", "-deps", "github.com/mimc-bridge/mimc-bridge").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, "github.com/mimc-bridge/mimc-bridge/mimc/mimctest") {
		t.Fatalf("the binary does not link mimctest any more; this test checks nothing: %v", deps)
	}
	for _, pkg := range []string{"testing", "net/http/httptest"} {
		if slices.Contains(deps, pkg) {
			t.Errorf("the binary links %s", pkg)
		}
	}
}

// postJSON posts body as JSON; the test's context ends it with the test.
func postJSON(ctx context.Context, url, body string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	return http.DefaultClient.Do(req)
}

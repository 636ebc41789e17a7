package mimc

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/mimc-bridge/mimc-bridge/message"
	"github.com/mimc-bridge/mimc-bridge/secret"
)

func TestParseCodeSet(t *testing.T) {
	tests := []struct {
		scenario, in string
		in_, out     []int
		str          string
		errHas       string
	}{
		{scenario: "single codes and a closed range are read", in: "429,500,502-599",
			in_: []int{429, 500, 502, 550, 599}, out: []int{200, 501, 600, 428}, str: "429,500,502-599"},
		{scenario: "an open range has no upper end", in: "500-",
			in_: []int{500, 999, 1 << 30}, out: []int{499, 429}, str: "500-"},
		{scenario: "spaces around items are ignored", in: " 429 , 500 - 503 ",
			in_: []int{429, 501}, out: []int{504}, str: "429,500-503"},
		{scenario: "an empty string is the empty set", in: "", out: []int{0, 200, 500}, str: ""},
		{scenario: "a word names the bad item", in: "429,abc", errHas: `"abc"`},
		{scenario: "a reversed range names its bounds", in: "599-500", errHas: "upper bound 500 is below lower bound 599"},
		{scenario: "a missing lower bound is refused", in: "-500", errHas: `"-500" has no lower bound`},
		{scenario: "an empty item is refused", in: "429,,500", errHas: "empty item"},
		{scenario: "a bad upper bound names it", in: "500-5x", errHas: `"500-5x": "5x" is not a non-negative integer`},
		{scenario: "a sign is refused", in: "+500", errHas: `"+500" is not a non-negative integer`},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			set, err := ParseCodeSet(tt.in)
			if tt.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("ParseCodeSet(%q) error %v, want one saying %s", tt.in, err, tt.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range tt.in_ {
				if !set.Contains(c) {
					t.Errorf("%s does not contain %d", set, c)
				}
			}
			for _, c := range tt.out {
				if set.Contains(c) {
					t.Errorf("%s contains %d", set, c)
				}
			}
			if set.String() != tt.str {
				t.Errorf("String() = %q, want %q", set.String(), tt.str)
			}
		})
	}
}

func TestConfig(t *testing.T) {
	t.Run("a zero config with url and credentials gets every default", func(t *testing.T) {
		cfg := Config{Credentials: Credentials{AppID: "1", AppKey: "k", AppSecret: secret.New(canary)}}
		c, err := New(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := c.Config()
		if got.BaseURL != DefaultBaseURL || got.HTTPTimeout != DefaultHTTPTimeout || got.MaxConcurrentCalls != 256 ||
			got.Retry.HTTPStatuses.String() != DefaultRetryHTTPStatuses || got.Retry.Codes.String() != DefaultRetryCodes ||
			got.MaxResponseBytes != 1<<20 || got.Retry.MaxElapsed != DefaultRetryMaxElapsed {
			t.Errorf("defaults not filled: %+v", got)
		}
	})
	bad := []struct {
		scenario string
		mod      func(*Config)
		errHas   string
	}{
		{"a base url without scheme is refused", func(c *Config) { c.BaseURL = "mimc.example" }, "base url"},
		{"a missing secret is refused", func(c *Config) { c.Credentials.AppSecret = secret.String{} }, "app secret"},
		{"a missing app id is refused", func(c *Config) { c.Credentials.AppID = "" }, "app id"},
		{"a negative timeout is refused", func(c *Config) { c.HTTPTimeout = -1 }, "http timeout"},
	}
	for _, tt := range bad {
		t.Run(tt.scenario, func(t *testing.T) {
			cfg := testConfig("http://127.0.0.1:1")
			tt.mod(&cfg)
			_, err := New(cfg, nil)
			if err == nil || !strings.Contains(err.Error(), tt.errHas) || strings.Contains(err.Error(), canary) {
				t.Errorf("error %v, want one naming %s without the secret", err, tt.errHas)
			}
		})
	}
}

func TestWriteBody(t *testing.T) {
	creds := &Credentials{AppID: "2882303761517669588", AppKey: "key", AppSecret: secret.New(canary)}
	tests := []struct {
		scenario string
		call     Call
		many     bool
		want     map[string]any
	}{
		{"one account is toAccount and optional fields are left out", p2p("alice"), false, map[string]any{
			"appId": "2882303761517669588", "appKey": "key", "appSecret": canary, "fromAccount": "shop",
			"fromResource": "srv1", "toAccount": "alice", "msg": "hello", "msgType": ""}},
		{"many topics are int64 numbers", p2t(9007199254740993, -1), true, map[string]any{
			"appId": "2882303761517669588", "appKey": "key", "appSecret": canary, "fromAccount": "shop",
			"fromResource": "srv1", "topicIds": []any{json.Number("9007199254740993"), json.Number("-1")},
			"msg": "hello", "msgType": ""}},
		{"isStore false and bizType are sent", Call{Content: message.Content{Kind: message.P2P, FromAccount: "s", Msg: "m\n\"q\"\u2028<é>\x01",
			BizType: "B", IsStore: message.StoreFalse}, Recipients: accounts("a", "b")}, true, map[string]any{
			"appId": "2882303761517669588", "appKey": "key", "appSecret": canary, "fromAccount": "s",
			"fromResource": "", "toAccounts": []any{"a", "b"}, "msg": "m\n\"q\"\u2028<é>\x01", "msgType": "",
			"bizType": "B", "isStore": false}},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			var buf bytes.Buffer
			writeBody(&buf, creds, &tt.call, tt.many)
			d := json.NewDecoder(bytes.NewReader(buf.Bytes()))
			d.UseNumber()
			var got map[string]any
			if err := d.Decode(&got); err != nil {
				t.Fatalf("body %s: %v", buf.String(), err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("body %s\n got %v\nwant %v", buf.String(), got, tt.want)
			}
		})
	}
}

func TestDecodeAnswer(t *testing.T) {
	tests := []struct {
		scenario string
		body     string
		many     bool
		code     int
		ids      []string
		err      error
	}{
		{"one packetId is read", `{"code":200,"message":"success","data":{"packetId":"k-1"}}`, false, 200, []string{"k-1"}, nil},
		{"packetIds are read in order", `{"code":200,"message":"success","data":{"packetIds":["k-1","k-2"]}}`, true, 200, []string{"k-1", "k-2"}, nil},
		{"a refusal gives its code", `{"code":401,"message":"bad credentials","data":null}`, false, 401, nil, nil},
		{"a refusal with odd data still gives its code", `{"code":503,"message":7,"data":"x"}`, false, 503, nil, nil},
		{"packetId where packetIds are due is the wrong shape", `{"code":200,"data":{"packetId":"k-1"}}`, true, 200, nil, ErrAnswerShape},
		{"an empty packetId is the wrong shape", `{"code":200,"data":{"packetId":""}}`, false, 200, nil, ErrAnswerShape},
		{"a code of text is the wrong shape", `{"code":"200","data":{"packetId":"k"}}`, false, 0, nil, ErrAnswerShape},
		{"a list is the wrong shape", `[1,2]`, false, 0, nil, ErrAnswerShape},
		{"null is the wrong shape", `null`, false, 0, nil, ErrAnswerShape},
		{"trailing garbage is not JSON", `{"code":200,"data":{"packetId":"k"}}x`, false, 0, nil, ErrNotJSON},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			code, _, ids, err := decodeAnswer([]byte(tt.body), tt.many)
			if !errors.Is(err, tt.err) || (tt.err == nil && err != nil) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if code != tt.code || !reflect.DeepEqual(ids, tt.ids) {
				t.Errorf("got %d %q, want %d %q", code, ids, tt.code, tt.ids)
			}
		})
	}
}

// FuzzDecodeAnswer: the decoder never panics, and it succeeds only on an
// envelope of code 200 whose data holds a packetId or a list of packetIds,
// none empty.
func FuzzDecodeAnswer(f *testing.F) {
	for _, s := range []string{
		`{"code":200,"message":"success","data":{"packetId":"k-1"}}`,
		`{"code":200,"message":"success","data":{"packetIds":["k-1","k-2"]}}`,
		`{"code":500,"message":"x","data":null}`,
		`{"code":200,"data":"str"}`, `{"code":200,"data":{"packetIds":[1]}}`, `[]`, `null`, ``, `{"code":1e400}`,
		`{"code":200,"data":{"packetIds":null}}`, "\xff",
	} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, body []byte, many bool) {
		code, _, ids, err := decodeAnswer(body, many)
		if err != nil {
			if !errors.Is(err, ErrBadAnswer) {
				t.Fatalf("error %v is not an ErrBadAnswer", err)
			}
			return
		}
		if code != CodeOK {
			if ids != nil {
				t.Fatalf("code %d with ids %q", code, ids)
			}
			return
		}
		var check struct {
			Code int `json:"code"`
			Data map[string]json.RawMessage
		}
		// An empty packetIds list decodes: the caller reports the count
		// mismatch as a protocol error.
		if json.Unmarshal(body, &check) != nil || check.Code != 200 || ids == nil {
			t.Fatalf("success on %q: ids %q", body, ids)
		}
		for _, id := range ids {
			if id == "" {
				t.Fatalf("an empty id from %q", body)
			}
		}
		if !many && len(ids) != 1 {
			t.Fatalf("one packetId expected, got %q", ids)
		}
	})
}

func TestErrorText(t *testing.T) {
	e := &Error{Endpoint: EndpointP2PMore, HTTPStatus: 200, Code: 200, Attempts: 1,
		Err: errors.New("mimc: protocol error: 3 recipients but 2 packetIds")}
	want := "mimc /api/push/p2p/more (http 200, code 200, 1 attempt): mimc: protocol error: 3 recipients but 2 packetIds"
	if e.Error() != want {
		t.Errorf("got %q\nwant %q", e.Error(), want)
	}
	e = &Error{Endpoint: EndpointP2T, HTTPStatus: 500, Code: 500, Attempts: 4, Retryable: true,
		Message: "internal server error", Err: ErrUnavailable}
	want = "mimc /api/push/p2t/ (http 500, code 500, 4 attempts, retryable): internal server error: mimc: unavailable"
	if e.Error() != want {
		t.Errorf("got %q\nwant %q", e.Error(), want)
	}
}

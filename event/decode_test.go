package event

import (
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/mimc-bridge/mimc-bridge/message"
)

var (
	testSrc = Source{Topic: "mimc.push", Partition: 3, Offset: 1042}
	testLim = Limits{MaxMsgBytes: 64, MaxIDBytes: 256, MaxRecipients: 5, DefaultFromResource: "mimc-bridge"}
)

func TestDecodeAccepts(t *testing.T) {
	tests := []struct {
		scenario string
		value    string
		want     Event
	}{
		{"the design's example is accepted as is",
			`{"id": "order-4711-shipped", "fromAccount": "shop", "fromResource": "srv1",
			  "toAccounts": ["alice", "bob"], "msg": "Your order shipped", "msgType": "",
			  "bizType": "ORDER", "isStore": true}`,
			Event{ID: "order-4711-shipped", Content: message.Content{Kind: P2P, FromAccount: "shop", FromResource: "srv1", Msg: "Your order shipped", BizType: "ORDER", IsStore: message.StoreTrue}, Recipients: message.Recipients{ToAccounts: []string{"alice", "bob"}}}},
		{"a missing id and fromResource get their defaults",
			`{"fromAccount":"shop","toAccount":"alice","msg":"hi"}`,
			Event{ID: "mimc.push/3/1042", Content: message.Content{Kind: P2P, FromAccount: "shop", FromResource: "mimc-bridge", Msg: "hi"}, Recipients: message.Recipients{ToAccounts: []string{"alice"}}}},
		{"null and empty strings count as absent",
			`{"id":"","fromAccount":"shop","fromResource":null,"toAccount":"alice","msg":"hi","kind":"","isStore":null,"bizType":null,"topicIds":null}`,
			Event{ID: "mimc.push/3/1042", Content: message.Content{Kind: P2P, FromAccount: "shop", FromResource: "mimc-bridge", Msg: "hi"}, Recipients: message.Recipients{ToAccounts: []string{"alice"}}}},
		{"a repeated recipient counts once, in order of first appearance",
			`{"fromAccount":"a","toAccounts":["x","y","x","z","y"],"msg":"m","isStore":false}`,
			Event{ID: "mimc.push/3/1042", Content: message.Content{Kind: P2P, FromAccount: "a", FromResource: "mimc-bridge", Msg: "m", IsStore: message.StoreFalse}, Recipients: message.Recipients{ToAccounts: []string{"x", "y", "z"}}}},
		{"a topic id beyond 2^53 as a number keeps every digit",
			`{"fromAccount":"a","topicId":9007199254740993,"msg":"m","kind":"p2t"}`,
			Event{ID: "mimc.push/3/1042", Content: message.Content{Kind: P2T, FromAccount: "a", FromResource: "mimc-bridge", Msg: "m"}, Recipients: message.Recipients{TopicIDs: []int64{9007199254740993}}}},
		{"topic ids mix numbers and decimal strings and repeat once",
			`{"fromAccount":"a","topicIds":["9223372036854775807", 5, "5", 7],"msg":"m"}`,
			Event{ID: "mimc.push/3/1042", Content: message.Content{Kind: P2T, FromAccount: "a", FromResource: "mimc-bridge", Msg: "m"}, Recipients: message.Recipients{TopicIDs: []int64{9223372036854775807, 5, 7}}}},
		{"a base64 message is measured after decoding",
			`{"fromAccount":"a","toAccount":"b","msgType":"base64","msg":"` + strings.Repeat("AAAA", 16) + `"}`,
			Event{ID: "mimc.push/3/1042", Content: message.Content{Kind: P2P, FromAccount: "a", FromResource: "mimc-bridge", MsgType: "base64", Msg: strings.Repeat("AAAA", 16)}, Recipients: message.Recipients{ToAccounts: []string{"b"}}}},
		{"escapes and non-ASCII text are decoded",
			`{"id":"\u00e9t\u00e9 \ud83d\ude00","fromAccount":"a\"b","toAccount":"\u0062\/c","msg":"line\nnext 日本"}`,
			Event{ID: "été 😀", Content: message.Content{Kind: P2P, FromAccount: `a"b`, FromResource: "mimc-bridge", Msg: "line\nnext 日本"}, Recipients: message.Recipients{ToAccounts: []string{"b/c"}}}},
		{"unknown fields are ignored, however nested, and repeated",
			`{"x":{"a":[1,{"b":"}]"}]},"x":2,"fromAccount":"a","ToAccount":"ignored","toAccount":"b","msg":"m"}`,
			Event{ID: "mimc.push/3/1042", Content: message.Content{Kind: P2P, FromAccount: "a", FromResource: "mimc-bridge", Msg: "m"}, Recipients: message.Recipients{ToAccounts: []string{"b"}}}},
		{"an escaped key is the same key",
			`{"\u0066romAccount":"a","toAccount":"b","msg":"m"}`,
			Event{ID: "mimc.push/3/1042", Content: message.Content{Kind: P2P, FromAccount: "a", FromResource: "mimc-bridge", Msg: "m"}, Recipients: message.Recipients{ToAccounts: []string{"b"}}}},
		{"accounts may hold inner spaces, non-ASCII text and escaped surrogate pairs",
			`{"fromAccount":" shop 1 ","toAccounts":["日本 太郎","\ud83d\ude00","\\ud800"],"msg":"\ud83d\ude00"}`,
			Event{ID: "mimc.push/3/1042", Content: message.Content{Kind: P2P, FromAccount: " shop 1 ", FromResource: "mimc-bridge", Msg: "😀"}, Recipients: message.Recipients{ToAccounts: []string{"日本 太郎", "😀", `\ud800`}}}},
		{"a topic id string written with escapes is read unescaped",
			`{"fromAccount":"a","topicIds":["\u0031\u0030", "9"],"msg":"m"}`,
			Event{ID: "mimc.push/3/1042", Content: message.Content{Kind: P2T, FromAccount: "a", FromResource: "mimc-bridge", Msg: "m"}, Recipients: message.Recipients{TopicIDs: []int64{10, 9}}}},
		{"the message may be exactly the limit",
			`{"fromAccount":"a","toAccount":"b","msg":"` + strings.Repeat("m", 64) + `"}`,
			Event{ID: "mimc.push/3/1042", Content: message.Content{Kind: P2P, FromAccount: "a", FromResource: "mimc-bridge", Msg: strings.Repeat("m", 64)}, Recipients: message.Recipients{ToAccounts: []string{"b"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			got, err := Decode([]byte(tt.value), testSrc, testLim)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
			checkRoundTrip(t, got)
		})
	}
}

// checkRoundTrip: the normalized JSON decodes to the same event and re-encodes identically.
func checkRoundTrip(t *testing.T, ev Event) {
	t.Helper()
	b := ev.AppendJSON(nil)
	back, err := Decode(b, Source{Topic: "other", Partition: 9, Offset: 9}, Limits{MaxMsgBytes: 1 << 30, MaxIDBytes: 1 << 30, MaxRecipients: 1 << 30})
	if err != nil {
		t.Fatalf("normalized JSON %s is rejected: %v", b, err)
	}
	if !reflect.DeepEqual(back, ev) {
		t.Fatalf("normalized JSON %s decodes to\n%+v, want\n%+v", b, back, ev)
	}
	if b2 := back.AppendJSON(nil); string(b2) != string(b) {
		t.Fatalf("re-encoding differs:\n%s\n%s", b, b2)
	}
	if std, err := json.Marshal(ev); err != nil || string(std) != string(b) {
		t.Fatalf("json.Marshal = %s, %v; AppendJSON = %s", std, err, b)
	}
	if !json.Valid(b) {
		t.Fatalf("invalid JSON %s", b)
	}
}

func TestDecodeRejects(t *testing.T) {
	const ok = `"fromAccount":"a","toAccount":"b","msg":"m"`
	deep := strings.Repeat(`[`, 100000) + strings.Repeat(`]`, 100000)
	tests := []struct {
		scenario string
		value    string
		reason   string // the reason must contain this
		id       string // "" means the source's default id
	}{
		{"an empty value", ``, "empty record", ""},
		{"a value of only white space", " \n\t", "empty record", ""},
		{"a value that starts with a UTF-8 byte-order mark", "\xef\xbb\xbf{" + ok + "}", "starts with a byte-order mark (U+FEFF)", ""},
		{"a topic id string with a leading zero", `{"fromAccount":"a","topicId":"012","msg":"m"}`, `topicId: must be written without leading zeros, got "012"`, ""},
		{"a topic id string of zeros", `{"fromAccount":"a","topicIds":["7","00"],"msg":"m"}`, `topicIds[1]: must be written without leading zeros, got "00"`, ""},
		{"a topic id string with a sign", `{"fromAccount":"a","topicId":"+12","msg":"m"}`, `topicId: must be a whole number, got "+12"`, ""},
		{"a topic id number with a leading zero is not JSON", `{"fromAccount":"a","topicId":012,"msg":"m"}`, "invalid JSON", ""},
		{"a fromAccount of only spaces", `{"id":"e1","fromAccount":"   ","toAccount":"b","msg":"m"}`, "fromAccount: must not be only white space", "e1"},
		{"a fromAccount of only non-ASCII spaces", `{"fromAccount":"\u3000\u00a0","toAccount":"b","msg":"m"}`, "fromAccount: must not be only white space", ""},
		{"a toAccount of only a tab", `{"fromAccount":"a","toAccount":"\t","msg":"m"}`, "toAccount: holds a control character (U+0009)", ""},
		{"a NUL in a toAccount", `{"fromAccount":"a","toAccount":"a\u0000b","msg":"m"}`, "toAccount: holds a control character (U+0000)", ""},
		{"an escape sequence in a fromAccount", `{"fromAccount":"a\u001b[31mRED","toAccount":"b","msg":"m"}`, "fromAccount: holds a control character (U+001B)", ""},
		{"a raw DEL in an account of a list", "{\"fromAccount\":\"a\",\"toAccounts\":[\"b\",\"c\x7f\"],\"msg\":\"m\"}", "toAccounts[1]: holds a control character (U+007F)", ""},
		{"a raw C1 control in an account of a list", "{\"fromAccount\":\"a\",\"toAccounts\":[\"b\xc2\x9b\"],\"msg\":\"m\"}", "toAccounts[0]: holds a control character (U+009B)", ""},
		{"an account of only spaces in a list", `{"fromAccount":"a","toAccounts":["b"," "],"msg":"m"}`, "toAccounts[1]: must not be only white space", ""},
		{"a lone high surrogate in msg", `{"fromAccount":"a","toAccount":"b","msg":"x\ud800y"}`, `msg: \ud800 is a lone UTF-16 surrogate, not a character`, ""},
		{"a lone high surrogate at the end of msg", `{"fromAccount":"a","toAccount":"b","msg":"x\uD83D"}`, `msg: \uD83D is a lone UTF-16 surrogate`, ""},
		{"a high surrogate followed by another high one", `{"fromAccount":"a","toAccount":"b","msg":"\ud83d\ud83d"}`, `msg: \ud83d is a lone UTF-16 surrogate`, ""},
		{"a lone low surrogate in an account", `{"fromAccount":"a","toAccounts":["b","\udc00"],"msg":"m"}`, `toAccounts[1]: \udc00 is a lone UTF-16 surrogate`, ""},
		{"a lone surrogate in the id", `{"id":"e\udfff","fromAccount":"a","toAccount":"b","msg":"m"}`, `id: \udfff is a lone UTF-16 surrogate`, ""},
		{"a lone surrogate in bizType", `{"id":"e1",` + ok + `,"bizType":"\ud800"}`, `bizType: \ud800 is a lone UTF-16 surrogate`, "e1"},
		{"a lone surrogate in a topic id string", `{"fromAccount":"a","topicId":"1\ud800","msg":"m"}`, `topicId: \ud800 is a lone UTF-16 surrogate`, ""},
		{"bad JSON", `{"id":"x",}`, "invalid JSON: invalid character '}'", ""},
		{"trailing data after the object", `{` + ok + `} {}`, "invalid JSON:", ""},
		{"a JSON array", `[1,2]`, "invalid JSON: the value must be an object, not an array", ""},
		{"a JSON string", `"hello"`, "must be an object, not a string", ""},
		{"invalid UTF-8", "{\"fromAccount\":\"a\xff\",\"toAccount\":\"b\",\"msg\":\"m\"}", "not valid UTF-8", ""},
		{"an id that is not a string", `{"id":42,` + ok + `}`, "id: must be a string", ""},
		{"an id that is too long", `{"id":"` + strings.Repeat("x", 257) + `",` + ok + `}`, "id: longer than 256 bytes", ""},
		{"a duplicate known field", `{"id":"e1",` + ok + `,"msg":"again"}`, "duplicate field msg", ""},
		{"a fromAccount that is not a string", `{"id":"e1","fromAccount":["a"],"toAccount":"b","msg":"m"}`, "fromAccount: must be a string", "e1"},
		{"a missing fromAccount", `{"id":"e1","toAccount":"b","msg":"m"}`, "fromAccount: required", "e1"},
		{"an empty fromAccount", `{"id":"e1","fromAccount":"","toAccount":"b","msg":"m"}`, "fromAccount: required", "e1"},
		{"no recipient", `{"id":"e1","fromAccount":"a","msg":"m"}`, "no recipient: one of toAccount, toAccounts, topicId, topicIds is required", "e1"},
		{"toAccount with toAccounts", `{"id":"e1",` + ok + `,"toAccounts":["c"]}`, "more than one recipient field: toAccount and toAccounts", "e1"},
		{"accounts with topics", `{"id":"e1","fromAccount":"a","toAccounts":["b"],"topicId":1,"topicIds":[2],"msg":"m"}`, "toAccounts, topicId and topicIds", "e1"},
		{"toAccounts that is not a list", `{"fromAccount":"a","toAccounts":"b","msg":"m"}`, "toAccounts: must be a list of strings", ""},
		{"toAccounts with a number", `{"fromAccount":"a","toAccounts":["b",1],"msg":"m"}`, "toAccounts: must be a list of strings", ""},
		{"toAccounts with a null", `{"fromAccount":"a","toAccounts":["b",null],"msg":"m"}`, "toAccounts: must be a list of strings", ""},
		{"an empty toAccounts list", `{"fromAccount":"a","toAccounts":[],"msg":"m"}`, "toAccounts: must not be empty", ""},
		{"an empty account in the list", `{"fromAccount":"a","toAccounts":["b",""],"msg":"m"}`, "toAccounts[1]: must not be empty", ""},
		{"an empty toAccount", `{"fromAccount":"a","toAccount":"","msg":"m"}`, "toAccount: must not be empty", ""},
		{"a toAccount that is a list", `{"fromAccount":"a","toAccount":["b"],"msg":"m"}`, "toAccount: must be a string", ""},
		{"an empty topicIds list", `{"fromAccount":"a","topicIds":[],"msg":"m"}`, "topicIds: must not be empty", ""},
		{"topicIds that is not a list", `{"fromAccount":"a","topicIds":5,"msg":"m"}`, "topicIds: must be a list of topic ids", ""},
		{"a zero topic id", `{"fromAccount":"a","topicId":0,"msg":"m"}`, "topicId: must be greater than 0", ""},
		{"a negative topic id", `{"fromAccount":"a","topicId":-5,"msg":"m"}`, "topicId: must be greater than 0", ""},
		{"a negative topic id as a string", `{"fromAccount":"a","topicId":"-5","msg":"m"}`, "topicId: must be greater than 0", ""},
		{"a fractional topic id", `{"fromAccount":"a","topicId":1.5,"msg":"m"}`, "topicId: must be a whole number", ""},
		{"a topic id with an exponent", `{"fromAccount":"a","topicId":1e3,"msg":"m"}`, "topicId: must be a whole number", ""},
		{"a topic id beyond 64 bits as a number", `{"fromAccount":"a","topicId":9223372036854775808,"msg":"m"}`, "topicId: out of range", ""},
		{"a topic id beyond 64 bits as a string", `{"fromAccount":"a","topicIds":["1","18446744073709551616"],"msg":"m"}`, "topicIds[1]: out of range", ""},
		{"a topic id string that is not decimal", `{"fromAccount":"a","topicId":"0x10","msg":"m"}`, "topicId: must be a whole number", ""},
		{"a topic id string with spaces", `{"fromAccount":"a","topicId":" 5","msg":"m"}`, "topicId: must be a whole number", ""},
		{"an empty topic id string", `{"fromAccount":"a","topicId":"","msg":"m"}`, "topicId: must be a whole number", ""},
		{"a topic id that is a boolean", `{"fromAccount":"a","topicIds":[true],"msg":"m"}`, "topicIds[0]: must be a number or a decimal string", ""},
		{"an unknown kind", `{"fromAccount":"a","toAccount":"b","msg":"m","kind":"broadcast"}`, `kind: must be "p2p" or "p2t"`, ""},
		{"a kind disagreeing with the recipients", `{"fromAccount":"a","toAccounts":["b"],"msg":"m","kind":"p2t"}`, `kind: "p2t" disagrees with toAccounts (p2p)`, ""},
		{"a p2p kind with topic ids", `{"fromAccount":"a","topicIds":[1],"msg":"m","kind":"p2p"}`, `kind: "p2p" disagrees with topicIds (p2t)`, ""},
		{"a missing msg", `{"fromAccount":"a","toAccount":"b"}`, "msg: required", ""},
		{"an empty msg", `{"fromAccount":"a","toAccount":"b","msg":""}`, "msg: must not be empty", ""},
		{"a msg that is not a string", `{"fromAccount":"a","toAccount":"b","msg":{"text":"hi"}}`, "msg: must be a string", ""},
		{"an unknown msgType", `{"fromAccount":"a","toAccount":"b","msg":"m","msgType":"hex"}`, `msgType: must be "" or "base64", got "hex"`, ""},
		{"bad base64", `{"fromAccount":"a","toAccount":"b","msg":"not base64!","msgType":"base64"}`, "msg: not valid base64", ""},
		{"unpadded base64", `{"fromAccount":"a","toAccount":"b","msg":"YQ","msgType":"base64"}`, "msg: not valid base64", ""},
		{"base64 with a line break", `{"fromAccount":"a","toAccount":"b","msg":"YWJj\nYWJj","msgType":"base64"}`, "msg: not valid base64", ""},
		{"a msg that is too large", `{"fromAccount":"a","toAccount":"b","msg":"` + strings.Repeat("m", 65) + `"}`, "msg: too large: 65 bytes, the limit is 64", ""},
		{"a base64 msg too large after decoding", `{"fromAccount":"a","toAccount":"b","msgType":"base64","msg":"` + strings.Repeat("AAAA", 22) + `"}`, "msg: too large: 66 bytes after base64 decoding", ""},
		{"an isStore that is a string", `{` + ok + `,"isStore":"true"}`, "isStore: must be true or false", ""},
		{"a bizType that is a number", `{` + ok + `,"bizType":7}`, "bizType: must be a string", ""},
		{"a fromResource that is a boolean", `{` + ok + `,"fromResource":true}`, "fromResource: must be a string", ""},
		{"too many unique recipients", `{"fromAccount":"a","toAccounts":["1","2","3","4","5","6"],"msg":"m"}`, "too many recipients: more than 5 unique, the limit is 5", ""},
		{"a huge recipient list", `{"fromAccount":"a","topicIds":[` + strings.TrimSuffix(strings.Repeat("1,2,3,4,5,6,", 50000), ",") + `],"msg":"m"}`, "too many recipients: more than 5 unique", ""},
		{"a deeply nested unknown field", `{"x":` + deep + `,` + ok + `}`, "exceeded max depth", ""},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			ev, err := Decode([]byte(tt.value), testSrc, testLim)
			var re *RejectError
			if !errors.As(err, &re) {
				t.Fatalf("accepted as %+v (err %v)", ev, err)
			}
			if !strings.Contains(re.Reason, tt.reason) {
				t.Errorf("reason %q, want it to contain %q", re.Reason, tt.reason)
			}
			wantID := tt.id
			if wantID == "" {
				wantID = testSrc.DefaultID()
			}
			if re.ID != wantID {
				t.Errorf("id %q, want %q", re.ID, wantID)
			}
		})
	}
}

func TestATombstoneIsAnEmptyRecord(t *testing.T) {
	_, err := Decode(nil, testSrc, testLim)
	var re *RejectError
	if !errors.As(err, &re) || re.Reason != "empty record (a tombstone: the value is null)" || re.ID != testSrc.DefaultID() {
		t.Errorf("err %v", err)
	}
}

func TestADeepButLegalUnknownFieldIsSkipped(t *testing.T) {
	deep := strings.Repeat(`{"a":`, 9000) + "1" + strings.Repeat(`}`, 9000)
	ev, err := Decode([]byte(`{"x":`+deep+`,"fromAccount":"a","toAccount":"b","msg":"m"}`), testSrc, testLim)
	if err != nil || ev.FromAccount != "a" {
		t.Fatalf("%+v, %v", ev, err)
	}
}

func TestZeroLimitsMeanTheDefaults(t *testing.T) {
	msg := strings.Repeat("m", DefaultMaxMsgBytes)
	if _, err := Decode([]byte(`{"fromAccount":"a","toAccount":"b","msg":"`+msg+`"}`), testSrc, Limits{}); err != nil {
		t.Errorf("a message of the default limit: %v", err)
	}
	if _, err := Decode([]byte(`{"fromAccount":"a","toAccount":"b","msg":"`+msg+`m"}`), testSrc, Limits{}); err == nil {
		t.Error("a message over the default limit is accepted")
	}
	if _, err := Decode([]byte(`{"id":"`+strings.Repeat("i", 257)+`","fromAccount":"a","toAccount":"b","msg":"m"}`), testSrc, Limits{}); err == nil {
		t.Error("an id over the default limit is accepted")
	}
}

func TestManyRecipientsAreDeduplicated(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"fromAccount":"a","msg":"m","toAccounts":[`)
	for i := range 1000 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Quote("u" + strconv.Itoa(i%300)))
	}
	b.WriteString("]}")
	ev, err := Decode([]byte(b.String()), testSrc, Limits{MaxRecipients: 300})
	if err != nil || len(ev.ToAccounts) != 300 || ev.ToAccounts[299] != "u299" {
		t.Fatalf("%d recipients, %v", len(ev.ToAccounts), err)
	}
}

func TestAnEventInsideJSONUsesUnmarshalJSON(t *testing.T) {
	var ev Event
	if err := json.Unmarshal([]byte(`{"id":"e","kind":"p2t","fromAccount":"a","fromResource":"r","topicIds":["12"],"msg":"m","msgType":"","bizType":""}`), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.ID != "e" || ev.TopicIDs[0] != 12 {
		t.Errorf("%+v", ev)
	}
	if err := json.Unmarshal([]byte(`{"fromAccount":"a"}`), &ev); err == nil {
		t.Error("an invalid event is accepted")
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"id": "order-4711-shipped", "fromAccount": "shop", "fromResource": "srv1", "toAccounts": ["alice", "bob"], "msg": "Your order shipped", "msgType": "", "bizType": "ORDER", "isStore": true}`,
		`{"fromAccount":"a","topicIds":["9223372036854775807", 5, "5", 7],"msg":"bQ==","msgType":"base64","kind":"p2t"}`,
		`{"fromAccount":"a\u0000<>&\u2028","toAccount":"b\ud800","msg":"x\ty","isStore":false,"x":[{"y":null}]}`,
		`{"fromAccount":"a","topicId":"00012","msg":"m"}`,
		`{"fromAccount":" ","toAccounts":["\u0085","\ud83d\ude00"],"msg":"\udc00"}`,
		"\xef\xbb\xbf{}",
		`{"\u0069d":"k","fromAccount":"a","toAccount":"b","msg":"m","id":"j"}`,
		`[]`, `{`, `{"a":1}`, "{\"msg\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	lim := Limits{MaxMsgBytes: 100, MaxIDBytes: 20, MaxRecipients: 10, DefaultFromResource: "res"}
	f.Fuzz(func(t *testing.T, value []byte) {
		ev, err := Decode(value, testSrc, lim)
		if err != nil {
			var re *RejectError
			if !errors.As(err, &re) || re.Reason == "" || re.ID == "" {
				t.Fatalf("error %#v is not a complete *RejectError", err)
			}
			return
		}
		if !json.Valid(value) {
			t.Fatalf("accepted invalid JSON %q", value)
		}
		// Compare with encoding/json's reading of the known fields.
		var ref map[string]any
		if err := json.Unmarshal(value, &ref); err != nil {
			t.Fatal(err)
		}
		for key, got := range map[string]string{"fromAccount": ev.FromAccount, "msg": ev.Msg} {
			if ref[key] != got {
				t.Fatalf("%s: decoded %q, encoding/json reads %q", key, got, ref[key])
			}
		}
		if s, ok := ref["id"].(string); ok && s != "" && s != ev.ID {
			t.Fatalf("id: decoded %q, encoding/json reads %q", ev.ID, s)
		}
		if ev.Recipients.Len() == 0 || ev.Recipients.Len() > lim.MaxRecipients {
			t.Fatalf("%d recipients", ev.Recipients.Len())
		}
		for _, a := range append([]string{ev.FromAccount}, ev.ToAccounts...) {
			if strings.ContainsFunc(a, unicode.IsControl) || strings.TrimFunc(a, unicode.IsSpace) == "" {
				t.Fatalf("accepted the account %q", a)
			}
		}
		checkRoundTrip(t, ev)
	})
}

package integration_test

import (
	"fmt"
	"math/rand"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mimc-bridge/mimc-bridge/event"
)

var idPattern = regexp.MustCompile(`^\{"id":"(x\d+)"`)

func TestBadInputIsRejectedAndThePartitionKeepsFlowing(t *testing.T) {
	c := newCluster(t)
	in := c.topic(t, "push", 1)
	results := c.topic(t, "results", 1)
	group := fmt.Sprintf("group-%d", rand.Int63())
	_, url := fakeMIMC(t)

	bad := []struct {
		name, value, reason string
	}{
		{"bad JSON", `{"id": "x1", "fromAccount": "a", `, "JSON"},
		{"not an object", `["a"]`, ""},
		{"a wrong type", `{"id":"x2","fromAccount":"a","toAccount":7,"msg":"m"}`, "toAccount"},
		{"no recipient", `{"id":"x3","fromAccount":"a","msg":"m"}`, "recipient"},
		{"two kinds of recipients", `{"id":"x4","fromAccount":"a","msg":"m","toAccount":"b","topicId":5}`, "toAccount"},
		{"toAccount with toAccounts", `{"id":"x5","fromAccount":"a","msg":"m","toAccount":"b","toAccounts":["c"]}`, "toAccounts"},
		{"an empty msg", `{"id":"x6","fromAccount":"a","msg":"","toAccount":"b"}`, "msg"},
		{"bad base64", `{"id":"x7","fromAccount":"a","msg":"%%%not-base64","msgType":"base64","toAccount":"b"}`, "base64"},
		{"a too large msg", `{"id":"x8","fromAccount":"a","msg":"` + strings.Repeat("x", 10241) + `","toAccount":"b"}`, "msg"},
		{"a too long id", `{"id":"` + strings.Repeat("i", 257) + `","fromAccount":"a","msg":"m","toAccount":"b"}`, "id"},
		{"no fromAccount", `{"id":"x9","msg":"m","toAccount":"b"}`, "fromAccount"},
		{"a kind that disagrees", `{"id":"x10","kind":"p2t","fromAccount":"a","msg":"m","toAccount":"b"}`, "kind"},
		{"a fractional topic id", `{"id":"x11","fromAccount":"a","msg":"m","topicId":1.5}`, "topicId"},
		{"invalid UTF-8", "{\"id\":\"x12\",\"fromAccount\":\"a\",\"msg\":\"\xff\xfe\",\"toAccount\":\"b\"}", "UTF-8"},
	}
	var values [][]byte
	good := 0
	for i, b := range bad {
		values = append(values, []byte(b.value))
		values = append(values, mustJSON(t, map[string]any{"id": fmt.Sprintf("good-%d", i), "fromAccount": "a", "msg": "hello", "toAccount": fmt.Sprintf("u%d", i)}))
		good++
	}
	c.produce(t, in, values...)
	startBridge(t, settings(t, c, url, in, results, group))
	waitFor(t, 60*time.Second, "every record committed", func() bool {
		return c.committed(t, group, in, 1)[0] == int64(len(values))
	})
	outs := c.outcomes(t, results)
	if len(outs) != len(values) {
		t.Fatalf("%d outcomes for %d records", len(outs), len(values))
	}
	bySource := map[int64]outcomeRecord{}
	for _, o := range outs {
		bySource[o.Source.Offset] = o
	}
	for i, b := range bad {
		t.Run("a record with "+b.name+" is rejected with a reason", func(t *testing.T) {
			o := bySource[int64(2*i)]
			if o.Status != event.Rejected {
				t.Fatalf("status %q, want rejected (outcome %s)", o.Status, o.raw)
			}
			if o.Error == "" || !strings.Contains(strings.ToLower(o.Error), strings.ToLower(b.reason)) {
				t.Errorf("reason %q does not mention %q", o.Error, b.reason)
			}
			if o.Input == "" || len(o.Input) > 1024+8 {
				t.Errorf("input echo has %d bytes, want 1..1024", len(o.Input))
			}
			if o.Source.Topic != in || o.Source.Partition != 0 {
				t.Errorf("source %+v", o.Source)
			}
			// A readable, valid id is kept; otherwise <topic>/<partition>/<offset>.
			want := fmt.Sprintf("%s/0/%d", in, 2*i)
			if m := idPattern.FindStringSubmatch(b.value); m != nil && b.name != "bad JSON" && b.name != "invalid UTF-8" {
				want = m[1]
			}
			if o.ID != want {
				t.Errorf("id %q, want %q", o.ID, want)
			}
			next := bySource[int64(2*i+1)]
			if next.Status != event.Delivered {
				t.Errorf("the record after it: status %q, want delivered", next.Status)
			}
		})
	}
	if o := bySource[int64(2*9)]; o.ID != fmt.Sprintf("%s/0/%d", in, 18) {
		t.Errorf("a record rejected for its id has id %q, want the default %s/0/18", o.ID, in)
	}
}

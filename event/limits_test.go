package event

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// hostile returns inputs at the edges of what a broker delivers: a record
// near the default max.message.bytes (1 MiB), deep nesting, invalid UTF-8
// and 100k recipients in one record.
func hostile() []struct {
	scenario string
	value    []byte
	reason   string
} {
	const mib = 1 << 20
	ok := `"fromAccount":"a","toAccount":"b","msg":"m"`
	many := func(n int, quoted bool) string {
		var b strings.Builder
		for i := 0; i < n; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			if quoted {
				fmt.Fprintf(&b, `"u%05d"`, i)
			} else {
				fmt.Fprintf(&b, "%d", i+1)
			}
		}
		return b.String()
	}
	return []struct {
		scenario string
		value    []byte
		reason   string
	}{
		{"a 1 MiB msg", []byte(`{"fromAccount":"a","toAccount":"b","msg":"` + strings.Repeat("x", mib-60) + `"}`),
			"msg: too large"},
		{"a 1 MiB base64 msg", []byte(`{"fromAccount":"a","toAccount":"b","msgType":"base64","msg":"` + strings.Repeat("QUFB", (mib-80)/4) + `"}`),
			"msg: too large"},
		{"a 1 MiB id", []byte(`{"id":"` + strings.Repeat("i", mib-60) + `",` + ok + `}`),
			"id: longer than"},
		{"a 1 MiB string of escapes", []byte(`{"fromAccount":"a","toAccount":"b","msg":"` + strings.Repeat(`\u00e9`, (mib-60)/6) + `"}`),
			"msg: too large"},
		{"nesting 500k deep in an unknown field (1 MiB)", []byte(`{` + ok + `,"x":` + strings.Repeat("[", mib/2) + strings.Repeat("]", mib/2) + `}`),
			"invalid JSON"},
		{"nesting 500k deep as the value", []byte(strings.Repeat(`{"a":`, mib/10) + `1` + strings.Repeat("}", mib/10)),
			"invalid JSON"},
		{"invalid UTF-8 in msg", []byte(`{"fromAccount":"a","toAccount":"b","msg":"` + strings.Repeat("\xff\xfe", 1000) + `"}`),
			"not valid UTF-8"},
		{"invalid UTF-8 at the end of 1 MiB", []byte(`{` + ok + `,"pad":"` + strings.Repeat("p", mib-80) + "\xc3" + `"}`),
			"not valid UTF-8"},
		{"100k account recipients", []byte(`{"fromAccount":"a","msg":"m","toAccounts":[` + many(100_000, true) + `]}`),
			"too many recipients"},
		{"100k topic recipients", []byte(`{"fromAccount":"a","msg":"m","topicIds":[` + many(100_000, false) + `]}`),
			"too many recipients"},
		{"100k copies of one recipient and one too many", []byte(`{"fromAccount":"a","msg":"m","toAccounts":[` + strings.Repeat(`"same",`, 100_000) + `""]}`),
			"must not be empty"},
	}
}

// Each hostile input is rejected with a reason, and decoding it allocates a
// bounded multiple of its size (memory, not time, is what is measured).
func TestHostileInputIsRejectedWithinBoundedMemory(t *testing.T) {
	lim := Limits{DefaultFromResource: "mimc-bridge"} // the bridge's defaults
	for _, tc := range hostile() {
		t.Run(tc.scenario, func(t *testing.T) {
			_, err := Decode(tc.value, testSrc, lim)
			var re *RejectError
			if !errors.As(err, &re) {
				t.Fatalf("accepted (%v), want rejected", err)
			}
			if !strings.Contains(re.Reason, tc.reason) {
				t.Errorf("reason %q, want one containing %q", re.Reason, tc.reason)
			}
			if len(re.Reason) > 1024 || !utf8.ValidString(re.Reason) {
				t.Errorf("reason is %d bytes or not UTF-8: a reason is short and printable", len(re.Reason))
			}
			now := time.Now()
			out := NewRejected(testSrc, tc.value, re, now, now)
			if len(out.Input) > MaxInputBytes || !utf8.ValidString(out.Input) {
				t.Errorf("rejected outcome's input is %d bytes or not UTF-8", len(out.Input))
			}
			if b := out.AppendJSON(nil); len(b) > 4096 {
				t.Errorf("rejected outcome is %d bytes, want a small record", len(b))
			}
			const runs = 3
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			for i := 0; i < runs; i++ {
				_, _ = Decode(tc.value, testSrc, lim)
			}
			runtime.ReadMemStats(&after)
			perRun := (after.TotalAlloc - before.TotalAlloc) / runs
			// Linear in the record: about 15x for 100k recipients, which are all
			// read and deduplicated before the count is checked.
			limit := uint64(20*len(tc.value) + 1<<20)
			t.Logf("%d bytes in, %d bytes allocated per decode (%.1fx): %s", len(tc.value), perRun, float64(perRun)/float64(len(tc.value)), re.Reason)
			if perRun > limit {
				t.Errorf("decoding allocated %d bytes for a %d-byte record, want at most %d", perRun, len(tc.value), limit)
			}
		})
	}
}

// The largest valid record: 10,000 recipients (the default limit), a msg at
// MAX_MSG_BYTES and a large unknown field, close to 1 MiB, is accepted and
// round-trips.
func TestTheLargestValidRecordIsAccepted(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"fromAccount":"a","msg":"` + strings.Repeat("m", DefaultMaxMsgBytes) + `","toAccounts":[`)
	for i := 0; i < DefaultMaxRecipients; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"recipient-%05d"`, i)
	}
	b.WriteString(`],"padding":"` + strings.Repeat("p", 1<<20-b.Len()-200) + `"}`)
	value := []byte(b.String())
	ev, err := Decode(value, testSrc, Limits{})
	if err != nil {
		t.Fatalf("rejected: %v", err)
	}
	if len(ev.ToAccounts) != DefaultMaxRecipients {
		t.Errorf("%d recipients", len(ev.ToAccounts))
	}
	checkRoundTrip(t, ev)
	t.Logf("a %d-byte record with %d recipients is accepted", len(value), len(ev.ToAccounts))
}

//go:build jsontext && linux

package event

import (
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// jsonTextCorpus is every input the event tests name, plus a few shapes the
// benchmarks use.
func jsonTextCorpus() [][]byte {
	var out [][]byte
	for _, s := range validCases {
		out = append(out, []byte(s), []byte(`{"fromAccount":"a","toAccount":"b","msg":"m","x":`+s+`}`))
	}
	for _, tc := range hostile() {
		out = append(out, tc.value)
	}
	for _, in := range decodeBenchInputs() {
		out = append(out, in.value)
	}
	for _, n := range []int{maxNestingDepth - 2, maxNestingDepth - 1, maxNestingDepth, maxNestingDepth + 1} {
		out = append(out,
			[]byte(`{"fromAccount":"a","toAccount":"b","msg":"m","x":`+strings.Repeat("[", n)+strings.Repeat("]", n)+`}`),
			[]byte(strings.Repeat("[", n)+strings.Repeat("]", n)),
			[]byte(strings.Repeat(`{"a":`, n)+"1"+strings.Repeat("}", n)))
	}
	return out
}

// checkJSONTextAgrees fails when the two decoders read value differently.
func checkJSONTextAgrees(t *testing.T, value []byte, lim Limits) {
	t.Helper()
	var old, neu Event
	r1, id1 := decode(&old, value, lim.withDefaults())
	r2, id2 := decodeJSONText(&neu, value, lim.withDefaults())
	if r1 != r2 || id1 != id2 || !reflect.DeepEqual(old, neu) {
		t.Fatalf("%.200q:\ntoday:    %q %q %+v\njsontext: %q %q %+v", value, r1, id1, old, r2, id2, neu)
	}
}

func TestJSONTextDecoderAgrees(t *testing.T) {
	for _, v := range jsonTextCorpus() {
		checkJSONTextAgrees(t, v, testLim)
	}
}

func FuzzDecodeJSONText(f *testing.F) {
	for _, v := range jsonTextCorpus() {
		if len(v) < 4096 {
			f.Add(v)
		}
	}
	lim := Limits{MaxMsgBytes: 100, MaxIDBytes: 20, MaxRecipients: 10, DefaultFromResource: "res"}
	f.Fuzz(func(t *testing.T, value []byte) { checkJSONTextAgrees(t, value, lim) })
}

type decodeBenchInput struct {
	name  string
	value []byte
}

func decodeBenchInputs() []decodeBenchInput {
	accounts := func(n int) string {
		var b strings.Builder
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `"user-%06d"`, i)
		}
		return b.String()
	}
	return []decodeBenchInput{
		{"design", []byte(`{"id": "order-4711-shipped", "fromAccount": "shop", "fromResource": "srv1",
 "toAccounts": ["alice", "bob"], "msg": "Your order shipped", "msgType": "",
 "bizType": "ORDER", "isStore": true}`)},
		{"sample", sampleEvent},
		{"minimal", []byte(`{"fromAccount":"a","toAccount":"b","msg":"m"}`)},
		{"escapes", []byte(`{"id":"\u00e9t\u00e9","fromAccount":"a\"b","toAccount":"\u0062\/c","msg":"line\nnext \u65e5\u672c \ud83d\ude00"}`)},
		{"unknown-fields", []byte(`{"trace":{"span":"0af7651916cd43dd8448eb211c80319c","tags":["a","b",{"c":[1,2,3]}]},` +
			`"fromAccount":"shop","toAccount":"alice","msg":"Your order shipped","extra":[true,false,null,1.5e3]}`)},
		{"100-recipients", []byte(`{"fromAccount":"shop","msg":"Campaign","toAccounts":[` + accounts(100) + `]}`)},
		{"1k-msg", []byte(`{"fromAccount":"shop","toAccount":"alice","msg":"` + strings.Repeat("0123456789abcdef", 64) + `"}`)},
		{"rejected", []byte(`{"id":"e1","fromAccount":"a","toAccount":"b"}`)},
	}
}

// BenchmarkDecodeImpl compares the two decoders on each input:
// go test -tags jsontext -run XXX -bench DecodeImpl ./event/ (cpu-ns/op is
// the thread's CPU time, steadier than ns/op on a shared machine)
func BenchmarkDecodeImpl(b *testing.B) {
	lim := Limits{DefaultFromResource: "mimc-bridge"}.withDefaults()
	for _, in := range decodeBenchInputs() {
		for _, impl := range []struct {
			name string
			fn   func(*Event, []byte, Limits) (string, string)
		}{{"today", decode}, {"jsontext", decodeJSONText}} {
			b.Run(in.name+"/"+impl.name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(in.value)))
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				start := threadCPU()
				for b.Loop() {
					var ev Event
					impl.fn(&ev, in.value, lim)
				}
				b.ReportMetric(float64(threadCPU()-start)/float64(b.N), "cpu-ns/op")
			})
		}
	}
}

// threadCPU is the CPU time of the calling thread: on a shared machine it
// does not count the time the thread waited for a core, which ns/op does.
func threadCPU() time.Duration {
	const rusageThread = 1 // RUSAGE_THREAD
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

package mimc

import (
	"encoding/json"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/mimc-bridge/mimc-bridge/message"
	"github.com/mimc-bridge/mimc-bridge/mimc/mimctest"
	"github.com/mimc-bridge/mimc-bridge/secret"
)

func benchCall(n int) Call {
	accounts := make([]string, n)
	for i := range accounts {
		accounts[i] = "user-" + strconv.Itoa(100000+i)
	}
	return Call{Content: message.Content{Kind: message.P2P, FromAccount: "shop", FromResource: "srv1",
		Msg: "Your order 4711 shipped \"today\""}, Recipients: message.Recipients{ToAccounts: accounts}}
}

func BenchmarkEncodeBody100(b *testing.B) {
	creds := &Credentials{AppID: testAppID, AppKey: testAppKey, AppSecret: secret.New(canary)}
	call := benchCall(100)
	b.ReportAllocs()
	var size int
	for b.Loop() {
		buf := getBuffer()
		writeBody(buf, creds, &call, true)
		size = buf.Len()
		putBuffer(buf)
	}
	b.ReportMetric(float64(size), "bytes/body")
}

// BenchmarkEncodeBody100JSONMarshal is the reflection-based way, for comparison.
func BenchmarkEncodeBody100JSONMarshal(b *testing.B) {
	call := benchCall(100)
	b.ReportAllocs()
	for b.Loop() {
		_, err := json.Marshal(map[string]any{
			"appId": testAppID, "appKey": testAppKey, "appSecret": canary, "fromAccount": call.FromAccount,
			"fromResource": call.FromResource, "toAccounts": call.ToAccounts, "msg": call.Msg, "msgType": call.MsgType,
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// answer100 is a success answer carrying 100 packet ids.
func answer100() []byte {
	var sb strings.Builder
	sb.WriteString(`{"code":200,"message":"success","data":{"packetIds":[`)
	for i := range 100 {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(`"k3f9x-` + strconv.Itoa(1000000+i) + `"`)
	}
	sb.WriteString(`]}}`)
	return []byte(sb.String())
}

func benchmarkDecode(b *testing.B, decode func([]byte, bool) (int, string, []string, error)) {
	body := answer100()
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		_, _, ids, err := decode(body, true)
		if err != nil || len(ids) != 100 {
			b.Fatal(err, len(ids))
		}
	}
}

func BenchmarkDecodeAnswer100(b *testing.B) { benchmarkDecode(b, decodeAnswer) }

// BenchmarkPushLoopback pushes through the client to mimctest over loopback
// HTTP, with 16 calls in flight.
func BenchmarkPushLoopback(b *testing.B) {
	for _, n := range []int{1, 100} {
		b.Run("recipients="+strconv.Itoa(n), func(b *testing.B) {
			_, url := mimctest.NewTestServer(b, testServerConfig())
			cfg := testConfig(url)
			c, err := New(cfg, zap.NewNop())
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			call := benchCall(n)
			var calls atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(8) // 8 × GOMAXPROCS goroutines, capped by MaxConcurrentCalls
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := c.Push(b.Context(), call); err != nil {
						b.Error(err)
						return
					}
					calls.Add(1)
				}
			})
			secs := time.Since(start).Seconds()
			b.ReportMetric(float64(calls.Load())/secs, "calls/s")
			b.ReportMetric(float64(calls.Load())*float64(n)/secs, "recipients/s")
		})
	}
}

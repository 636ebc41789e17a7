package mimc

import (
	"reflect"
	"testing"
)

var successBodies = []string{
	`{"code":200,"message":"success","data":{"packetId":"k-1"}}`,
	`{"code":200,"message":"success","data":{"packetIds":["k-1","k-2"]}}`,
	` { "data" : { "packetIds" : [ "k-1" , "k-2" ] } , "code" : 200 } `,
	"{\"code\":200,\n\"data\":{\"packetId\":\"k-1\"}}\t",
	`{"code":200,"message":"success","data":{"packetIds":[]}}`,
	`{"code":200,"message":"success","data":{"packetIds":[""]}}`,
	`{"code":200,"message":"success","data":{"packetId":""}}`,
	`{"code":2000,"data":{"packetId":"k-1"}}`, `{"code":200.0,"data":{"packetId":"k-1"}}`,
	`{"code":200,"code":200,"data":{"packetId":"k-1"}}`, `{"Code":200,"data":{"packetId":"k-1"}}`,
	`{"code":200,"data":{"packetId":"k\u002d1"}}`, `{"code":200,"data":{"packetId":"k-1","extra":1}}`,
	`{"code":200,"data":{"packetId":"k-1"}} x`, `{"code":200,"data":{"packetId":"k-1"}`, `{"code":200,"message":null,"data":{"packetId":"k-1"}}`,
	`{"code":200,"message":"é","data":{"packetId":"k-1"}}`, `{"code":200,"data":{"packetIds":["k-1",]}}`,
	`{"code":200,"data":{"packetIds":["k-1"],"packetId":"k-2"}}`, `{"code":200}`, `{"data":{"packetId":"k-1"}}`,
	`{"code":200,"data":{"packetId":"k-1"},}`, `{}`, ``, `{`, `{"code":200,"data":{"packetIds":["k-1"}}`,
}

// The fast path and encoding/json agree on every body the fast path takes.
func checkSuccessPath(t *testing.T, body []byte, many bool) {
	t.Helper()
	msg, ids, ok := decodeSuccess(body, many)
	if !ok {
		return
	}
	code, wmsg, wids, err := decodeAnswerJSON(body, many)
	if err != nil || code != CodeOK || msg != wmsg || !reflect.DeepEqual(ids, wids) {
		t.Fatalf("decodeSuccess(%q, %v) = %q, %q; encoding/json gives %d, %q, %q, %v", body, many, msg, ids, code, wmsg, wids, err)
	}
}

func TestDecodeSuccessAgreesWithEncodingJSON(t *testing.T) {
	taken := 0
	for _, b := range successBodies {
		for _, many := range []bool{false, true} {
			checkSuccessPath(t, []byte(b), many)
			if _, _, ok := decodeSuccess([]byte(b), many); ok {
				taken++
			}
		}
	}
	if taken != 4 {
		t.Errorf("the fast path took %d bodies, want the 4 plain successes", taken)
	}
}

func FuzzDecodeSuccess(f *testing.F) {
	for _, b := range successBodies {
		f.Add([]byte(b), true)
		f.Add([]byte(b), false)
	}
	f.Fuzz(func(t *testing.T, body []byte, many bool) { checkSuccessPath(t, body, many) })
}

func BenchmarkDecodeAnswer100JSON(b *testing.B) { benchmarkDecode(b, decodeAnswerJSON) }

package event

import (
	"encoding/json"
	"strings"
	"testing"
)

var validCases = []string{
	``, ` `, `{}`, `[]`, ` {} `, `{`, `}`, `[`, `]`, `{]`, `[}`, `{"a":1}`, `{"a":1,}`, `{"a" 1}`, `{"a":}`,
	`{,}`, `[,]`, `[1,]`, `[1 2]`, `[1,2]`, `{"a":1 "b":2}`, `{"a":[1,{"b":null}],"c":"d"}`, `{1:2}`,
	`"x"`, `"`, `"\"`, `"\\"`, `"\/\b\f\n\r\t"`, `"\u00e9"`, `"\u00E9"`, `"\u00g9"`, `"\u00"`, `"\x"`,
	"\"a\tb\"", "\"a\x00b\"", "\"a\x1fb\"", "\"a\x7fb\"", "\"\xff\"",
	`0`, `-0`, `01`, `-01`, `1.`, `1.5`, `.5`, `1e5`, `1E+5`, `1e-5`, `1e`, `1e+`, `-`, `--1`, `+1`,
	`1.5e3`, `0.0`, `0e0`, `123456789012345678901234567890`, `1 2`, `-a`,
	`true`, `false`, `null`, `tru`, `nul`, `falsey`, `truex`, `nullnull`, `True`,
	`{"a":true,"b":false,"c":null}`, `[true false]`, "{\"a\":1}\n", "\t[1]\r\n", `{} {}`, `[] x`,
	`{"a":{"b":{"c":[[[]]]}}}`, `{"a":"b"}}`, `[[]]]`, `{"a":1]`, `["a":1]`,
}

func TestValidJSONIsJSONValid(t *testing.T) {
	check := func(s string) {
		t.Helper()
		if got, want := validJSON([]byte(s)), json.Valid([]byte(s)); got != want {
			t.Errorf("validJSON(%q) = %v, json.Valid says %v", s, got, want)
		}
	}
	for _, s := range validCases {
		check(s)
	}
	// Nesting: encoding/json refuses more than 10000 levels, empty
	// containers included.
	for _, n := range []int{31, 32, 33, 100, maxNestingDepth - 1, maxNestingDepth, maxNestingDepth + 1} {
		check(strings.Repeat("[", n) + strings.Repeat("]", n))
		check(strings.Repeat(`{"a":`, n-1) + "{}" + strings.Repeat("}", n-1))
		check(`{"a":` + strings.Repeat("[", n) + strings.Repeat("]", n) + "}")
	}
}

func FuzzValidJSON(f *testing.F) {
	for _, s := range validCases {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{"id":"order-4711-shipped","fromAccount":"shop","toAccounts":["alice","bob"],"msg":"Your order shipped","isStore":true}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := validJSON(b), json.Valid(b); got != want {
			t.Fatalf("validJSON(%q) = %v, json.Valid says %v", b, got, want)
		}
	})
}

var sampleEvent = []byte(`{"id":"e12-1764097200000000000","fromAccount":"shop","fromResource":"campaigns",` +
	`"toAccounts":["u12x0","u12x1","u12x2"],"msg":"Campaign 17: spring sale, 20% off everything in the shop until Sunday. ` +
	`Open the app to see your personal offers.","bizType":"PROMO","isStore":true}`)

func BenchmarkValidJSON(b *testing.B) {
	b.SetBytes(int64(len(sampleEvent)))
	for b.Loop() {
		if !validJSON(sampleEvent) {
			b.Fatal("invalid")
		}
	}
}

func BenchmarkJSONValid(b *testing.B) {
	b.SetBytes(int64(len(sampleEvent)))
	for b.Loop() {
		if !json.Valid(sampleEvent) {
			b.Fatal("invalid")
		}
	}
}

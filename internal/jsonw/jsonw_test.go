package jsonw

import (
	"encoding/json"
	"testing"
)

// FuzzAppendString holds the hand-written quoting to encoding/json's, and
// Len to its length.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "quote\"back\\slash", "\x00\x1f\t\n\r\b\f", "<&>", "\u2028\u2029", "\xff\xfe", "é日本", "\xed\xa0\x80 surrogate", "\xc3", "\x7f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendString(nil, s); string(got) != string(want) {
			t.Errorf("AppendString(%q) = %s, encoding/json gives %s", s, got, want)
		}
		if got := Len(s); got != len(want) {
			t.Errorf("Len(%q) = %d, encoding/json gives %d bytes: %s", s, got, len(want), want)
		}
	})
}

func TestLenMatchesEncodingJSON(t *testing.T) {
	cases := []string{
		"", "plain", `"quoted"`, `back\slash`, "\b\f\n\r\t", "\x00\x01\x1f\x7f",
		"<script>&amp;</script>", "héllo wörld", "日本語", "emoji 😀", "\u2028\u2029",
		"bad \xff utf8", "\xc3", "\xed\xa0\x80 surrogate",
	}
	for c := range 256 {
		cases = append(cases, string(rune(c)), string([]byte{byte(c)}))
	}
	for _, s := range cases {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := Len(s); got != len(want) {
			t.Errorf("Len(%q) = %d, want %d (%s)", s, got, len(want), want)
		}
	}
}

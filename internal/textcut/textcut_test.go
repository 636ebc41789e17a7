package textcut

import (
	"testing"
	"unicode/utf8"
)

func TestCuts(t *testing.T) {
	tests := []struct {
		name, in string
		max      int
		prefix   string
		ellipsis string
	}{
		{"a short text is kept whole", "abc", 5, "abc", "abc"},
		{"a long text is cut at max", "abcdef", 3, "abc", "abc…"},
		{"a cut never splits a character", "aé", 2, "a", "a…"},
		{"a cut at zero keeps nothing", "日本", 0, "", "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Prefix(tt.in, tt.max); got != tt.prefix || !utf8.ValidString(got) {
				t.Errorf("Prefix(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.prefix)
			}
			if got := Ellipsis(tt.in, tt.max); got != tt.ellipsis {
				t.Errorf("Ellipsis(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.ellipsis)
			}
		})
	}
}

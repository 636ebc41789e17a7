package termtext

import "testing"

func TestEscape(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain text is kept", "order-4711", "order-4711"},
		{"CJK and emoji are kept", "订单-😀", "订单-😀"},
		{"an escape sequence cannot recolour the terminal", "a\x1b[31mRED\x1b[0m", `a\x1b[31mRED\x1b[0m`},
		{"a title-setting sequence is shown, not run", "\x1b]0;pwned\a", `\x1b]0;pwned\x07`},
		{"newlines, tabs and carriage returns cannot break a row", "a\nb\tc\rd", `a\nb\tc\rd`},
		{"DEL and C1 controls are escaped", "a\x7fb\u0085c\u009bd", `a\x7fb\u0085c\u009bd`},
		{"a bidirectional override is escaped", "abc\u202etxt.exe", `abc\u202etxt.exe`},
		{"line and paragraph separators are escaped", "a\u2028b\u2029c", `a\u2028b\u2029c`},
		{"invalid UTF-8 bytes are escaped one by one", "a\xff\xfeb", `a\xff\xfeb`},
		{"a cut UTF-8 character is escaped", "ab\xe8\xae", `ab\xe8\xae`},
		{"the empty text stays empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Escape(tt.in); got != tt.want {
				t.Errorf("Escape(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestWidthAndPadding(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want int
	}{
		{"ASCII takes a column per byte", "order-1", 7},
		{"a CJK character takes two columns", "订单", 4},
		{"fullwidth letters take two columns", "ＡＢ", 4},
		{"a combining accent takes none", "e\u0301", 1},
		{"an emoji takes two", "😀", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Width(tt.in); got != tt.want {
				t.Errorf("Width(%q) = %d, want %d", tt.in, got, tt.want)
			}
			if got := Width(PadRight(tt.in, 10)); got != 10 {
				t.Errorf("PadRight(%q, 10) is %d columns wide", tt.in, got)
			}
			if got := Width(PadLeft(tt.in, 10)); got != 10 {
				t.Errorf("PadLeft(%q, 10) is %d columns wide", tt.in, got)
			}
		})
	}
	if got := PadRight("longer than four", 4); got != "longer than four" {
		t.Errorf("PadRight cut or padded a wide cell: %q", got)
	}
}

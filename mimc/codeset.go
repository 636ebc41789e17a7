package mimc

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// CodeSet is a set of integer codes (HTTP statuses or envelope codes) written
// as ranges: "429,500,502-599", where "N-" has no upper end. The zero value is
// "not set" (Config then applies its default); ParseCodeSet("") is the set
// that contains nothing, so an operator can turn retries off.
type CodeSet struct {
	ranges []codeRange
}

type codeRange struct{ lo, hi int }

// ParseCodeSet parses a comma-separated list of codes and ranges ("429",
// "500-599", "500-"). Spaces around items are ignored; an empty string is the
// empty set.
func ParseCodeSet(s string) (CodeSet, error) {
	set := CodeSet{ranges: []codeRange{}}
	if strings.TrimSpace(s) == "" {
		return set, nil
	}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return CodeSet{}, fmt.Errorf("an empty item in %q", s)
		}
		r, err := parseCodeRange(item)
		if err != nil {
			return CodeSet{}, err
		}
		set.ranges = append(set.ranges, r)
	}
	return set, nil
}

// MustParseCodeSet is ParseCodeSet for constants; it panics on a bad set.
func MustParseCodeSet(s string) CodeSet {
	set, err := ParseCodeSet(s)
	if err != nil {
		panic(err)
	}
	return set
}

// parseCodeRange reads "N", "N-M" or "N-"; its errors name the item.
func parseCodeRange(item string) (codeRange, error) {
	lo, hi, isRange := strings.Cut(item, "-")
	lo, hi = strings.TrimSpace(lo), strings.TrimSpace(hi)
	if lo == "" {
		return codeRange{}, fmt.Errorf("%q has no lower bound", item)
	}
	l, err := parseCode(item, lo)
	if err != nil {
		return codeRange{}, err
	}
	if !isRange {
		return codeRange{l, l}, nil
	}
	if hi == "" {
		return codeRange{l, math.MaxInt}, nil
	}
	h, err := parseCode(item, hi)
	if err != nil {
		return codeRange{}, err
	}
	if h < l {
		return codeRange{}, fmt.Errorf("%q: upper bound %d is below lower bound %d", item, h, l)
	}
	return codeRange{l, h}, nil
}

// parseCode reads the bound s of item: decimal digits only, no sign.
func parseCode(item, s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err == nil && s[0] >= '0' && s[0] <= '9' {
		return n, nil
	}
	if s == item {
		return 0, fmt.Errorf("%q is not a non-negative integer", s)
	}
	return 0, fmt.Errorf("%q: %q is not a non-negative integer", item, s)
}

// Contains reports whether code is in the set.
func (s CodeSet) Contains(code int) bool {
	for _, r := range s.ranges {
		if code >= r.lo && code <= r.hi {
			return true
		}
	}
	return false
}

// IsZero reports whether the set is unset (the zero value), as opposed to
// parsed from an empty list.
func (s CodeSet) IsZero() bool { return s.ranges == nil }

// String gives the set back in the form ParseCodeSet reads.
func (s CodeSet) String() string {
	var b strings.Builder
	for i, r := range s.ranges {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(r.String())
	}
	return b.String()
}

// String is the item as ParseCodeSet reads it: "N", "N-M" or "N-".
func (r codeRange) String() string {
	switch {
	case r.hi == math.MaxInt:
		return strconv.Itoa(r.lo) + "-"
	case r.hi != r.lo:
		return strconv.Itoa(r.lo) + "-" + strconv.Itoa(r.hi)
	}
	return strconv.Itoa(r.lo)
}

// MarshalText implements encoding.TextMarshaler.
func (s CodeSet) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *CodeSet) UnmarshalText(b []byte) error {
	set, err := ParseCodeSet(string(b))
	if err != nil {
		return err
	}
	*s = set
	return nil
}

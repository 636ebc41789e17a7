// Package secret holds values that must never be printed: logs, errors,
// outcomes, `config` output and panics all see "[REDACTED]".
package secret

import "fmt"

// Redacted is what every printed form of a String shows.
const Redacted = "[REDACTED]"

// String is a secret text. Only Reveal gives the value back; every other way of
// printing it (fmt verbs, JSON, text marshalling, zap) shows Redacted.
type String struct {
	// A struct, not a named string, so that a plain conversion or a
	// reflection-based printer cannot reach the value by accident.
	v string
}

// New wraps v.
func New(v string) String { return String{v: v} }

// Reveal returns the secret itself: call it only where the value is sent.
func (s String) Reveal() string { return s.v }

// IsZero reports whether no secret is set.
func (s String) IsZero() bool { return s.v == "" }

// String implements fmt.Stringer.
func (s String) String() string {
	if s.v == "" {
		return ""
	}
	return Redacted
}

// GoString implements fmt.GoStringer so %#v is redacted too.
func (s String) GoString() string { return `secret.String("` + s.String() + `")` }

// Format makes every fmt verb, %+v and %x included, print the redacted form.
func (s String) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.String())) }

// MarshalJSON implements json.Marshaler.
func (s String) MarshalJSON() ([]byte, error) { return []byte(`"` + s.String() + `"`), nil }

// MarshalText implements encoding.TextMarshaler.
func (s String) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

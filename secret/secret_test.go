package secret

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestEveryPrintedFormIsRedacted(t *testing.T) {
	const canary = "canary-s3cr3t-value"
	s := New(canary)
	holder := struct {
		Secret String
		Ptr    *String
	}{s, &s}
	forms := map[string]string{
		"%v":          fmt.Sprintf("%v", s),
		"%+v":         fmt.Sprintf("%+v", holder),
		"%#v":         fmt.Sprintf("%#v", holder),
		"%s":          fmt.Sprintf("%s", s),
		"%q":          fmt.Sprintf("%q", s),
		"%x":          fmt.Sprintf("%x", s),
		"String":      s.String(),
		"pointer %+v": fmt.Sprintf("%+v", &holder),
	}
	b, err := json.Marshal(holder)
	if err != nil {
		t.Fatal(err)
	}
	forms["json"] = string(b)
	for name, got := range forms {
		if strings.Contains(got, canary) {
			t.Errorf("%s leaks the secret: %s", name, got)
		}
	}
	if !strings.Contains(forms["json"], Redacted) {
		t.Errorf("json form %s does not say %s", forms["json"], Redacted)
	}
	if s.Reveal() != canary {
		t.Errorf("Reveal() = %q, want the value", s.Reveal())
	}
}

func TestAnEmptySecretPrintsEmpty(t *testing.T) {
	if got := fmt.Sprint(String{}); got != "" {
		t.Errorf("empty secret printed %q", got)
	}
	if !(String{}).IsZero() {
		t.Error("IsZero() = false for an empty secret")
	}
}

package mimc

import "testing"

func TestAnEmptyListRetriesNothingButTheZeroValueTakesTheDefault(t *testing.T) {
	empty, err := ParseCodeSet("")
	if err != nil {
		t.Fatal(err)
	}
	if empty.IsZero() || empty.Contains(500) {
		t.Errorf("ParseCodeSet(\"\"): IsZero %v, Contains(500) %v; want a set, empty", empty.IsZero(), empty.Contains(500))
	}
	cfg := Config{Retry: RetryPolicy{Codes: empty}}
	if err := cfg.Validate(); err == nil && cfg.Retry.Codes.Contains(500) {
		t.Error("an explicitly empty Retry.Codes was replaced by the default")
	}
	var zero Config
	zero.SetDefaults()
	if !zero.Retry.Codes.Contains(500) {
		t.Error("an unset Retry.Codes did not take the default")
	}
}

package config

import (
	"strings"
	"testing"

	"github.com/mimc-bridge/mimc-bridge/mimc"
)

// Success is never a retry class: retrying HTTP 200 pushed every message up
// to seven times and then reported it failed (issue 12, item 3).
func TestRetrySettingsRefuseSuccess(t *testing.T) {
	tests := []struct {
		scenario string
		name     string // the setting
		value    string
		errHas   string // "" when valid
	}{
		{"HTTP 200 is refused", "RETRY_HTTP_STATUSES", "200", `"200" holds a success status (2xx)`},
		{"a 2xx among others is refused", "RETRY_HTTP_STATUSES", "429,204", `"204" holds a success status (2xx)`},
		{"a range over 2xx is refused", "RETRY_HTTP_STATUSES", "100-", `"100-" holds a success status (2xx)`},
		{"a status past 599 is refused", "RETRY_HTTP_STATUSES", "429,500-700", `"500-700" is outside the HTTP statuses 100-599`},
		{"an open range of 5xx is kept", "RETRY_HTTP_STATUSES", "429,500-", ""},
		{"no status at all is kept", "RETRY_HTTP_STATUSES", " ", ""},
		{"envelope code 200 is refused", "RETRY_CODES", "200", `"200" holds 200, the code of success`},
		{"a code range over 200 is refused", "RETRY_CODES", "0-", `"0-" holds 200, the code of success`},
		{"codes around 200 are kept", "RETRY_CODES", "0-199,201-", ""},
		{"a word names the bad item", "RETRY_CODES", "429,5xx", `"5xx" is not a non-negative integer`},
		{"a signed code is refused", "RETRY_CODES", "+500", `"+500" is not a non-negative integer`},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			flag := "--" + flagName(tt.name) + "=" + tt.value
			c, err := load(t, valid(), flag)
			if err == nil {
				err = c.Validate(true)
			}
			if tt.errHas == "" {
				if err != nil {
					t.Fatalf("%s refused: %v", flag, err)
				}
				return
			}
			prefix := EnvPrefix + tt.name + " (--" + flagName(tt.name) + "): "
			if err == nil || !strings.Contains(err.Error(), prefix) || !strings.Contains(err.Error(), tt.errHas) {
				t.Fatalf("%s: err = %v, want one starting %q and saying %s", flag, err, prefix, tt.errHas)
			}
		})
	}
}

// The settings parse the retry lists once, into what the client uses, and
// take their defaults from the client's policy.
func TestRetrySettingsAreTheClientsPolicy(t *testing.T) {
	c, err := load(t, valid(), "--retry-codes", " 429 , 500 - 599 ")
	if err != nil {
		t.Fatal(err)
	}
	if !c.RetryCodes.Contains(550) || c.RetryCodes.Contains(600) || c.RetryCodes.String() != "429,500-599" {
		t.Errorf("RETRY_CODES = %s, want 429,500-599", c.RetryCodes)
	}
	def := mimc.DefaultRetryPolicy()
	d := Default()
	if d.RetryHTTPStatuses.String() != def.HTTPStatuses.String() || d.RetryCodes.String() != def.Codes.String() ||
		d.RetryMaxElapsed != def.MaxElapsed {
		t.Errorf("defaults %s, %s, %s differ from the client's %s, %s, %s", d.RetryHTTPStatuses, d.RetryCodes,
			d.RetryMaxElapsed, def.HTTPStatuses, def.Codes, def.MaxElapsed)
	}
}

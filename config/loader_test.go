package config

import (
	"flag"
	"io"
	"strings"
	"testing"
)

func TestAnEmptyEnvironmentVariableSetsASettingWhoseEmptyValueMeansSomething(t *testing.T) {
	tests := []struct {
		scenario string
		env      map[string]string
		args     []string
		want     string
	}{
		{"HTTP_ADDR empty in the environment: no HTTP server", map[string]string{"MIMC_BRIDGE_HTTP_ADDR": ""}, nil, ""},
		{"HTTP_ADDR empty as a flag: no HTTP server", nil, []string{"--http-addr="}, ""},
		{"HTTP_ADDR unset: the default", nil, nil, ":8080"},
		{"a flag still wins over the empty variable", map[string]string{"MIMC_BRIDGE_HTTP_ADDR": ""}, []string{"--http-addr=:9090"}, ":9090"},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			c, err := load(t, tt.env, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			if c.HTTPAddr != tt.want {
				t.Errorf("HTTP_ADDR = %q, want %q", c.HTTPAddr, tt.want)
			}
		})
	}
}

func TestEverySettingWhoseHelpSaysWhatEmptyMeansTakesAnEmptyEnvironmentVariable(t *testing.T) {
	// The documented rule: an empty variable counts as unset unless the
	// setting says what empty means. A setting without a default has
	// nothing to fall back to, so for it the two readings agree.
	for _, s := range table {
		says := strings.Contains(s.help, "(empty:")
		if s.def != "" && says != s.emptyIsValue {
			t.Errorf("%s: its help says what empty means: %v, but an empty variable sets it: %v", s.name, says, s.emptyIsValue)
		}
	}
}

func TestACommandCanUseOnlySomeSettings(t *testing.T) {
	fs := flag.NewFlagSet("outcomes", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	e := env(map[string]string{
		"MIMC_BRIDGE_KAFKA_BROKERS": "k:9092",
		"MIMC_BRIDGE_BATCH_LINGER":  "not a duration", // not one of its settings: ignored
	})
	ld := RegisterOnly(fs, e, "KAFKA_BROKERS", "RESULTS_TOPIC")
	if fs.Lookup("batch-linger") != nil || fs.Lookup("results-topic") == nil {
		t.Fatalf("RegisterOnly registered the wrong flags")
	}
	if err := fs.Parse([]string{"--results-topic", "r"}); err != nil {
		t.Fatal(err)
	}
	c, err := ld.Config()
	if err != nil {
		t.Fatalf("a setting the command does not use was read: %v", err)
	}
	if c.ResultsTopic != "r" || len(c.KafkaBrokers) != 1 || c.BatchLinger != Default().BatchLinger {
		t.Errorf("config %+v", c)
	}
	if !ld.Given("KAFKA_BROKERS") || !ld.Given("RESULTS_TOPIC") || ld.Given("BATCH_LINGER") || ld.Given("NO_SUCH_SETTING") {
		t.Errorf("Given disagrees with what was given")
	}
}

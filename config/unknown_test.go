package config

import (
	"reflect"
	"strings"
	"testing"
)

// anySetting in a wanted Unknown accepts whichever setting is closest.
const anySetting = "*"

func TestUnknownEnvNamesTheClosestSetting(t *testing.T) {
	for _, tt := range []struct {
		scenario string
		environ  []string
		want     []Unknown
	}{
		{"a plural written singular", []string{"MIMC_BRIDGE_KAFKA_TOPIC=orders"},
			[]Unknown{{"MIMC_BRIDGE_KAFKA_TOPIC", "MIMC_BRIDGE_KAFKA_TOPICS"}}},
		{"a setting in the wrong case", []string{"MIMC_BRIDGE_RATE_P2p=500"},
			[]Unknown{{"MIMC_BRIDGE_RATE_P2p", "MIMC_BRIDGE_RATE_P2P"}}},
		{"a prefix in the wrong case", []string{"mimc_bridge_log_level=debug"},
			[]Unknown{{"mimc_bridge_log_level", "MIMC_BRIDGE_LOG_LEVEL"}}},
		{"a transposition", []string{"MIMC_BRIDGE_BATCH_LINGRE=1s"},
			[]Unknown{{"MIMC_BRIDGE_BATCH_LINGRE", "MIMC_BRIDGE_BATCH_LINGER"}}},
		{"a missing letter", []string{"MIMC_BRIDGE_RETRY_MAX_ELAPSD=1m"},
			[]Unknown{{"MIMC_BRIDGE_RETRY_MAX_ELAPSD", "MIMC_BRIDGE_RETRY_MAX_ELAPSED"}}},
		{"several, sorted by name, each once",
			[]string{"MIMC_BRIDGE_URGENT_TOPIC=a", "MIMC_BRIDGE_HTTP_ADR=:1", "MIMC_BRIDGE_URGENT_TOPIC=a"},
			[]Unknown{{"MIMC_BRIDGE_HTTP_ADR", "MIMC_BRIDGE_HTTP_ADDR"}, {"MIMC_BRIDGE_URGENT_TOPIC", "MIMC_BRIDGE_URGENT_TOPICS"}}},
		{"settings, other programs' variables and empty ones are not unknown",
			[]string{"MIMC_BRIDGE_KAFKA_TOPICS=a", "MIMC_BRIDGE_RATE_P2P=5", "PATH=/bin", "OTEL_EXPORTER_OTLP_ENDPOINT=x", "MIMC_BRIDGE_KAFKA_TOPIC=", "MIMC_BRIDGE_NOVALUE"},
			nil},
		{"the integration tests' harness variables are not settings",
			[]string{"MIMC_BRIDGE_IT_BROKERS=k:9092", "MIMC_BRIDGE_IT_KAFKA=container", "MIMC_BRIDGE_IT_DUMP_LOGS=1", "MIMC_BRIDGE_IT_KAFKA_VERSION=4.1.0"},
			nil},
		{"the Kubernetes service links of the mimc-bridge Service are not settings",
			[]string{"MIMC_BRIDGE_SERVICE_HOST=10.0.0.7", "MIMC_BRIDGE_SERVICE_PORT=8080", "MIMC_BRIDGE_SERVICE_PORT_HTTP=8080",
				"MIMC_BRIDGE_PORT=tcp://10.0.0.7:8080", "MIMC_BRIDGE_PORT_8080_TCP=tcp://10.0.0.7:8080", "MIMC_BRIDGE_PORT_8080_TCP_PROTO=tcp",
				"MIMC_BRIDGE_PORT_8080_TCP_PORT=8080", "MIMC_BRIDGE_PORT_8080_TCP_ADDR=10.0.0.7"},
			nil},
		{"a name that only resembles a service link is unknown", []string{"MIMC_BRIDGE_PORTS=8080"},
			[]Unknown{{"MIMC_BRIDGE_PORTS", anySetting}}},
	} {
		t.Run(tt.scenario, func(t *testing.T) {
			got := UnknownEnv(tt.environ)
			for i := range got {
				if i < len(tt.want) && tt.want[i].Closest == anySetting {
					got[i].Closest = anySetting
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestAnUnknownVariablesWarningNeverShowsItsValue(t *testing.T) {
	got := UnknownEnv([]string{"MIMC_BRIDGE_MIMC_APP_SECRT=hunter2-app-secret"})
	if len(got) != 1 || got[0].Closest != "MIMC_BRIDGE_MIMC_APP_SECRET" {
		t.Fatalf("got %v", got)
	}
	if s := got[0].String(); strings.Contains(s, "hunter2") || !strings.Contains(s, "did you mean MIMC_BRIDGE_MIMC_APP_SECRET?") {
		t.Errorf("warning %q", s)
	}
}

func TestNoSettingLooksLikeAVariableUnknownEnvPassesOver(t *testing.T) {
	for _, s := range table {
		if strings.HasPrefix(EnvPrefix+s.name, TestEnvPrefix) || serviceLink.MatchString(s.name) ||
			strings.HasPrefix(s.name, "SERVICE_") || strings.HasPrefix(s.name, "PORT") {
			t.Errorf("setting %s would be passed over as a test harness variable or a Kubernetes service link", s.name)
		}
	}
}

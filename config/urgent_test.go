package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestUrgentTopicsAndEventTTL(t *testing.T) {
	for _, tt := range []struct {
		scenario string
		env      map[string]string
		args     []string
		check    func(c Config) bool
		err      string // "" when valid
	}{
		{"by default no topic is urgent and no event expires", nil, nil,
			func(c Config) bool { return c.UrgentTopics == nil && c.EventTTL == 0 }, ""},
		{"urgent topics among the input topics are accepted",
			map[string]string{"MIMC_BRIDGE_KAFKA_TOPICS": "mimc.push,mimc.urgent,mimc.otp"}, []string{"--urgent-topics", "mimc.otp, mimc.urgent"},
			func(c Config) bool { return reflect.DeepEqual(c.UrgentTopics, []string{"mimc.otp", "mimc.urgent"}) }, ""},
		{"an urgent topic that is not an input topic is refused and the input topics are named",
			map[string]string{"MIMC_BRIDGE_KAFKA_TOPICS": "mimc.push,mimc.urgent", "MIMC_BRIDGE_URGENT_TOPICS": "mimc.urgnet"}, nil, nil,
			`MIMC_BRIDGE_URGENT_TOPICS (--urgent-topics): "mimc.urgnet" is not an input topic: each urgent topic must be one of KAFKA_TOPICS (mimc.push,mimc.urgent)`},
		{"EVENT_TTL parses as a duration", nil, []string{"--event-ttl", "90s"},
			func(c Config) bool { return c.EventTTL == 90*time.Second }, ""},
		{"EVENT_TTL of thirty days is the longest", map[string]string{"MIMC_BRIDGE_EVENT_TTL": "720h"}, nil,
			func(c Config) bool { return c.EventTTL == 720*time.Hour }, ""},
		{"EVENT_TTL past thirty days is refused", map[string]string{"MIMC_BRIDGE_EVENT_TTL": "721h"}, nil, nil,
			"MIMC_BRIDGE_EVENT_TTL (--event-ttl): must be between 0 (none) and 720h0m0s (30 days, as an event's ttl), got 721h0m0s"},
		{"a negative EVENT_TTL is refused", nil, []string{"--event-ttl=-1s"}, nil, "MIMC_BRIDGE_EVENT_TTL (--event-ttl): must be between 0"},
		{"an EVENT_TTL without a unit is refused", nil, []string{"--event-ttl=60"}, nil, "MIMC_BRIDGE_EVENT_TTL (--event-ttl): must be a duration"},
	} {
		t.Run(tt.scenario, func(t *testing.T) {
			e := valid()
			for k, v := range tt.env {
				e[k] = v
			}
			c, err := load(t, e, tt.args...)
			if err == nil {
				err = c.Validate(true)
			}
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Errorf("unexpected config %+v", c)
			}
			var out strings.Builder
			c.Print(&out)
			for _, s := range []string{"\nURGENT_TOPICS=" + strings.Join(c.UrgentTopics, ",") + "\n", "\nEVENT_TTL=" + c.EventTTL.String() + "\n"} {
				if !strings.Contains(out.String(), s) {
					t.Errorf("Print lacks %q:\n%s", s, out.String())
				}
			}
		})
	}
}

func TestATopicListedTwiceIsRefusedNamingTheSettingAndTheTopic(t *testing.T) {
	for _, tt := range []struct {
		scenario string
		env      map[string]string
		args     []string
		want     []string // each must be in the error
	}{
		{"an input topic listed twice", map[string]string{"MIMC_BRIDGE_KAFKA_TOPICS": "a,b,a"}, nil,
			[]string{`MIMC_BRIDGE_KAFKA_TOPICS (--kafka-topics): "a" is listed more than once`}},
		{"an input topic listed twice with spaces, by flag", nil, []string{"--kafka-topics", "mimc.push, mimc.push"},
			[]string{`MIMC_BRIDGE_KAFKA_TOPICS (--kafka-topics): "mimc.push" is listed more than once`}},
		{"an urgent topic listed twice", map[string]string{"MIMC_BRIDGE_KAFKA_TOPICS": "a,u"}, []string{"--urgent-topics", "u,u"},
			[]string{`MIMC_BRIDGE_URGENT_TOPICS (--urgent-topics): "u" is listed more than once`}},
		{"each repeated topic is named once", map[string]string{"MIMC_BRIDGE_KAFKA_TOPICS": "a,b,a,b,a"}, nil,
			[]string{`"a" is listed more than once`, `"b" is listed more than once`}},
	} {
		t.Run(tt.scenario, func(t *testing.T) {
			e := valid()
			for k, v := range tt.env {
				e[k] = v
			}
			c, err := load(t, e, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			err = c.Validate(false)
			if err == nil {
				t.Fatalf("accepted: topics %q, urgent %q", c.KafkaTopics, c.UrgentTopics)
			}
			for _, want := range tt.want {
				if strings.Count(err.Error(), want) != 1 {
					t.Errorf("error %q, want %q once", err, want)
				}
			}
		})
	}
	t.Run("a topic both input and urgent is what URGENT_TOPICS means", func(t *testing.T) {
		e := valid()
		e["MIMC_BRIDGE_KAFKA_TOPICS"], e["MIMC_BRIDGE_URGENT_TOPICS"] = "a,u", "u"
		c, err := load(t, e)
		if err == nil {
			err = c.Validate(true)
		}
		if err != nil {
			t.Fatal(err)
		}
	})
}

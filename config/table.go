package config

import (
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mimc-bridge/mimc-bridge/internal/textcut"
	"github.com/mimc-bridge/mimc-bridge/mimc"
	"github.com/mimc-bridge/mimc-bridge/secret"
)

// setting is one row of the table: the only place a setting is described.
type setting struct {
	name   string
	def    string // default, in environment syntax
	help   string
	secret bool
	isBool bool
	// emptyIsValue: an empty environment variable sets the setting to
	// empty (its help says what that means) instead of counting as unset.
	emptyIsValue bool
	parse        func(c *Config, v string) error // v is never echoed for a secret
	format       func(c *Config) string          // for Print; secrets redacted
}

// table lists the settings in the documented order.
var table = []setting{
	listSetting("KAFKA_BROKERS", "", "comma-separated host:port of the Kafka brokers (required for run)", func(c *Config) *[]string { return &c.KafkaBrokers }),
	listSetting("KAFKA_TOPICS", "mimc.push", "comma-separated input topics, each listed once", func(c *Config) *[]string { return &c.KafkaTopics }),
	stringSetting("KAFKA_GROUP_ID", "mimc-bridge", "consumer group", func(c *Config) *string { return &c.KafkaGroupID }),
	stringSetting("RESULTS_TOPIC", "mimc.push.results", "outcome topic", func(c *Config) *string { return &c.ResultsTopic }),
	boolSetting("KAFKA_TLS", "false", "TLS to the brokers", func(c *Config) *bool { return &c.KafkaTLS }),
	stringSetting("KAFKA_TLS_CA_FILE", "", "PEM file of the CAs that sign the brokers' certificates (default: the system's); needs KAFKA_TLS", func(c *Config) *string { return &c.KafkaTLSCAFile }),
	lowerSetting("KAFKA_SASL_MECHANISM", "", "SASL mechanism: plain, scram-sha-256 or scram-sha-512 (empty: no SASL)", func(c *Config) *string { return &c.KafkaSASLMechanism }),
	stringSetting("KAFKA_SASL_USERNAME", "", "SASL user name", func(c *Config) *string { return &c.KafkaSASLUsername }),
	secretSetting("KAFKA_SASL_PASSWORD", "SASL password (secret)", func(c *Config) *secret.String { return &c.KafkaSASLPassword }),
	urlSetting("MIMC_URL", "https://mimc.chat.xiaomi.net", "base URL of the MIMC API", func(c *Config) *string { return &c.MIMCURL }),
	stringSetting("MIMC_APP_ID", "", "MIMC app id (required for run)", func(c *Config) *string { return &c.MIMCAppID }),
	stringSetting("MIMC_APP_KEY", "", "MIMC app key (required for run)", func(c *Config) *string { return &c.MIMCAppKey }),
	secretSetting("MIMC_APP_SECRET", "MIMC app secret (secret; required for run unless MIMC_APP_SECRET_FILE is set)", func(c *Config) *secret.String { return &c.MIMCAppSecret }),
	stringSetting("MIMC_APP_SECRET_FILE", "", "file holding the MIMC app secret (a trailing newline is ignored); not together with MIMC_APP_SECRET", func(c *Config) *string { return &c.MIMCAppSecretFile }),
	stringSetting("FROM_RESOURCE", "mimc-bridge", "fromResource when an event has none", func(c *Config) *string { return &c.FromResource }),
	intSetting("BATCH_MAX_RECIPIENTS", "100", "largest toAccounts/topicIds list per call (1 to 1000)", func(c *Config) *int { return &c.BatchMaxRecipients }),
	durationSetting("BATCH_LINGER", "50ms", "longest wait for more recipients of the same message (0: no wait)", func(c *Config) *time.Duration { return &c.BatchLinger }),
	intSetting("MAX_PENDING_EVENTS", "10000", "events held in memory before fetching pauses", func(c *Config) *int { return &c.MaxPendingEvents }),
	bytesSetting("MAX_PENDING_BYTES", "24MiB", "bytes of pending events held in memory before fetching pauses, with MAX_PENDING_EVENTS (whichever comes first): each event counts its record value plus about 2 KiB the bridge holds for it; the default keeps the process within 128 MiB (a number of bytes, or with a KiB, MiB or GiB suffix)", func(c *Config) *int { return &c.MaxPendingBytes }),
	intSetting("MAX_CONCURRENT_CALLS", "256", "upper bound of MIMC calls in flight: within it the number adapts to MIMC's latency and answers", func(c *Config) *int { return &c.MaxConcurrentCalls }),
	floatSetting("RATE_P2P", "0", "the app's MIMC p2p quota in recipients per second, for the whole consumer group: each member sends its share (quota × its input partitions / all input partitions), less while MIMC answers 429 (0: no limit)", func(c *Config) *float64 { return &c.RateP2P }),
	floatSetting("RATE_P2T", "0", "the app's MIMC p2t quota in recipients per second, for the whole consumer group, shared as RATE_P2P (0: no limit)", func(c *Config) *float64 { return &c.RateP2T }),
	listSetting("URGENT_TOPICS", "", "input topics, among KAFKA_TOPICS and each listed once, whose events go ahead of all others: pending room of their own, sent first, the quota first", func(c *Config) *[]string { return &c.UrgentTopics }),
	listSetting("ORDERED_TOPICS", "", "input topics, among KAFKA_TOPICS and each listed once, whose events with the same record key reach MIMC in offset order per partition: an event waits until the earlier one of its key has its outcome", func(c *Config) *[]string { return &c.OrderedTopics }),
	durationSetting("DEDUP_WINDOW", "10m", "an event whose id already has a delivered outcome from this group within this window is not pushed again: its outcome is duplicate (0: off; at most 720h)", func(c *Config) *time.Duration { return &c.DedupWindow }),
	intSetting("DEDUP_MAX_IDS", "1000000", "the most delivered ids the dedup window remembers (32 bytes each, off the Go heap); past it the oldest are forgotten first", func(c *Config) *int { return &c.DedupMaxIDs }),
	durationSetting("EVENT_TTL", "0s", "time to live of an event without a ttl of its own, from its record's timestamp: an expired event is not sent (0: none; at most 720h)", func(c *Config) *time.Duration { return &c.EventTTL }),
	durationSetting("HTTP_TIMEOUT", "10s", "timeout of one MIMC call", func(c *Config) *time.Duration { return &c.HTTPTimeout }),
	durationSetting("RETRY_MAX_ELAPSED", shortDuration(mimc.DefaultRetryMaxElapsed), "how long a call is retried before its recipients fail", func(c *Config) *time.Duration { return &c.RetryMaxElapsed }),
	intSetting("MAX_MSG_BYTES", "10240", "largest msg after base64 decoding, in bytes", func(c *Config) *int { return &c.MaxMsgBytes }),
	emptyIsValue(stringSetting("HTTP_ADDR", ":8080", "listen address of /metrics, /healthz and /readyz (empty: no HTTP server)", func(c *Config) *string { return &c.HTTPAddr })),
	lowerSetting("LOG_LEVEL", "info", "log level: debug, info, warn or error", func(c *Config) *string { return &c.LogLevel }),
	lowerSetting("LOG_FORMAT", "json", "log format: json or console", func(c *Config) *string { return &c.LogFormat }),
	intSetting("MAX_EVENT_RECIPIENTS", "10000", "an event with more unique recipients is rejected", func(c *Config) *int { return &c.MaxEventRecipients }),
	codeSetSetting("RETRY_HTTP_STATUSES", mimc.DefaultRetryHTTPStatuses, "HTTP statuses that are retried: comma-separated N, N-M or N- (N and up) items", func(c *Config) *mimc.CodeSet { return &c.RetryHTTPStatuses }),
	codeSetSetting("RETRY_CODES", mimc.DefaultRetryCodes, "MIMC envelope codes that are retried: comma-separated N, N-M or N- (N and up) items", func(c *Config) *mimc.CodeSet { return &c.RetryCodes }),
	durationSetting("SHUTDOWN_TIMEOUT", "30s", "graceful shutdown deadline", func(c *Config) *time.Duration { return &c.ShutdownTimeout }),
	durationSetting("KAFKA_SESSION_TIMEOUT", "30s", "consumer group session timeout: a member silent this long loses its partitions; a revocation drains within two thirds of it", func(c *Config) *time.Duration { return &c.KafkaSessionTimeout }),
	durationSetting("STALL_TIMEOUT", "0s", "events pending and no outcome written for this long marks the bridge stalled (/readyz 503, mimc_bridge_stalled 1); 0: RETRY_MAX_ELAPSED + HTTP_TIMEOUT + 1m", func(c *Config) *time.Duration { return &c.StallTimeout }),
}

// emptyIsValue marks a setting whose empty value means something (its help
// says what, as "(empty: …)"), so that an empty environment variable sets it.
func emptyIsValue(s setting) setting {
	s.emptyIsValue = true
	return s
}

// quote shows a (non-secret) bad value, shortened.
func quote(v string) string { return strconv.Quote(textcut.Ellipsis(v, 64)) }

func stringSetting(name, def, help string, field func(*Config) *string) setting {
	return setting{name: name, def: def, help: help,
		parse:  func(c *Config, v string) error { *field(c) = strings.TrimSpace(v); return nil },
		format: func(c *Config) string { return *field(c) },
	}
}

// urlSetting is a string setting printed without a password in the URL.
func urlSetting(name, def, help string, field func(*Config) *string) setting {
	s := stringSetting(name, def, help, field)
	s.format = func(c *Config) string {
		if u, err := url.Parse(*field(c)); err == nil && u.User != nil {
			return u.Redacted()
		}
		return *field(c)
	}
	return s
}

// lowerSetting is a string setting normalised to lower case.
func lowerSetting(name, def, help string, field func(*Config) *string) setting {
	s := stringSetting(name, def, help, field)
	s.parse = func(c *Config, v string) error { *field(c) = strings.ToLower(strings.TrimSpace(v)); return nil }
	return s
}

func secretSetting(name, help string, field func(*Config) *secret.String) setting {
	return setting{name: name, help: help, secret: true,
		parse:  func(c *Config, v string) error { *field(c) = secret.New(v); return nil },
		format: func(c *Config) string { return field(c).String() },
	}
}

func listSetting(name, def, help string, field func(*Config) *[]string) setting {
	return setting{name: name, def: def, help: help,
		parse:  func(c *Config, v string) error { *field(c) = splitList(v); return nil },
		format: func(c *Config) string { return strings.Join(*field(c), ",") },
	}
}

// splitList splits a comma-separated list, trimming spaces and dropping empty items.
func splitList(v string) []string {
	var out []string
	for item := range strings.SplitSeq(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func boolSetting(name, def, help string, field func(*Config) *bool) setting {
	return setting{name: name, def: def, help: help, isBool: true,
		parse: func(c *Config, v string) error {
			switch strings.ToLower(strings.TrimSpace(v)) {
			case "1", "t", "true", "yes", "on":
				*field(c) = true
			case "0", "f", "false", "no", "off":
				*field(c) = false
			default:
				return settingErr(name, "must be true or false, got %s", quote(v))
			}
			return nil
		},
		format: func(c *Config) string { return strconv.FormatBool(*field(c)) },
	}
}

func intSetting(name, def, help string, field func(*Config) *int) setting {
	return setting{name: name, def: def, help: help,
		parse: func(c *Config, v string) error {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				return settingErr(name, "must be a whole number, got %s", quote(v))
			}
			*field(c) = n
			return nil
		},
		format: func(c *Config) string { return strconv.Itoa(*field(c)) },
	}
}

// bytesSetting is a size in bytes: a whole number, or one with a KiB, MiB or
// GiB suffix (powers of 1024). It prints with the largest suffix that
// divides it.
func bytesSetting(name, def, help string, field func(*Config) *int) setting {
	return setting{name: name, def: def, help: help,
		parse: func(c *Config, v string) error {
			n, ok := parseBytes(v)
			if !ok {
				return settingErr(name, "must be a number of bytes such as 16777216, 16384KiB or 16MiB, got %s", quote(v))
			}
			*field(c) = n
			return nil
		},
		format: func(c *Config) string { return formatBytes(*field(c)) },
	}
}

var byteUnits = []struct {
	suffix string
	size   int
}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}}

func parseBytes(v string) (int, bool) {
	v = strings.TrimSpace(v)
	unit := 1
	for _, u := range byteUnits {
		if rest, ok := strings.CutSuffix(v, u.suffix); ok {
			v, unit = strings.TrimSpace(rest), u.size
			break
		}
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > math.MaxInt/unit {
		return 0, false
	}
	return n * unit, true
}

func formatBytes(n int) string {
	for _, u := range byteUnits {
		if n != 0 && n%u.size == 0 {
			return strconv.Itoa(n/u.size) + u.suffix
		}
	}
	return strconv.Itoa(n)
}

func floatSetting(name, def, help string, field func(*Config) *float64) setting {
	return setting{name: name, def: def, help: help,
		parse: func(c *Config, v string) error {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				return settingErr(name, "must be a number, got %s", quote(v))
			}
			*field(c) = f
			return nil
		},
		format: func(c *Config) string { return strconv.FormatFloat(*field(c), 'g', -1, 64) },
	}
}

func durationSetting(name, def, help string, field func(*Config) *time.Duration) setting {
	return setting{name: name, def: def, help: help,
		parse: func(c *Config, v string) error {
			d, err := time.ParseDuration(strings.TrimSpace(v))
			if err != nil {
				return settingErr(name, "must be a duration such as 50ms, 10s or 2m, got %s", quote(v))
			}
			*field(c) = d
			return nil
		},
		format: func(c *Config) string { return (*field(c)).String() },
	}
}

// codeSetSetting is a list of codes and ranges (RETRY_* settings), parsed
// once here into the mimc.CodeSet the client uses; Validate checks what the
// codes may be.
func codeSetSetting(name, def, help string, field func(*Config) *mimc.CodeSet) setting {
	return setting{name: name, def: def, help: help,
		parse: func(c *Config, v string) error {
			set, err := mimc.ParseCodeSet(v)
			if err != nil {
				return settingErr(name, "%v (want a comma-separated list of N, N-M or N- items)", err)
			}
			*field(c) = set
			return nil
		},
		format: func(c *Config) string { return field(c).String() },
	}
}

// shortDuration writes a default as an operator would: "2m", not "2m0s".
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mimc-bridge/mimc-bridge/internal/capool"
	"github.com/mimc-bridge/mimc-bridge/internal/smallfile"
	"github.com/mimc-bridge/mimc-bridge/mimc"
)

// MinAppSecretLen is the shortest app secret accepted.
const MinAppSecretLen = 16

// Validate checks every setting and returns all problems joined, each an
// *Error naming its setting. With forRun it also requires what the bridge
// needs to run: KAFKA_BROKERS, MIMC_APP_ID, MIMC_APP_KEY and MIMC_APP_SECRET
// (or MIMC_APP_SECRET_FILE). It reads KAFKA_TLS_CA_FILE, and
// MIMC_APP_SECRET_FILE when Load has not read it.
func (c Config) Validate(forRun bool) error {
	var errs []error
	add := func(name, format string, args ...any) {
		errs = append(errs, settingErr(name, format, args...))
	}
	c.validateKafka(forRun, add)
	if err := c.validateMIMC(forRun, add); err != nil {
		errs = append(errs, err)
	}
	for _, l := range limits {
		if err := l.check(&c); err != nil {
			errs = append(errs, err)
		}
	}
	if c.HTTPAddr != "" {
		if msg := checkHostPort(c.HTTPAddr, true); msg != "" {
			add("HTTP_ADDR", "%s: %s", quote(c.HTTPAddr), msg)
		}
	}
	return errors.Join(errs...)
}

// limits bounds the settings whose value alone decides whether it is valid,
// in the documented order of their sections (batching, limits, timing,
// operations). Each is checked in one loop by Validate.
var limits = [...]interface{ check(*Config) error }{
	between("BATCH_MAX_RECIPIENTS", 1, 1000, func(c *Config) int { return c.BatchMaxRecipients }),
	atLeast("MAX_PENDING_EVENTS", 1, func(c *Config) int { return c.MaxPendingEvents }),
	byteFloor{"MAX_PENDING_BYTES", 1 << 20, func(c *Config) int { return c.MaxPendingBytes }},
	between("MAX_CONCURRENT_CALLS", 1, 10000, func(c *Config) int { return c.MaxConcurrentCalls }),
	atLeast("MAX_MSG_BYTES", 1, func(c *Config) int { return c.MaxMsgBytes }),
	atLeast("MAX_EVENT_RECIPIENTS", 1, func(c *Config) int { return c.MaxEventRecipients }),
	between("DEDUP_MAX_IDS", 1, maxDedupIDs, func(c *Config) int { return c.DedupMaxIDs }),
	bounds[time.Duration]{"BATCH_LINGER", 0, maxDuration, func(c *Config) time.Duration { return c.BatchLinger },
		"must not be negative"},
	bounds[time.Duration]{"HTTP_TIMEOUT", 1, maxDuration, func(c *Config) time.Duration { return c.HTTPTimeout },
		"must be positive"},
	bounds[time.Duration]{"RETRY_MAX_ELAPSED", 1, maxDuration, func(c *Config) time.Duration { return c.RetryMaxElapsed },
		"must be positive"},
	bounds[time.Duration]{"SHUTDOWN_TIMEOUT", 1, maxDuration, func(c *Config) time.Duration { return c.ShutdownTimeout },
		"must be positive"},
	bounds[time.Duration]{"KAFKA_SESSION_TIMEOUT", 6 * time.Second, 30 * time.Minute, func(c *Config) time.Duration { return c.KafkaSessionTimeout },
		"must be between 6s and 30m (the broker's usual bounds)"},
	bounds[time.Duration]{"DEDUP_WINDOW", 0, maxEventTTL, func(c *Config) time.Duration { return c.DedupWindow },
		"must be between 0 (off) and " + maxEventTTL.String()},
	bounds[time.Duration]{"EVENT_TTL", 0, maxEventTTL, func(c *Config) time.Duration { return c.EventTTL },
		"must be between 0 (none) and " + maxEventTTL.String() + " (30 days, as an event's ttl)"},
	bounds[time.Duration]{"STALL_TIMEOUT", 0, maxDuration, func(c *Config) time.Duration { return c.StallTimeout },
		"must not be negative (0: RETRY_MAX_ELAPSED + HTTP_TIMEOUT + 1m)"},
	bounds[float64]{"RATE_P2P", 0, math.Inf(1), func(c *Config) float64 { return c.RateP2P },
		"must not be negative (0: no limit)"},
	bounds[float64]{"RATE_P2T", 0, math.Inf(1), func(c *Config) float64 { return c.RateP2T },
		"must not be negative (0: no limit)"},
	oneOf{"LOG_LEVEL", []string{"debug", "info", "warn", "error"}, func(c *Config) string { return c.LogLevel }},
	oneOf{"LOG_FORMAT", []string{"json", "console"}, func(c *Config) string { return c.LogFormat }},
}

// bounds limits a numeric setting to lo..hi, both included. want is the
// error's text, which goes on ", got <value>".
type bounds[T int | time.Duration | float64] struct {
	name   string
	lo, hi T
	get    func(*Config) T
	want   string
}

func (b bounds[T]) check(c *Config) error {
	if v := b.get(c); !(v >= b.lo && v <= b.hi) { // also NaN
		return settingErr(b.name, "%s, got %v", b.want, v)
	}
	return nil
}

// between bounds a whole-number setting to lo..hi.
func between(name string, lo, hi int, get func(*Config) int) bounds[int] {
	return bounds[int]{name, lo, hi, get, fmt.Sprintf("must be between %d and %d", lo, hi)}
}

// atLeast bounds a whole-number setting from below only.
func atLeast(name string, lo int, get func(*Config) int) bounds[int] {
	return bounds[int]{name, lo, maxInt, get, fmt.Sprintf("must be at least %d", lo)}
}

// byteFloor bounds a size in bytes from below, both written as sizes.
type byteFloor struct {
	name string
	lo   int
	get  func(*Config) int
}

func (b byteFloor) check(c *Config) error {
	if v := b.get(c); v < b.lo {
		return settingErr(b.name, "must be at least %s, got %s", formatBytes(b.lo), formatBytes(v))
	}
	return nil
}

// oneOf limits a word setting to the values allowed.
type oneOf struct {
	name    string
	allowed []string
	get     func(*Config) string
}

func (o oneOf) check(c *Config) error {
	if v := o.get(c); !slices.Contains(o.allowed, v) {
		last := len(o.allowed) - 1
		return settingErr(o.name, "must be %s or %s, got %s", strings.Join(o.allowed[:last], ", "), o.allowed[last], quote(v))
	}
	return nil
}

// validateKafka checks the Kafka settings: brokers, topics, group, TLS and SASL.
func (c *Config) validateKafka(forRun bool, add func(name, format string, args ...any)) {
	if forRun && len(c.KafkaBrokers) == 0 {
		add("KAFKA_BROKERS", "required: comma-separated host:port")
	}
	for _, b := range c.KafkaBrokers {
		if msg := checkHostPort(b, false); msg != "" {
			add("KAFKA_BROKERS", "%s: %s", quote(b), msg)
		}
	}
	if len(c.KafkaTopics) == 0 {
		add("KAFKA_TOPICS", "at least one topic is required")
	}
	for _, t := range c.KafkaTopics {
		if msg := checkTopic(t); msg != "" {
			add("KAFKA_TOPICS", "%s: %s", quote(t), msg)
		}
	}
	// A topic listed twice is read twice: the member counts its partitions
	// twice (a wrong quota share) and the broker refuses the join.
	for _, t := range repeated(c.KafkaTopics) {
		add("KAFKA_TOPICS", "%s is listed more than once", quote(t))
	}
	for _, sub := range [...]struct {
		name, what string
		topics     []string
	}{
		{"URGENT_TOPICS", "urgent", c.UrgentTopics}, {"ORDERED_TOPICS", "ordered", c.OrderedTopics},
	} {
		for _, t := range repeated(sub.topics) {
			add(sub.name, "%s is listed more than once", quote(t))
		}
		for _, t := range sub.topics {
			if !slices.Contains(c.KafkaTopics, t) {
				add(sub.name, "%s is not an input topic: each %s topic must be one of KAFKA_TOPICS (%s)", quote(t), sub.what, strings.Join(c.KafkaTopics, ","))
			}
		}
	}
	if c.KafkaGroupID == "" {
		add("KAFKA_GROUP_ID", "must not be empty")
	}
	// Names, ids and paths are printed by `config` and logged: a control
	// character in one (a newline forging a line, an escape sequence) is
	// never what was meant.
	for _, f := range [...]struct{ name, v string }{
		{"KAFKA_GROUP_ID", c.KafkaGroupID}, {"KAFKA_TLS_CA_FILE", c.KafkaTLSCAFile},
		{"KAFKA_SASL_USERNAME", c.KafkaSASLUsername}, {"MIMC_APP_ID", c.MIMCAppID}, {"MIMC_APP_KEY", c.MIMCAppKey},
		{"MIMC_APP_SECRET_FILE", c.MIMCAppSecretFile}, {"FROM_RESOURCE", c.FromResource},
	} {
		if msg := checkText(f.v); msg != "" {
			add(f.name, "%s %s", quote(f.v), msg)
		}
	}
	if msg := checkTopic(c.ResultsTopic); msg != "" {
		add("RESULTS_TOPIC", "%s: %s", quote(c.ResultsTopic), msg)
	} else if slices.Contains(c.KafkaTopics, c.ResultsTopic) {
		add("RESULTS_TOPIC", "%s is also an input topic (KAFKA_TOPICS)", quote(c.ResultsTopic))
	}
	if c.KafkaTLSCAFile != "" {
		if !c.KafkaTLS {
			add("KAFKA_TLS_CA_FILE", "set while %sKAFKA_TLS is off", EnvPrefix)
		}
		switch _, err := capool.Load(c.KafkaTLSCAFile); {
		case errors.Is(err, smallfile.ErrTooLarge):
			add("KAFKA_TLS_CA_FILE", "the CA file %s is too large: more than %s", quote(c.KafkaTLSCAFile), smallfile.Size(capool.MaxBytes))
		case errors.Is(err, capool.ErrNoCertificate):
			add("KAFKA_TLS_CA_FILE", "%s holds no PEM certificate", quote(c.KafkaTLSCAFile))
		case err != nil:
			add("KAFKA_TLS_CA_FILE", "cannot read the CA file: %s", pathErrText(err))
		}
	}
	switch c.KafkaSASLMechanism {
	case "":
		if c.KafkaSASLUsername != "" || !c.KafkaSASLPassword.IsZero() {
			add("KAFKA_SASL_MECHANISM", "required when KAFKA_SASL_USERNAME or KAFKA_SASL_PASSWORD is set: plain, scram-sha-256 or scram-sha-512")
		}
	case "plain", "scram-sha-256", "scram-sha-512":
		if c.KafkaSASLUsername == "" {
			add("KAFKA_SASL_USERNAME", "required with KAFKA_SASL_MECHANISM %s", c.KafkaSASLMechanism)
		}
		if c.KafkaSASLPassword.IsZero() {
			add("KAFKA_SASL_PASSWORD", "required with KAFKA_SASL_MECHANISM %s", c.KafkaSASLMechanism)
		}
	default:
		add("KAFKA_SASL_MECHANISM", "must be plain, scram-sha-256 or scram-sha-512, got %s", quote(c.KafkaSASLMechanism))
	}
}

// validateMIMC checks the MIMC settings: URL, credentials and what is
// retried. It returns the secret file's error, already an *Error.
func (c Config) validateMIMC(forRun bool, add func(name, format string, args ...any)) error {
	if msg := checkURL(c.MIMCURL); msg != "" {
		add("MIMC_URL", "%s", msg)
	}
	for _, f := range [...]struct{ name, v string }{{"MIMC_APP_ID", c.MIMCAppID}, {"MIMC_APP_KEY", c.MIMCAppKey}} {
		if forRun && f.v == "" {
			add(f.name, "required")
		}
	}
	var secretErr error
	switch {
	case c.MIMCAppSecretFile != "" && c.secretFromFile != c.MIMCAppSecretFile:
		if !c.MIMCAppSecret.IsZero() {
			add("MIMC_APP_SECRET_FILE", "set together with %sMIMC_APP_SECRET: set only one", EnvPrefix)
		} else {
			secretErr = c.ReadSecretFile() // c is a copy
		}
	case c.MIMCAppSecretFile == "" && forRun && c.MIMCAppSecret.IsZero():
		add("MIMC_APP_SECRET", "required (or %sMIMC_APP_SECRET_FILE)", EnvPrefix)
	case c.MIMCAppSecretFile == "" && !c.MIMCAppSecret.IsZero() && strings.TrimSpace(c.MIMCAppSecret.Reveal()) == "":
		add("MIMC_APP_SECRET", "holds only white space")
	}
	if n := len(c.MIMCAppSecret.Reveal()); n > 0 && n < MinAppSecretLen && strings.TrimSpace(c.MIMCAppSecret.Reveal()) != "" {
		// Redaction replaces the secret's text wherever it occurs: a secret
		// of a few characters would blank out ordinary words in logs and
		// errors, and the marks left would spell it out.
		name := "MIMC_APP_SECRET"
		if c.MIMCAppSecretFile != "" {
			name = "MIMC_APP_SECRET_FILE"
		}
		add(name, "the secret is shorter than %d characters, shorter than any MIMC app secret: check the value (it is not printed)", MinAppSecretLen)
	}
	if c.FromResource == "" {
		add("FROM_RESOURCE", "must not be empty")
	}
	if err := mimc.CheckRetryHTTPStatuses(c.RetryHTTPStatuses); err != nil {
		add("RETRY_HTTP_STATUSES", "%v", err)
	}
	if err := mimc.CheckRetryCodes(c.RetryCodes); err != nil {
		add("RETRY_CODES", "%v", err)
	}
	return secretErr
}

const (
	maxInt      = int(^uint(0) >> 1)
	maxDuration = time.Duration(math.MaxInt64)
)

// repeated returns the items listed more than once in list, each once, in
// the order of their second appearance. Kafka topic names are case
// sensitive, so "a" and "A" are two topics.
func repeated(list []string) []string {
	var out []string
	seen := make(map[string]int, len(list))
	for _, v := range list {
		seen[v]++
		if seen[v] == 2 {
			out = append(out, v)
		}
	}
	return out
}

// checkText returns why v, a name, id or path, cannot be printed as it is,
// or "".
func checkText(v string) string {
	switch {
	case !utf8.ValidString(v):
		return "is not valid UTF-8"
	case strings.ContainsFunc(v, unicode.IsControl):
		return "holds a control character (a newline, a tab, an escape...)"
	}
	return ""
}

// maxDedupIDs bounds DEDUP_MAX_IDS: the window indexes its ids with 32 bits,
// and 100 million ids take about 5 GB.
const maxDedupIDs = 100_000_000

// maxEventTTL is the longest EVENT_TTL: the longest ttl an event may give.
const maxEventTTL = 30 * 24 * time.Hour

// checkHostPort returns why hp is not host:port, or "". A listen address may
// leave the host empty and use port 0.
func checkHostPort(hp string, listen bool) string {
	host, port, err := net.SplitHostPort(hp)
	if err != nil {
		return "must be host:port"
	}
	if host == "" {
		if !listen {
			return "the host is missing"
		}
	} else if msg := checkHost(host); msg != "" {
		return msg
	}
	return checkPort(port, listen)
}

// checkPort returns why port is not a TCP port, or "". zeroOK allows 0 (a
// listen address: any free port).
func checkPort(port string, zeroOK bool) string {
	n, err := strconv.Atoi(port)
	if err != nil || strings.TrimLeft(port, "0123456789") != "" || n > 65535 || (n == 0 && !zeroOK) {
		if zeroOK {
			return "the port must be a number from 0 to 65535"
		}
		return "the port must be a number from 1 to 65535"
	}
	return ""
}

// checkHost returns why host is neither an IP address nor a DNS host name,
// or "".
func checkHost(host string) string {
	if _, err := netip.ParseAddr(host); err == nil {
		return ""
	}
	if len(host) > 253 {
		return "the host name is longer than 253 characters"
	}
	for label := range strings.SplitSeq(strings.TrimSuffix(host, "."), ".") {
		if label == "" || len(label) > 63 {
			return "the host is not a valid host name or IP address"
		}
		for i := 0; i < len(label); i++ {
			switch ch := label[i]; {
			case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9', ch == '-', ch == '_':
			default:
				return "a host name has only letters, digits, '-', '_' and '.'"
			}
		}
	}
	return ""
}

// checkTopic returns why t is not a legal Kafka topic name, or "".
func checkTopic(t string) string {
	if t == "" {
		return "must not be empty"
	}
	if len(t) > 249 || t == "." || t == ".." {
		return "not a legal Kafka topic name"
	}
	for i := 0; i < len(t); i++ {
		switch ch := t[i]; {
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9', ch == '.', ch == '_', ch == '-':
		default:
			return "a topic name has only letters, digits, '.', '_' and '-'"
		}
	}
	return ""
}

// checkURL returns why u is not a usable MIMC base URL, or "". It never shows
// a password embedded in the URL.
func checkURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "not a valid URL"
	}
	shown := quote(u.Redacted())
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "must be an http:// or https:// URL, got " + shown
	case u.Host == "" || u.Hostname() == "":
		return "the host is missing in " + shown
	case checkHost(u.Hostname()) != "":
		return checkHost(u.Hostname()) + ", in " + shown
	case u.Port() != "" && checkPort(u.Port(), false) != "":
		return checkPort(u.Port(), false) + ", in " + shown
	case u.User != nil:
		return "must not carry credentials (use MIMC_APP_* settings), got " + shown
	case u.RawQuery != "" || u.Fragment != "":
		return "must not have a query or fragment, got " + shown
	}
	return ""
}

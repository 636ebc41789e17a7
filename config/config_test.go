package config

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mimc-bridge/mimc-bridge/mimc"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func load(t *testing.T, e map[string]string, args ...string) (Config, error) {
	t.Helper()
	c, rest, err := Load(args, env(e))
	if len(rest) != 0 {
		t.Fatalf("unexpected positional args %q", rest)
	}
	return c, err
}

// valid returns the environment of a runnable configuration.
func valid() map[string]string {
	return map[string]string{
		"MIMC_BRIDGE_KAFKA_BROKERS":   "localhost:9092",
		"MIMC_BRIDGE_MIMC_APP_ID":     "2882303761517669588",
		"MIMC_BRIDGE_MIMC_APP_KEY":    "5111766983588",
		"MIMC_BRIDGE_MIMC_APP_SECRET": "app-secret-of-the-tests",
	}
}

func TestDefaultsMatchTheDesign(t *testing.T) {
	c := Default()
	want := Config{
		KafkaTopics: []string{"mimc.push"}, KafkaGroupID: "mimc-bridge", ResultsTopic: "mimc.push.results",
		MIMCURL: "https://mimc.chat.xiaomi.net", FromResource: "mimc-bridge",
		BatchMaxRecipients: 100, BatchLinger: 50 * time.Millisecond, MaxPendingEvents: 10000, MaxPendingBytes: 24 << 20,
		MaxConcurrentCalls: 256, HTTPTimeout: 10 * time.Second, RetryMaxElapsed: 2 * time.Minute,
		MaxMsgBytes: 10240, HTTPAddr: ":8080", LogLevel: "info", LogFormat: "json",
		MaxEventRecipients: 10000, RetryHTTPStatuses: mimc.MustParseCodeSet("429,500,502-599"), RetryCodes: mimc.MustParseCodeSet("429,500-"),
		ShutdownTimeout:     30 * time.Second,
		KafkaSessionTimeout: 30 * time.Second,
		DedupWindow:         10 * time.Minute, DedupMaxIDs: 1_000_000,
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Default() =\n%+v\nwant\n%+v", c, want)
	}
	if err := c.Validate(false); err != nil {
		t.Errorf("the defaults are invalid: %v", err)
	}
	if err := c.Validate(true); err == nil {
		t.Error("the defaults are runnable without brokers and credentials")
	}
	loaded, err := load(t, nil)
	if err != nil || !reflect.DeepEqual(loaded, c) {
		t.Errorf("Load with nothing set = %+v, %v; want the defaults", loaded, err)
	}
}

func TestLoad(t *testing.T) {
	tests := []struct {
		scenario string
		env      map[string]string
		args     []string
		check    func(c Config) bool
	}{
		{"the environment sets a list", map[string]string{"MIMC_BRIDGE_KAFKA_BROKERS": "a:1, b:2,"}, nil,
			func(c Config) bool { return reflect.DeepEqual(c.KafkaBrokers, []string{"a:1", "b:2"}) }},
		{"a flag sets a list", nil, []string{"--kafka-topics=x,y"},
			func(c Config) bool { return reflect.DeepEqual(c.KafkaTopics, []string{"x", "y"}) }},
		{"the flag wins over the environment", map[string]string{"MIMC_BRIDGE_BATCH_LINGER": "1s"}, []string{"--batch-linger", "2s"},
			func(c Config) bool { return c.BatchLinger == 2*time.Second }},
		{"an empty environment variable counts as unset", map[string]string{"MIMC_BRIDGE_MAX_PENDING_EVENTS": ""}, nil,
			func(c Config) bool { return c.MaxPendingEvents == 10000 }},
		{"a bare boolean flag turns it on", nil, []string{"--kafka-tls"},
			func(c Config) bool { return c.KafkaTLS }},
		{"a boolean flag can turn off what the environment turned on", map[string]string{"MIMC_BRIDGE_KAFKA_TLS": "true"}, []string{"--kafka-tls=false"},
			func(c Config) bool { return !c.KafkaTLS }},
		{"the SASL mechanism is normalised to lower case", map[string]string{"MIMC_BRIDGE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512"}, nil,
			func(c Config) bool { return c.KafkaSASLMechanism == "scram-sha-512" }},
		{"rates, counts and durations parse", map[string]string{"MIMC_BRIDGE_RATE_P2P": "2.5", "MIMC_BRIDGE_MAX_MSG_BYTES": "99", "MIMC_BRIDGE_SHUTDOWN_TIMEOUT": "1m"}, []string{"--rate-p2t=7"},
			func(c Config) bool {
				return c.RateP2P == 2.5 && c.RateP2T == 7 && c.MaxMsgBytes == 99 && c.ShutdownTimeout == time.Minute
			}},
		{"the secret comes from a flag", nil, []string{"--mimc-app-secret=s3cret-from-a-flag"},
			func(c Config) bool { return c.MIMCAppSecret.Reveal() == "s3cret-from-a-flag" }},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			c, err := load(t, tt.env, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Errorf("unexpected config %+v", c)
			}
		})
	}
}

func TestACommandAddsItsOwnFlagsAndKeepsPositionalArgs(t *testing.T) {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	keep := fs.Bool("keep", false, "keep running")
	ld := Register(fs, env(nil))
	if err := fs.Parse([]string{"--keep", "--log-level=DEBUG", "extra"}); err != nil {
		t.Fatal(err)
	}
	c, err := ld.Config()
	if err != nil || !*keep || c.LogLevel != "debug" || !reflect.DeepEqual(fs.Args(), []string{"extra"}) {
		t.Errorf("keep=%v config=%+v args=%q err=%v", *keep, c, fs.Args(), err)
	}
	_, rest, err := Load([]string{"--log-format", "console", "a", "b"}, env(nil))
	if err != nil || !reflect.DeepEqual(rest, []string{"a", "b"}) {
		t.Errorf("Load rest = %q, %v", rest, err)
	}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func selfSignedPEM(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// largerThan repeats s past n bytes (a certificate's PEM is 497 to 501
// bytes: a fixed count of them can fall short).
func largerThan(n int, s string) string { return strings.Repeat(s, n/len(s)+1) }

func TestEachBadSettingIsNamed(t *testing.T) {
	tests := []struct {
		scenario string
		set      map[string]string // on top of valid()
		name     string            // the setting the error must name
	}{
		{"a broker without a port", map[string]string{"KAFKA_BROKERS": "localhost"}, "KAFKA_BROKERS"},
		{"a broker with a bad port", map[string]string{"KAFKA_BROKERS": "h:99999"}, "KAFKA_BROKERS"},
		{"missing brokers", map[string]string{"KAFKA_BROKERS": ""}, "KAFKA_BROKERS"},
		{"an illegal topic name", map[string]string{"KAFKA_TOPICS": "a topic"}, "KAFKA_TOPICS"},
		{"the results topic is an input topic", map[string]string{"RESULTS_TOPIC": "mimc.push"}, "RESULTS_TOPIC"},
		{"a zero batch size", map[string]string{"BATCH_MAX_RECIPIENTS": "0"}, "BATCH_MAX_RECIPIENTS"},
		{"a batch size above 1000", map[string]string{"BATCH_MAX_RECIPIENTS": "1001"}, "BATCH_MAX_RECIPIENTS"},
		{"a batch size that is not a number", map[string]string{"BATCH_MAX_RECIPIENTS": "ten"}, "BATCH_MAX_RECIPIENTS"},
		{"a bad duration", map[string]string{"BATCH_LINGER": "50"}, "BATCH_LINGER"},
		{"a negative linger", map[string]string{"BATCH_LINGER": "-1s"}, "BATCH_LINGER"},
		{"a zero HTTP timeout", map[string]string{"HTTP_TIMEOUT": "0s"}, "HTTP_TIMEOUT"},
		{"a zero retry time", map[string]string{"RETRY_MAX_ELAPSED": "0"}, "RETRY_MAX_ELAPSED"},
		{"a zero shutdown timeout", map[string]string{"SHUTDOWN_TIMEOUT": "0"}, "SHUTDOWN_TIMEOUT"},
		{"zero pending events", map[string]string{"MAX_PENDING_EVENTS": "0"}, "MAX_PENDING_EVENTS"},
		{"negative concurrent calls", map[string]string{"MAX_CONCURRENT_CALLS": "-1"}, "MAX_CONCURRENT_CALLS"},
		{"zero message bytes", map[string]string{"MAX_MSG_BYTES": "0"}, "MAX_MSG_BYTES"},
		{"zero event recipients", map[string]string{"MAX_EVENT_RECIPIENTS": "0"}, "MAX_EVENT_RECIPIENTS"},
		{"a negative rate", map[string]string{"RATE_P2P": "-1"}, "RATE_P2P"},
		{"a rate that is not a number", map[string]string{"RATE_P2T": "NaN"}, "RATE_P2T"},
		{"a bad boolean", map[string]string{"KAFKA_TLS": "maybe"}, "KAFKA_TLS"},
		{"an unknown SASL mechanism", map[string]string{"KAFKA_SASL_MECHANISM": "gssapi", "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "p"}, "KAFKA_SASL_MECHANISM"},
		{"a SASL mechanism without a user name", map[string]string{"KAFKA_SASL_MECHANISM": "plain", "KAFKA_SASL_PASSWORD": "p"}, "KAFKA_SASL_USERNAME"},
		{"a SASL mechanism without a password", map[string]string{"KAFKA_SASL_MECHANISM": "plain", "KAFKA_SASL_USERNAME": "u"}, "KAFKA_SASL_PASSWORD"},
		{"a SASL user name without a mechanism", map[string]string{"KAFKA_SASL_USERNAME": "u"}, "KAFKA_SASL_MECHANISM"},
		{"a CA file that cannot be read", map[string]string{"KAFKA_TLS": "on", "KAFKA_TLS_CA_FILE": "/nonexistent/ca.pem"}, "KAFKA_TLS_CA_FILE"},
		{"a CA file without TLS", map[string]string{"KAFKA_TLS_CA_FILE": "/nonexistent/ca.pem"}, "KAFKA_TLS_CA_FILE"},
		{"a bad log level", map[string]string{"LOG_LEVEL": "verbose"}, "LOG_LEVEL"},
		{"a bad log format", map[string]string{"LOG_FORMAT": "text"}, "LOG_FORMAT"},
		{"a MIMC URL without a scheme", map[string]string{"MIMC_URL": "mimc.example.com"}, "MIMC_URL"},
		{"a MIMC URL with another scheme", map[string]string{"MIMC_URL": "ftp://mimc.example.com"}, "MIMC_URL"},
		{"a MIMC URL without a host", map[string]string{"MIMC_URL": "https://"}, "MIMC_URL"},
		{"a MIMC URL that does not parse", map[string]string{"MIMC_URL": "http://[::1"}, "MIMC_URL"},
		{"missing app id", map[string]string{"MIMC_APP_ID": ""}, "MIMC_APP_ID"},
		{"missing app key", map[string]string{"MIMC_APP_KEY": ""}, "MIMC_APP_KEY"},
		{"missing app secret", map[string]string{"MIMC_APP_SECRET": ""}, "MIMC_APP_SECRET"},
		{"both the secret and the secret file", map[string]string{"MIMC_APP_SECRET_FILE": "/dev/null"}, "MIMC_APP_SECRET_FILE"},
		{"a secret file that cannot be read", map[string]string{"MIMC_APP_SECRET": "", "MIMC_APP_SECRET_FILE": "/nonexistent/secret"}, "MIMC_APP_SECRET_FILE"},
		{"retried HTTP statuses that do not parse", map[string]string{"RETRY_HTTP_STATUSES": "429,5xx"}, "RETRY_HTTP_STATUSES"},
		{"retried HTTP statuses out of range", map[string]string{"RETRY_HTTP_STATUSES": "429,500-700"}, "RETRY_HTTP_STATUSES"},
		{"retried codes with a backwards range", map[string]string{"RETRY_CODES": "500-400"}, "RETRY_CODES"},
		{"retried codes with an empty item", map[string]string{"RETRY_CODES": "429,,500-"}, "RETRY_CODES"},
		{"an empty from resource", map[string]string{"FROM_RESOURCE": " "}, "FROM_RESOURCE"},
		{"a bad HTTP address", map[string]string{"HTTP_ADDR": "8080"}, "HTTP_ADDR"},
		{"a MIMC URL with a port past 65535", map[string]string{"MIMC_URL": "https://mimc.example.com:99999"}, "MIMC_URL"},
		{"a MIMC URL with port 0", map[string]string{"MIMC_URL": "http://127.0.0.1:0/"}, "MIMC_URL"},
		{"a MIMC URL whose host has a character no host name has", map[string]string{"MIMC_URL": "https://mimc!.example.com"}, "MIMC_URL"},
		{"a broker host with a space", map[string]string{"KAFKA_BROKERS": "kafka 1:9092"}, "KAFKA_BROKERS"},
		{"a broker host with a slash", map[string]string{"KAFKA_BROKERS": "localhost:9092,kafka/1:9092"}, "KAFKA_BROKERS"},
		{"a broker with an empty host label", map[string]string{"KAFKA_BROKERS": "kafka..local:9092"}, "KAFKA_BROKERS"},
		{"a broker port with a sign", map[string]string{"KAFKA_BROKERS": "kafka:+9092"}, "KAFKA_BROKERS"},
		{"an HTTP address with a space in the host", map[string]string{"HTTP_ADDR": "local host:8080"}, "HTTP_ADDR"},
		{"an HTTP address with a port past 65535", map[string]string{"HTTP_ADDR": ":99999"}, "HTTP_ADDR"},
		{"a newline in the group id", map[string]string{"KAFKA_GROUP_ID": "mimc-bridge\nMIMC_APP_SECRET=forged"}, "KAFKA_GROUP_ID"},
		{"an escape sequence in the app id", map[string]string{"MIMC_APP_ID": "288\x1b[31m2"}, "MIMC_APP_ID"},
		{"a tab in the app key", map[string]string{"MIMC_APP_KEY": "51\t11"}, "MIMC_APP_KEY"},
		{"a carriage return in the from resource", map[string]string{"FROM_RESOURCE": "a\rb"}, "FROM_RESOURCE"},
		{"a NUL in the SASL user name", map[string]string{"KAFKA_SASL_MECHANISM": "plain", "KAFKA_SASL_USERNAME": "u\x00v", "KAFKA_SASL_PASSWORD": "p"}, "KAFKA_SASL_USERNAME"},
		{"invalid UTF-8 in the group id", map[string]string{"KAFKA_GROUP_ID": "g\xff"}, "KAFKA_GROUP_ID"},
		{"a newline in the secret file's path", map[string]string{"MIMC_APP_SECRET": "", "MIMC_APP_SECRET_FILE": secretPathWithNewline(t)}, "MIMC_APP_SECRET_FILE"},
		{"a secret of only spaces", map[string]string{"MIMC_APP_SECRET": "   "}, "MIMC_APP_SECRET"},
		{"a secret shorter than any MIMC secret", map[string]string{"MIMC_APP_SECRET": "s"}, "MIMC_APP_SECRET"},
		{"a secret file shorter than any MIMC secret", map[string]string{"MIMC_APP_SECRET": "", "MIMC_APP_SECRET_FILE": writeFile(t, "short-secret\n")}, "MIMC_APP_SECRET_FILE"},
		{"a secret file of only spaces", map[string]string{"MIMC_APP_SECRET": "", "MIMC_APP_SECRET_FILE": writeFile(t, "   \n")}, "MIMC_APP_SECRET_FILE"},
		{"a secret file larger than 4 KiB", map[string]string{"MIMC_APP_SECRET": "", "MIMC_APP_SECRET_FILE": writeFile(t, strings.Repeat("s", MaxSecretFileBytes+1))}, "MIMC_APP_SECRET_FILE"},
		{"a CA file larger than 1 MiB", map[string]string{"KAFKA_TLS": "on", "KAFKA_TLS_CA_FILE": writeFile(t, largerThan(1<<20, selfSignedPEM(t)))}, "KAFKA_TLS_CA_FILE"},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			e := valid()
			var args []string
			for k, v := range tt.set {
				if v == "" {
					delete(e, "MIMC_BRIDGE_"+k)
					continue
				}
				// Alternate between env and flags so both paths are covered.
				if len(tt.scenario)%2 == 0 {
					e["MIMC_BRIDGE_"+k] = v
				} else {
					args = append(args, "--"+strings.ReplaceAll(strings.ToLower(k), "_", "-")+"="+v)
				}
			}
			c, err := load(t, e, args...)
			if err == nil {
				err = c.Validate(true)
			}
			if err == nil {
				t.Fatal("accepted")
			}
			want := "MIMC_BRIDGE_" + tt.name + " (--" + strings.ReplaceAll(strings.ToLower(tt.name), "_", "-") + "): "
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not name %s", err, want)
			}
			var se *Error
			if !errors.As(err, &se) {
				t.Errorf("error %v is not a *config.Error", err)
			}
		})
	}
}

// secretPathWithNewline returns the path of a readable secret file whose
// name holds a newline.
func secretPathWithNewline(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret\nFORGED=1")
	if err := os.WriteFile(p, []byte("s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestHostsAndPortsThatAreAccepted(t *testing.T) {
	tests := []struct{ scenario, name, value string }{
		{"a host name with a dash, a dot and an underscore", "KAFKA_BROKERS", "kafka-1.example.com:9092,kafka_2:9093"},
		{"a host name ending in a dot", "KAFKA_BROKERS", "kafka.example.com.:9092"},
		{"IPv4 and IPv6 brokers", "KAFKA_BROKERS", "10.0.0.1:9092,[::1]:9092,[fe80::1%eth0]:9092"},
		{"a listen address without a host", "HTTP_ADDR", ":8080"},
		{"a listen address on any free port", "HTTP_ADDR", "127.0.0.1:0"},
		{"a listen address on IPv6", "HTTP_ADDR", "[::]:8080"},
		{"a MIMC URL with a port and a path", "MIMC_URL", "http://127.0.0.1:65535/api"},
		{"a MIMC URL on IPv6", "MIMC_URL", "https://[::1]:443/"},
		{"a group id with spaces and non-ASCII letters", "KAFKA_GROUP_ID", "mimc bridge été 日本"},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			e := valid()
			e["MIMC_BRIDGE_"+tt.name] = tt.value
			c, err := load(t, e)
			if err == nil {
				err = c.Validate(true)
			}
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestPrintShowsAnInvalidValueAsGivenNotTheDefault(t *testing.T) {
	e := valid()
	e["MIMC_BRIDGE_BATCH_MAX_RECIPIENTS"] = "abc"
	e["MIMC_BRIDGE_BATCH_LINGER"] = "soon\nBATCH_LINGER=50ms"
	c, err := load(t, e, "--kafka-tls=maybe")
	if err == nil {
		t.Fatal("accepted")
	}
	var out bytes.Buffer
	c.Print(&out)
	for _, want := range []string{`BATCH_MAX_RECIPIENTS="abc" (invalid)`, `BATCH_LINGER="soon\nBATCH_LINGER=50ms" (invalid)`, `KAFKA_TLS="maybe" (invalid)`} {
		if !strings.Contains(out.String(), want+"\n") {
			t.Errorf("Print lacks %q:\n%s", want, out.String())
		}
	}
	for _, wrong := range []string{"BATCH_MAX_RECIPIENTS=100\n", "BATCH_LINGER=50ms\n", "KAFKA_TLS=false\n"} {
		if strings.Contains(out.String(), wrong) {
			t.Errorf("Print shows the default %q as if it were in effect:\n%s", wrong, out.String())
		}
	}
}

func TestPrintCannotBeMadeToForgeALine(t *testing.T) {
	e := valid()
	e["MIMC_BRIDGE_KAFKA_GROUP_ID"] = "g\nMIMC_APP_SECRET=forged"
	e["MIMC_BRIDGE_MIMC_APP_ID"] = "1\x1b]0;title\x07"
	e["MIMC_BRIDGE_FROM_RESOURCE"] = "r\u202e"
	c, err := load(t, e)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(false); err == nil {
		t.Error("Validate accepts control characters in the group id and the app id")
	}
	var out bytes.Buffer
	c.Print(&out)
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != len(Settings()) || strings.ContainsAny(out.String(), "\x1b\x07\u202e") {
		t.Errorf("Print output is not one plain line per setting:\n%q", out.String())
	}
	// The two Validate refuses are marked so.
	for _, want := range []string{`KAFKA_GROUP_ID="g\nMIMC_APP_SECRET=forged" (invalid)`, `MIMC_APP_ID="1\x1b]0;title\a" (invalid)`, `FROM_RESOURCE="r\u202e"`} {
		if !strings.Contains(out.String(), want+"\n") {
			t.Errorf("Print lacks %s:\n%s", want, out.String())
		}
	}
}

func TestTheValidExampleIsRunnable(t *testing.T) {
	c, err := load(t, valid())
	if err == nil {
		err = c.Validate(true)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func TestTheErrorMessageForAZeroBatchSize(t *testing.T) {
	c := Default()
	c.BatchMaxRecipients = 0
	want := "MIMC_BRIDGE_BATCH_MAX_RECIPIENTS (--batch-max-recipients): must be between 1 and 1000, got 0"
	if err := c.Validate(false); err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

func TestTheSecretFile(t *testing.T) {
	t.Run("the secret is read without its trailing newline", func(t *testing.T) {
		e := valid()
		delete(e, "MIMC_BRIDGE_MIMC_APP_SECRET")
		c, err := load(t, e, "--mimc-app-secret-file", writeFile(t, "from-file-0123456789\n"))
		if err == nil {
			err = c.Validate(true)
		}
		if err != nil || c.MIMCAppSecret.Reveal() != "from-file-0123456789" {
			t.Errorf("secret %q, err %v", c.MIMCAppSecret.Reveal(), err)
		}
	})
	t.Run("an empty secret file is refused", func(t *testing.T) {
		_, err := load(t, nil, "--mimc-app-secret-file", writeFile(t, "\n"))
		if err == nil || !strings.Contains(err.Error(), "MIMC_BRIDGE_MIMC_APP_SECRET_FILE") {
			t.Errorf("err %v", err)
		}
	})
	t.Run("a file that is not readable is named without its content", func(t *testing.T) {
		dir := t.TempDir() // a directory cannot be read as a file
		_, err := load(t, nil, "--mimc-app-secret-file", dir)
		if err == nil || !strings.Contains(err.Error(), "MIMC_BRIDGE_MIMC_APP_SECRET_FILE") {
			t.Errorf("err %v", err)
		}
	})
	t.Run("a device that never ends is refused after a few KiB", func(t *testing.T) {
		_, err := load(t, nil, "--mimc-app-secret-file", "/dev/zero")
		if err == nil || !strings.Contains(err.Error(), `MIMC_BRIDGE_MIMC_APP_SECRET_FILE (--mimc-app-secret-file): the secret file "/dev/zero" is too large: more than 4 KiB`) {
			t.Errorf("err %v", err)
		}
	})
	t.Run("a secret of exactly 4 KiB is accepted", func(t *testing.T) {
		c, err := load(t, nil, "--mimc-app-secret-file", writeFile(t, strings.Repeat("s", MaxSecretFileBytes)))
		if err != nil || len(c.MIMCAppSecret.Reveal()) != MaxSecretFileBytes {
			t.Errorf("%d bytes, err %v", len(c.MIMCAppSecret.Reveal()), err)
		}
	})
	t.Run("a secret file set in code is checked by Validate", func(t *testing.T) {
		c := Default()
		c.MIMCAppSecretFile = "/nonexistent/secret"
		if err := c.Validate(false); err == nil || !strings.Contains(err.Error(), "MIMC_APP_SECRET_FILE") {
			t.Errorf("err %v", err)
		}
	})
}

func TestACACertificateFileIsAccepted(t *testing.T) {
	c := Default()
	c.KafkaTLS = true
	c.KafkaTLSCAFile = writeFile(t, "not a certificate")
	if err := c.Validate(false); err == nil || !strings.Contains(err.Error(), "KAFKA_TLS_CA_FILE") {
		t.Errorf("a file without PEM: %v", err)
	}
	c.KafkaTLSCAFile = writeFile(t, selfSignedPEM(t))
	if err := c.Validate(false); err != nil {
		t.Errorf("a readable PEM file: %v", err)
	}
}

func TestSecretsNeverShow(t *testing.T) {
	const canary = "canary-7f3a9c-secret"
	secretFile := writeFile(t, canary+"-file\n")
	cases := []struct {
		scenario string
		env      map[string]string
		args     []string
	}{
		{"secrets in the environment with a bad other setting", map[string]string{
			"MIMC_BRIDGE_MIMC_APP_SECRET": canary, "MIMC_BRIDGE_KAFKA_SASL_PASSWORD": canary,
			"MIMC_BRIDGE_BATCH_LINGER": "soon", "MIMC_BRIDGE_KAFKA_SASL_MECHANISM": "nope"}, nil},
		{"secrets in flags with bad other settings", nil, []string{
			"--mimc-app-secret=" + canary, "--kafka-sasl-password", canary, "--max-msg-bytes=x", "--kafka-tls=what"}},
		{"a secret with a secret file", map[string]string{"MIMC_BRIDGE_MIMC_APP_SECRET": canary},
			[]string{"--mimc-app-secret-file", secretFile}},
		{"a secret file alone", nil, []string{"--mimc-app-secret-file", secretFile, "--log-level=loud"}},
		{"a password without a mechanism", nil, []string{"--kafka-sasl-password=" + canary}},
	}
	for _, tt := range cases {
		t.Run(tt.scenario, func(t *testing.T) {
			c, err := load(t, tt.env, tt.args...)
			var out bytes.Buffer
			c.Print(&out)
			forms := map[string]string{
				"Print": out.String(),
				"%+v":   fmt.Sprintf("%+v", c),
				"%#v":   fmt.Sprintf("%#v", c),
				"Fields": fmt.Sprint(func() []string {
					var s []string
					for _, f := range c.Fields() {
						s = append(s, f.String)
					}
					return s
				}()),
			}
			if err != nil {
				forms["Load error"] = err.Error()
			}
			if verr := c.Validate(true); verr != nil {
				forms["Validate error"] = verr.Error()
			}
			for name, got := range forms {
				if strings.Contains(got, canary) {
					t.Errorf("%s shows the secret: %s", name, got)
				}
			}
		})
	}
}

func TestAPasswordInTheMIMCURLIsNeitherPrintedNorAccepted(t *testing.T) {
	const canary = "canary-url-pw"
	c, err := load(t, nil, "--mimc-url=https://user:"+canary+"@host/")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	c.Print(&out)
	verr := c.Validate(false)
	if verr == nil || strings.Contains(verr.Error(), canary) || strings.Contains(out.String(), canary) {
		t.Errorf("validate: %v\nprint:\n%s", verr, out.String())
	}
}

func TestPrintShowsEverySettingInTableOrderWithSecretsRedacted(t *testing.T) {
	e := valid()
	e["MIMC_BRIDGE_KAFKA_BROKERS"] = "a:1,b:2"
	c, err := load(t, e)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	c.Print(&out)
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	settings := Settings()
	if len(lines) != len(settings) {
		t.Fatalf("%d lines for %d settings:\n%s", len(lines), len(settings), out.String())
	}
	for i, s := range settings {
		if !strings.HasPrefix(lines[i], s.Name+"=") {
			t.Errorf("line %d is %q, want %s=…", i, lines[i], s.Name)
		}
	}
	for _, want := range []string{"KAFKA_BROKERS=a:1,b:2", "MIMC_APP_SECRET=[REDACTED]", "KAFKA_SASL_PASSWORD=",
		"BATCH_LINGER=50ms", "RATE_P2P=0", "KAFKA_TLS=false", "RETRY_CODES=429,500-"} {
		if !strings.Contains(out.String(), want+"\n") {
			t.Errorf("Print lacks %q:\n%s", want, out.String())
		}
	}
}

func TestPrintedSettingsLoadBackTheSame(t *testing.T) {
	e := valid()
	e["MIMC_BRIDGE_RATE_P2P"] = "12.5"
	e["MIMC_BRIDGE_KAFKA_TLS"] = "yes"
	c, err := load(t, e)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	c.Print(&out)
	back := map[string]string{}
	for line := range strings.Lines(out.String()) {
		k, v, _ := strings.Cut(strings.TrimSuffix(line, "\n"), "=")
		if k != "MIMC_APP_SECRET" {
			back["MIMC_BRIDGE_"+k] = v
		}
	}
	back["MIMC_BRIDGE_MIMC_APP_SECRET"] = "app-secret-of-the-tests"
	c2, err := load(t, back)
	if err != nil || !reflect.DeepEqual(c, c2) {
		t.Errorf("reloaded %+v, %v; want %+v", c2, err, c)
	}
}

func TestEverySettingHasAFlagAndHelp(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	Register(fs, nil)
	for _, s := range Settings() {
		f := fs.Lookup(s.Flag)
		if f == nil || s.Help == "" || !strings.Contains(f.Usage, s.Env) {
			t.Errorf("setting %s: flag %v, help %q", s.Name, f, s.Help)
		}
	}
	if !strings.Contains(MarkdownTable(), "| BATCH_LINGER | `--batch-linger` | `50ms` |") {
		t.Errorf("MarkdownTable:\n%s", MarkdownTable())
	}
}

func TestReadmeSettingsTableMatchesTheCode(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatalf("reading the README: %v", err)
	}
	const open, close = "<!-- settings-table", "<!-- /settings-table -->"
	text := string(b)
	i := strings.Index(text, open)
	j := strings.Index(text, close)
	if i < 0 || j < i {
		t.Fatalf("README.md has no %s … %s block", open, close)
	}
	got := text[i:j]
	got = got[strings.Index(got, "\n")+1:]
	if got != MarkdownTable() {
		t.Errorf("README.md's settings table differs from config.MarkdownTable(); replace it with:\n%s", MarkdownTable())
	}
}

// A secret of a few characters is refused before redaction could spell it
// out in logs ("invalid app credential[REDACTED]…"), and the refusal does
// not print it.
func TestAShortAppSecretIsRefusedWithoutPrintingIt(t *testing.T) {
	e := valid()
	e["MIMC_BRIDGE_MIMC_APP_SECRET"] = "Qz7xW"
	validate := func() error {
		c, err := load(t, e)
		if err != nil {
			return err
		}
		return c.Validate(true)
	}
	err := validate()
	if err == nil {
		t.Fatal("a 5-character app secret was accepted")
	}
	if strings.Contains(err.Error(), "Qz7xW") || !strings.Contains(err.Error(), "MIMC_APP_SECRET") {
		t.Errorf("the refusal %q prints the secret or does not name the setting", err)
	}
	e["MIMC_BRIDGE_MIMC_APP_SECRET"] = strings.Repeat("k", MinAppSecretLen)
	if err := validate(); err != nil {
		t.Errorf("a secret of %d characters was refused: %v", MinAppSecretLen, err)
	}
}

func TestMaxPendingBytesTakesBytesOrIECSuffixes(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  int
		bad   string // part of the error, when the value is refused
	}{
		{"16777216", 16 << 20, ""},
		{"16384KiB", 16 << 20, ""},
		{" 64MiB", 64 << 20, ""},
		{"2GiB", 2 << 30, ""},
		{"16MB", 0, "must be a number of bytes"},
		{"-1MiB", 0, "must be a number of bytes"},
		{"512KiB", 0, "must be at least 1MiB"},
	} {
		e := valid()
		e["MIMC_BRIDGE_MAX_PENDING_BYTES"] = tc.value
		c, err := load(t, e)
		if err == nil {
			err = c.Validate(true)
		}
		switch {
		case tc.bad == "" && err != nil:
			t.Errorf("%q: %v", tc.value, err)
		case tc.bad == "" && c.MaxPendingBytes != tc.want:
			t.Errorf("%q: %d bytes, want %d", tc.value, c.MaxPendingBytes, tc.want)
		case tc.bad != "" && (err == nil || !strings.Contains(err.Error(), "MAX_PENDING_BYTES") || !strings.Contains(err.Error(), tc.bad)):
			t.Errorf("%q: error %v, want one naming MAX_PENDING_BYTES that says %q", tc.value, err, tc.bad)
		}
	}
}

// A value that parses but is out of bounds prints marked "(invalid)", as one
// that does not parse does: config shows what run would refuse.
func TestPrintMarksAValueOutOfBoundsInvalid(t *testing.T) {
	for _, tc := range []struct{ name, value, want string }{
		{"RATE_P2P", "-1", "RATE_P2P=-1 (invalid)\n"},
		{"RATE_P2P", "NaN", `RATE_P2P="NaN" (invalid)` + "\n"},
		{"RATE_P2P", "5", "RATE_P2P=5\n"},
	} {
		e := valid()
		e["MIMC_BRIDGE_"+tc.name] = tc.value
		c, _ := load(t, e)
		var out bytes.Buffer
		c.Print(&out)
		if !strings.Contains(out.String(), tc.want) {
			t.Errorf("%s=%s: Print lacks %q:\n%s", tc.name, tc.value, tc.want, out.String())
		}
	}
}

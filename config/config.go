// Package config holds the bridge's settings: defaults, environment variables,
// command-line flags, validation and redacted printing.
//
// Every setting has one row in a single table (see Settings). The environment
// variable is MIMC_BRIDGE_<NAME>, the flag is --<name> in lower case with
// hyphens, and the flag wins over the environment. An environment variable set
// to the empty string counts as unset, except for a setting whose help says
// what empty means ("(empty: no HTTP server)"): there it is that value, as
// the flag given empty (--http-addr=) is.
//
// Usage from a command that has flags of its own:
//
//	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
//	keep := fs.Bool("keep", false, "keep running")
//	ld := config.Register(fs, os.LookupEnv)
//	if err := fs.Parse(args); err != nil { ... }
//	cfg, err := ld.Config()          // parse errors (bad numbers, durations, secret file)
//	if err == nil { err = cfg.Validate(true) } // ranges, required settings, files
//
// Load does the same for a command without extra flags.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mimc-bridge/mimc-bridge/internal/smallfile"
	"github.com/mimc-bridge/mimc-bridge/mimc"
	"github.com/mimc-bridge/mimc-bridge/secret"
)

// EnvPrefix starts the environment variable of every setting.
const EnvPrefix = "MIMC_BRIDGE_"

// Config is the effective set of settings.
type Config struct {
	KafkaBrokers       []string
	KafkaTopics        []string
	KafkaGroupID       string
	ResultsTopic       string
	KafkaTLS           bool
	KafkaTLSCAFile     string
	KafkaSASLMechanism string // "", "plain", "scram-sha-256" or "scram-sha-512" (lower case)
	KafkaSASLUsername  string
	KafkaSASLPassword  secret.String

	MIMCURL           string
	MIMCAppID         string
	MIMCAppKey        string
	MIMCAppSecret     secret.String
	MIMCAppSecretFile string // when set, Load reads the secret from this file into MIMCAppSecret

	FromResource string

	BatchMaxRecipients int
	BatchLinger        time.Duration
	MaxPendingEvents   int
	MaxPendingBytes    int // record values plus the bridge's own per-event overhead
	MaxConcurrentCalls int
	RateP2P, RateP2T   float64       // recipients per second; 0 is no limit
	UrgentTopics       []string      // input topics whose events go ahead of the others; each among KafkaTopics
	OrderedTopics      []string      // input topics whose events with the same key reach MIMC in offset order; each among KafkaTopics
	DedupWindow        time.Duration // how long a delivered id suppresses its copies; 0: off
	DedupMaxIDs        int           // the most delivered ids remembered
	EventTTL           time.Duration // time to live of an event without a ttl, from its record's timestamp; 0: none
	HTTPTimeout        time.Duration
	RetryMaxElapsed    time.Duration
	MaxMsgBytes        int
	HTTPAddr           string // empty disables the HTTP server
	LogLevel           string // debug, info, warn, error
	LogFormat          string // json, console

	MaxEventRecipients int           // an event with more unique recipients is rejected
	RetryHTTPStatuses  mimc.CodeSet  // HTTP statuses retried
	RetryCodes         mimc.CodeSet  // MIMC envelope codes retried
	ShutdownTimeout    time.Duration // graceful shutdown deadline

	KafkaSessionTimeout time.Duration // consumer group session (and rebalance) timeout
	StallTimeout        time.Duration // no progress this long with events pending is a stall; 0: derived

	// secretFromFile is the file MIMCAppSecret was read from, if any.
	secretFromFile string
	// invalid holds the text given for each setting that did not parse (it
	// keeps its default in the fields), so that Print shows what was given
	// instead of a default that is not in effect.
	invalid map[string]string
}

// Default returns the settings with every default applied.
func Default() Config {
	var c Config
	for _, s := range table {
		if s.def != "" {
			if err := s.parse(&c, s.def); err != nil {
				panic("config: bad default for " + s.name + ": " + err.Error())
			}
		}
	}
	return c
}

// Error is a bad setting. Its message names the environment variable and the
// flag and never contains a secret value.
type Error struct {
	Name string // the setting's NAME, e.g. "BATCH_LINGER"
	Msg  string
}

func (e *Error) Error() string {
	return EnvPrefix + e.Name + " (--" + flagName(e.Name) + "): " + e.Msg
}

func settingErr(name, format string, args ...any) *Error {
	return &Error{Name: name, Msg: fmt.Sprintf(format, args...)}
}

func flagName(name string) string {
	return strings.ReplaceAll(strings.ToLower(name), "_", "-")
}

// Setting describes one row of the settings table.
type Setting struct {
	Name    string // e.g. "KAFKA_BROKERS"
	Env     string // e.g. "MIMC_BRIDGE_KAFKA_BROKERS"
	Flag    string // e.g. "kafka-brokers" (used as --kafka-brokers)
	Default string // as written in the environment; "" when there is none
	Help    string
	Secret  bool
}

// Settings returns the table of settings in the documented order.
func Settings() []Setting {
	out := make([]Setting, len(table))
	for i, s := range table {
		out[i] = Setting{Name: s.name, Env: EnvPrefix + s.name, Flag: flagName(s.name),
			Default: s.def, Help: s.help, Secret: s.secret}
	}
	return out
}

// MarkdownTable renders Settings as a Markdown table for the README.
func MarkdownTable() string {
	var b strings.Builder
	b.WriteString("| NAME | flag | default | meaning |\n|---|---|---|---|\n")
	for _, s := range Settings() {
		def := "`" + s.Default + "`"
		if s.Default == "" {
			def = "(none)"
		}
		fmt.Fprintf(&b, "| %s | `--%s` | %s | %s |\n", s.Name, s.Flag, def, strings.ReplaceAll(s.Help, "|", "\\|"))
	}
	return b.String()
}

// Print writes the effective settings, one NAME=value line per setting in the
// order of the table. Secrets print as [REDACTED] (empty when unset). A value
// that did not parse prints as given, quoted and marked "(invalid)", never as
// the default it left in place; a value with a character that is not
// printable (a newline, an escape) prints quoted, so it cannot forge a line.
func (c Config) Print(w io.Writer) {
	var b strings.Builder
	refused := refusedNames(c.Validate(false))
	for _, s := range table {
		b.WriteString(s.name)
		b.WriteByte('=')
		if raw, bad := c.invalid[s.name]; bad {
			if s.secret {
				raw = secret.Redacted
			}
			b.WriteString(strconv.Quote(raw))
			b.WriteString(" (invalid)")
		} else if v := s.format(&c); strings.IndexFunc(v, notPrintable) >= 0 {
			b.WriteString(strconv.Quote(v))
		} else {
			b.WriteString(v)
		}
		// A value that parsed but is out of its bounds (RATE_P2P=-1) is
		// as invalid as one that did not parse.
		if _, bad := c.invalid[s.name]; !bad && refused[s.name] {
			b.WriteString(" (invalid)")
		}
		b.WriteByte('\n')
	}
	_, _ = io.WriteString(w, b.String())
}

// refusedNames returns the settings err (from Validate) names.
func refusedNames(err error) map[string]bool {
	out := map[string]bool{}
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var e *Error
		if errors.As(err, &e) {
			out[e.Name] = true
		}
	}
	if err != nil {
		walk(err)
	}
	return out
}

// notPrintable is true for a rune strconv.Quote escapes: controls, format
// characters (bidirectional overrides), invalid UTF-8.
func notPrintable(r rune) bool { return r == utf8.RuneError || !strconv.IsPrint(r) }

// Loader reads the settings from the environment and from the flags it
// registered on a FlagSet.
type Loader struct {
	getenv func(string) (string, bool)
	flags  []flagValue // parallel to table
	used   []bool      // parallel to table: the settings this Loader reads
}

// Register adds a flag for every setting to fs and returns a Loader. Call
// Loader.Config after fs.Parse. A nil getenv means os.LookupEnv. The flags
// only record their text, so fs.Parse never fails (nor prints) because of a
// setting's value: Config reports bad values, without secrets.
func Register(fs *flag.FlagSet, getenv func(string) (string, bool)) *Loader {
	return RegisterOnly(fs, getenv)
}

// RegisterOnly is Register for a command that uses only the named settings
// (none named: all of them): it adds only their flags, and its Loader reads
// only their environment variables; every other setting keeps its default.
// An unknown name panics: it is a programming error.
func RegisterOnly(fs *flag.FlagSet, getenv func(string) (string, bool), names ...string) *Loader {
	if getenv == nil {
		getenv = os.LookupEnv
	}
	l := &Loader{getenv: getenv, flags: make([]flagValue, len(table)), used: make([]bool, len(table))}
	for _, name := range names {
		i := slices.IndexFunc(table, func(s setting) bool { return s.name == name })
		if i < 0 {
			panic("config: RegisterOnly: unknown setting " + name)
		}
		l.used[i] = true
	}
	for i, s := range table {
		if len(names) == 0 {
			l.used[i] = true
		}
		if !l.used[i] {
			continue
		}
		l.flags[i].isBool = s.isBool
		help := s.help + " (env " + EnvPrefix + s.name
		if s.def != "" {
			help += ", default " + s.def
		}
		help += ")"
		fs.Var(&l.flags[i], flagName(s.name), help)
	}
	return l
}

// Config returns the effective settings: defaults, then the environment, then
// the flags. It reads MIMC_APP_SECRET_FILE. On error (every bad setting,
// joined) the returned Config still holds everything that parsed, bad settings
// keeping their defaults, so that it can be printed. Config does not check
// ranges and required settings: call Validate.
func (l *Loader) Config() (Config, error) {
	c := Default()
	var errs []error
	explicit := make(map[string]bool)
	for i, s := range table {
		v, ok := l.lookup(i)
		if !ok {
			continue
		}
		explicit[s.name] = true
		if err := s.parse(&c, v); err != nil {
			errs = append(errs, err)
			if c.invalid == nil {
				c.invalid = make(map[string]string)
			}
			c.invalid[s.name] = v
		}
	}
	if explicit["MIMC_APP_SECRET_FILE"] && c.MIMCAppSecretFile != "" {
		if explicit["MIMC_APP_SECRET"] {
			errs = append(errs, settingErr("MIMC_APP_SECRET_FILE", "set together with %sMIMC_APP_SECRET: set only one", EnvPrefix))
		} else if err := c.ReadSecretFile(); err != nil {
			errs = append(errs, err)
		}
	}
	return c, errors.Join(errs...)
}

// lookup returns the text given for table[i] by its flag or, failing that,
// its environment variable, and whether either gave one.
func (l *Loader) lookup(i int) (string, bool) {
	if !l.used[i] {
		return "", false
	}
	if l.flags[i].set {
		return l.flags[i].v, true
	}
	v, ok := l.getenv(EnvPrefix + table[i].name)
	return v, ok && (v != "" || table[i].emptyIsValue)
}

// Given reports whether the setting NAME was given, by a flag or by the
// environment, under the rules Config applies.
func (l *Loader) Given(name string) bool {
	i := slices.IndexFunc(table, func(s setting) bool { return s.name == name })
	if i < 0 {
		return false
	}
	_, ok := l.lookup(i)
	return ok
}

// Load parses args (the flags after the command word) with a FlagSet of its
// own and returns the settings and the remaining positional arguments. A nil
// getenv means os.LookupEnv. Like Loader.Config it does not call Validate.
func Load(args []string, getenv func(string) (string, bool)) (Config, []string, error) {
	fs := flag.NewFlagSet("mimc-bridge", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	ld := Register(fs, getenv)
	if err := fs.Parse(args); err != nil {
		return Default(), nil, err
	}
	c, err := ld.Config()
	return c, fs.Args(), err
}

// MaxSecretFileBytes bounds MIMC_APP_SECRET_FILE: a wrong path (a device, a
// log file) must not be read into memory whole.
const MaxSecretFileBytes = 4 << 10

// ReadSecretFile reads MIMCAppSecretFile (without its trailing newline) into
// MIMCAppSecret; a file over MaxSecretFileBytes or of only white space is
// refused. Load calls it. Its errors name the setting and never show the
// file's content.
func (c *Config) ReadSecretFile() error {
	if c.MIMCAppSecretFile == "" {
		return nil
	}
	b, err := smallfile.Read(c.MIMCAppSecretFile, MaxSecretFileBytes)
	if errors.Is(err, smallfile.ErrTooLarge) {
		return settingErr("MIMC_APP_SECRET_FILE", "the secret file %q is too large: more than %s (a secret is one short line)",
			c.MIMCAppSecretFile, smallfile.Size(MaxSecretFileBytes))
	}
	if err != nil {
		return settingErr("MIMC_APP_SECRET_FILE", "cannot read the secret file: %s", pathErrText(err))
	}
	v := strings.TrimRight(string(b), "\r\n")
	if v == "" {
		return settingErr("MIMC_APP_SECRET_FILE", "the secret file %q is empty", c.MIMCAppSecretFile)
	}
	if strings.TrimSpace(v) == "" {
		return settingErr("MIMC_APP_SECRET_FILE", "the secret file %q holds only white space", c.MIMCAppSecretFile)
	}
	c.MIMCAppSecret = secret.New(v)
	c.secretFromFile = c.MIMCAppSecretFile
	return nil
}

// pathErrText describes a file error without anything read from the file.
func pathErrText(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Sprintf("%s %q: %v", pe.Op, pe.Path, pe.Err)
	}
	return err.Error()
}

// flagValue records a flag's text; parsing happens in Loader.Config.
type flagValue struct {
	v      string
	set    bool
	isBool bool
}

func (f *flagValue) String() string {
	if f == nil {
		return ""
	}
	return "" // defaults are in the help text; secrets must never show
}

func (f *flagValue) Set(v string) error { f.v, f.set = v, true; return nil }

// IsBoolFlag lets a boolean setting be given as a bare --kafka-tls.
func (f *flagValue) IsBoolFlag() bool { return f != nil && f.isBool }

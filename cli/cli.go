// Package cli implements the mimc-bridge commands. main only wires signals
// to it; each command is a function of its arguments and streams so that
// tests can run it in process.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/mimc-bridge/mimc-bridge/config"
)

// Streams are a command's standard streams.
type Streams struct {
	In       io.Reader
	Out, Err io.Writer
}

// Exit codes.
const (
	ExitOK     = 0
	ExitFailed = 1 // the command ran and failed
	ExitUsage  = 2 // bad command line or settings
)

type command struct {
	name  string
	brief string
	run   func(ctx context.Context, args []string, s Streams) int
}

func commands() []command {
	return []command{
		{"run", "run the bridge (the default with no command)", runCommand},
		{"demo", "the whole system on one machine: embedded Kafka, MIMC sandbox, the bridge and sample events", demoCommand},
		{"outcomes", "read the results topic as a table or JSON lines", outcomesCommand},
		{"send", "produce one event (flags or JSON on stdin) to the events topic", sendCommand},
		{"replay", "produce again the event of failed, partial and expired outcomes to the topic each came from", replayCommand},
		{"config", "print the effective settings, secrets redacted; exit 2 if invalid (--for run: or if run needs more)", configCommand},
		{"version", "print the version (also --version)", versionCommand},
	}
}

// Main runs the command named by args[0] (run when absent or a flag) and
// returns the process exit code.
func Main(ctx context.Context, args []string, s Streams) int {
	name := "run"
	if len(args) > 0 {
		switch args[0] {
		case "help", "-h", "-help", "--help":
			if len(args) > 1 && args[0] == "help" { // help <command>: its flags
				return Main(ctx, []string{args[1], "--help"}, s)
			}
			usage(s.Out)
			return ExitOK
		case "-version", "--version":
			return versionCommand(ctx, args[1:], s)
		}
		if !strings.HasPrefix(args[0], "-") {
			name, args = args[0], args[1:]
		}
	}
	for _, c := range commands() {
		if c.name == name {
			return c.run(ctx, args, s)
		}
	}
	fmt.Fprintf(s.Err, "mimc-bridge: unknown command %q\nsee 'mimc-bridge --help'\n", name)
	return ExitUsage
}

// Version is set at build time with -ldflags "-X ...cli.Version=...".
var Version = "dev"

func versionCommand(_ context.Context, args []string, s Streams) int {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	if code, ok := parseFlags(fs, args, s); !ok {
		return code
	}
	fmt.Fprintln(s.Out, "mimc-bridge", Version)
	return ExitOK
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "mimc-bridge reads push events from Kafka, sends them as Xiaomi MIMC push calls and")
	fmt.Fprintln(w, "writes one outcome per event to a results topic.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "usage: mimc-bridge [command] [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.brief)
	}
	fmt.Fprintf(w, "  %-9s %s\n", "help", "this list (also -h, --help); help <command>: that command's flags")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "`mimc-bridge <command> --help` lists a command's flags. Every setting is also an")
	fmt.Fprintln(w, "environment variable MIMC_BRIDGE_<NAME> (the flag wins); see README.md.")
}

// parseFlags parses fs and reports a usage error (not a failure) for a bad
// command line in one line, pointing at --help rather than printing every
// flag; -h and --help print the command's flags on Out and exit 0.
func parseFlags(fs *flag.FlagSet, args []string, s Streams) (code int, ok bool) {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			commandUsage(s.Out, fs)
			return ExitOK, false
		}
		return usageErr(s, fs.Name(), "%v", err), false
	}
	if fs.NArg() > 0 {
		return usageErr(s, fs.Name(), "unexpected argument %q", fs.Arg(0)), false
	}
	return 0, true
}

// usageErr prints a command-line mistake of command cmd and where to look,
// and returns ExitUsage.
func usageErr(s Streams, cmd, format string, args ...any) int {
	fmt.Fprintf(s.Err, "mimc-bridge %s: %s\nsee 'mimc-bridge %s --help'\n", cmd, fmt.Sprintf(format, args...), cmd)
	return ExitUsage
}

// commandUsage prints a command's own flags, then the settings it takes in
// the order of the settings table, each spelled --name as the README does.
func commandUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "usage: mimc-bridge %s [flags]\n", fs.Name())
	for _, c := range commands() {
		if c.name == fs.Name() {
			fmt.Fprintf(w, "\n%s\n", c.brief)
		}
	}
	isSetting := map[string]bool{}
	var settings []*flag.Flag
	for _, st := range config.Settings() {
		isSetting[st.Flag] = true
		if f := fs.Lookup(st.Flag); f != nil {
			settings = append(settings, f)
		}
	}
	var own []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) {
		if !isSetting[f.Name] {
			own = append(own, f)
		}
	})
	if len(own) > 0 {
		fmt.Fprintln(w, "\nflags:")
		for _, f := range own {
			printFlag(w, f, true)
		}
	}
	if len(settings) > 0 {
		fmt.Fprintln(w, "\nsettings (each also an environment variable MIMC_BRIDGE_<NAME>; the flag wins):")
		for _, f := range settings {
			printFlag(w, f, false)
		}
	}
}

// printFlag prints one flag as flag.PrintDefaults does, with two dashes. A
// command's own flag shows its type and default; a setting's help already
// names its default.
func printFlag(w io.Writer, f *flag.Flag, own bool) {
	typ, help := flag.UnquoteUsage(f)
	line := "  --" + f.Name
	if typ != "" && own {
		line += " " + typ
	}
	switch f.DefValue {
	case "", "0", "false", "0s":
	default:
		if own {
			help += " (default " + f.DefValue + ")"
		}
	}
	fmt.Fprintf(w, "%s\n    \t%s\n", line, strings.ReplaceAll(help, "\n", "\n    \t"))
}

func getenv(k string) (string, bool) { return os.LookupEnv(k) }

// unknownEnv returns the MIMC_BRIDGE_* variables of the process's
// environment that are not settings (see config.UnknownEnv).
func unknownEnv() []config.Unknown { return config.UnknownEnv(os.Environ()) }

// warnUnknownEnv prints one warning line per unknown variable for command
// cmd and returns them: a misspelt setting silently leaves its default in
// force.
func warnUnknownEnv(w io.Writer, cmd string) []config.Unknown {
	unknown := unknownEnv()
	for _, u := range unknown {
		fmt.Fprintf(w, "mimc-bridge %s: warning: %s\n", cmd, u)
	}
	return unknown
}

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
		{"config", "print the effective settings, secrets redacted; exit non-zero if invalid", configCommand},
	}
}

// Main runs the command named by args[0] (run when absent or a flag) and
// returns the process exit code.
func Main(ctx context.Context, args []string, s Streams) int {
	name := "run"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	switch name {
	case "help", "-h", "--help":
		usage(s.Out)
		return ExitOK
	case "version":
		fmt.Fprintln(s.Out, "mimc-bridge", Version)
		return ExitOK
	}
	for _, c := range commands() {
		if c.name == name {
			return c.run(ctx, args, s)
		}
	}
	fmt.Fprintf(s.Err, "mimc-bridge: unknown command %q\n\n", name)
	usage(s.Err)
	return ExitUsage
}

// Version is set at build time with -ldflags "-X ...cli.Version=...".
var Version = "dev"

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: mimc-bridge [command] [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.brief)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Every setting is an environment variable MIMC_BRIDGE_<NAME> and a flag --<name>;")
	fmt.Fprintln(w, "`mimc-bridge <command> -h` lists them.")
}

// parseFlags parses fs and reports a usage error (not a failure) for a bad
// command line; -h prints the flags and exits 0.
func parseFlags(fs *flag.FlagSet, args []string, s Streams) (code int, ok bool) {
	fs.SetOutput(s.Err)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK, false
		}
		return ExitUsage, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(s.Err, "mimc-bridge %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return ExitUsage, false
	}
	return 0, true
}

func getenv(k string) (string, bool) { return os.LookupEnv(k) }

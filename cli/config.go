package cli

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/mimc-bridge/mimc-bridge/config"
	"github.com/mimc-bridge/mimc-bridge/tracing"
)

// configCommand prints the effective settings, secrets redacted. Bad
// settings exit 2, as for every command. Settings that are valid but lack
// what run needs (brokers, MIMC credentials) exit 0 with a note, or 2 with
// --for run: the pre-flight check of a deployment. A MIMC_BRIDGE_* variable
// that is not a setting is a warning, as for every command, and with
// --for run exits 2 too, and so does an OTEL_* value run would refuse.
func configCommand(_ context.Context, args []string, s Streams) int {
	fs := flag.NewFlagSet("config", flag.ContinueOnError)
	forCmd := fs.String("for", "", "also require what this command needs to start (run), and exit 2 if something is missing")
	ld := config.Register(fs, getenv)
	if code, ok := parseFlags(fs, args, s); !ok {
		return code
	}
	switch *forCmd {
	case "", "run":
	default:
		return usageErr(s, "config", "--for: %q is not a command that needs more settings (want run)", *forCmd)
	}
	unknown := warnUnknownEnv(s.Err, "config")
	cfg, err := ld.Config()
	cfg.Print(s.Out)
	if err == nil {
		err = cfg.Validate(false)
	}
	if err != nil {
		fmt.Fprintf(s.Err, "invalid settings:\n%s\n", indent(err.Error()))
		return ExitUsage
	}
	if err := cfg.Validate(true); err != nil {
		if *forCmd == "run" {
			fmt.Fprintf(s.Err, "`run` needs:\n%s\n", indent(err.Error()))
			return ExitUsage
		}
		fmt.Fprintf(s.Err, "valid, but `run` also needs (`config --for run` exits 2 for this):\n%s\n", indent(err.Error()))
	}
	if _, err := tracing.Load(getenv); err != nil {
		// Only run traces: for the others these variables mean nothing.
		if *forCmd == "run" {
			fmt.Fprintf(s.Err, "`run` would refuse the traces' settings:\n%s\n", indent(err.Error()))
			return ExitUsage
		}
		fmt.Fprintf(s.Err, "valid, but `run` would refuse the traces' settings (`config --for run` exits 2 for this):\n%s\n", indent(err.Error()))
	}
	if len(unknown) > 0 && *forCmd == "run" {
		// A deployment's pre-flight check: a misspelt setting is a
		// mistake to fix before run starts with a default in its place.
		fmt.Fprintf(s.Err, "`run` would ignore %d environment variable(s) that are not settings (named above); rename or remove them\n", len(unknown))
		return ExitUsage
	}
	return ExitOK
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}

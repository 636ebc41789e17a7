package cli

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/mimc-bridge/mimc-bridge/config"
)

// configCommand prints the effective settings, secrets redacted. Bad
// settings exit 2, as for every command. Settings that are valid but lack
// what run needs (brokers, MIMC credentials) exit 0 with a note, or 2 with
// --for run: the pre-flight check of a deployment.
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
	return ExitOK
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}

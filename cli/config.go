package cli

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/mimc-bridge/mimc-bridge/config"
)

func configCommand(_ context.Context, args []string, s Streams) int {
	fs := flag.NewFlagSet("config", flag.ContinueOnError)
	ld := config.Register(fs, getenv)
	if code, ok := parseFlags(fs, args, s); !ok {
		return code
	}
	cfg, err := ld.Config()
	cfg.Print(s.Out)
	if err == nil {
		err = cfg.Validate(false)
	}
	if err != nil {
		fmt.Fprintf(s.Err, "invalid settings:\n%s\n", indent(err.Error()))
		return ExitFailed
	}
	if err := cfg.Validate(true); err != nil {
		fmt.Fprintf(s.Err, "valid, but `run` also needs:\n%s\n", indent(err.Error()))
	}
	return ExitOK
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}

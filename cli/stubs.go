package cli

import (
	"context"
	"fmt"
)

// The demo, outcomes and send commands are built in their own files; these
// placeholders keep the command table complete until then.

func demoCommand(_ context.Context, _ []string, s Streams) int {
	fmt.Fprintln(s.Err, "mimc-bridge demo: not built yet")
	return ExitFailed
}

func outcomesCommand(_ context.Context, _ []string, s Streams) int {
	fmt.Fprintln(s.Err, "mimc-bridge outcomes: not built yet")
	return ExitFailed
}

func sendCommand(_ context.Context, _ []string, s Streams) int {
	fmt.Fprintln(s.Err, "mimc-bridge send: not built yet")
	return ExitFailed
}

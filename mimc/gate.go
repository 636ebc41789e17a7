package mimc

import (
	"context"

	"github.com/mimc-bridge/mimc-bridge/message"
)

// Gate admits the attempts of calls: it decides when each may go out (the
// member's share of the app's quota, a bound of calls in flight) and hears
// how each went. It is the one place those limits live; a Client without a
// Gate sends every attempt at once. Every attempt goes through it, retries
// included, since each spends quota at MIMC.
type Gate interface {
	// Admit blocks until an attempt of n recipients of the kind
	// (message.P2P, message.P2T) may be sent, or until ctx ends: then it
	// returns ctx's error. ctx is the one given to Push: it carries what
	// the caller knows of the call (which calls go first is the caller's
	// policy). It is called from the goroutine of Push, for many calls at
	// once.
	Admit(ctx context.Context, kind message.Kind, n int) (Admission, error)
}

// Admission is one admitted attempt. Exactly one of its methods is called,
// once.
type Admission interface {
	// Done reports the attempt's outcome: nil when MIMC accepted it, else
	// its error (an HTTP 429 or envelope 429 carries any Retry-After).
	Done(e *Error)
	// Cancel gives back an admission whose attempt was not made, or was
	// abandoned because the call's context ended: it says nothing about
	// MIMC.
	Cancel()
}

package batching

// Reason says why a call was emitted, as Benthos counts its batch
// mechanisms: an operator reads from it whether calls go full, go at their
// linger (a live stream), or are cut short by a body size, the pending room
// or a flush.
type Reason uint8

// The reasons a call is emitted.
const (
	ReasonFull    Reason = iota + 1 // it reached its kind's most recipients (Add)
	ReasonSize                      // its request body could take no more (Add)
	ReasonLinger                    // its linger passed (Expired)
	ReasonHold                      // Hold kept it open past its linger, and stopped (Expired)
	ReasonFullest                   // among the fullest calls, emitted to free pending room (EmitFullest)
	ReasonFlush                     // every open call was flushed (Flush)
)

// Reasons lists every reason, for callers that report them all.
var Reasons = [...]Reason{ReasonFull, ReasonSize, ReasonLinger, ReasonHold, ReasonFullest, ReasonFlush}

// String returns the reason's name, fit for a metric label.
func (r Reason) String() string {
	switch r {
	case ReasonFull:
		return "full"
	case ReasonSize:
		return "size"
	case ReasonLinger:
		return "linger"
	case ReasonHold:
		return "hold"
	case ReasonFullest:
		return "fullest"
	case ReasonFlush:
		return "flush"
	}
	return "unknown"
}

package mimc

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Sentinel errors; an *Error wraps one of them (or a network error) in Err,
// so errors.Is works on what Push returns.
var (
	// ErrProtocol is an answer that breaks the contract, e.g. "3 recipients
	// but 2 packetIds". It is final.
	ErrProtocol = errors.New("mimc: protocol error")
	// ErrBadAnswer is the parent of every answer that cannot be read.
	ErrBadAnswer = errors.New("mimc: bad answer")
	// ErrNotJSON is an answer body that is not a JSON envelope.
	ErrNotJSON = fmt.Errorf("%w: not json", ErrBadAnswer)
	// ErrAnswerShape is JSON of the wrong shape (no code, data of the wrong type ...).
	ErrAnswerShape = fmt.Errorf("%w: wrong shape", ErrBadAnswer)
	// ErrAnswerTooLarge is an answer body larger than Config.MaxResponseBytes.
	ErrAnswerTooLarge = fmt.Errorf("%w: body too large", ErrBadAnswer)
	// ErrInvalidCall is a Call that cannot be sent (no recipients, wrong
	// recipient field for its kind, unknown kind ...). It is returned at once.
	ErrInvalidCall = errors.New("mimc: invalid call")
	// ErrRejected is an envelope code other than 200 (or a non-retryable HTTP
	// status): MIMC refused the call.
	ErrRejected = errors.New("mimc: rejected")
	// ErrUnavailable is a retryable HTTP status or envelope code.
	ErrUnavailable = errors.New("mimc: unavailable")
)

// Error is what Push returns for a failed call.
type Error struct {
	Endpoint   string // e.g. "/api/push/p2p/more"
	HTTPStatus int    // 0 when no HTTP answer
	Code       int    // envelope code, 0 when none
	Message    string // envelope message or a description
	Attempts   int
	Retryable  bool          // what the last attempt was classified as
	RetryAfter time.Duration // the answer's Retry-After; 0 when none
	Err        error         // underlying cause
}

// Error never contains the app secret: the message is scrubbed when the
// error is built, and no request body is ever part of it.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("mimc")
	if e.Endpoint != "" {
		b.WriteString(" ")
		b.WriteString(e.Endpoint)
	}
	var details []string
	if e.HTTPStatus != 0 {
		details = append(details, "http "+strconv.Itoa(e.HTTPStatus))
	}
	if e.Code != 0 {
		details = append(details, "code "+strconv.Itoa(e.Code))
	}
	switch e.Attempts {
	case 0:
	case 1:
		details = append(details, "1 attempt")
	default:
		details = append(details, strconv.Itoa(e.Attempts)+" attempts")
	}
	if e.Retryable {
		details = append(details, "retryable")
	}
	if len(details) > 0 {
		b.WriteString(" (")
		b.WriteString(strings.Join(details, ", "))
		b.WriteString(")")
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

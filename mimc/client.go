// Package mimc is a client of the MIMC server push API
// (/api/push/p2p/, /api/push/p2p/more, /api/push/p2t/, /api/push/p2t/more).
//
// A Client sends one Call per Push: it picks the endpoint from the number of
// recipients, retries what is retryable with exponential backoff and jitter,
// honours Retry-After, bounds the calls in flight and the recipients per
// second, and maps the i-th packetId of the answer to the i-th recipient.
// MIMC has no idempotency key: a retried call can deliver twice.
package mimc

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/mimc-bridge/mimc-bridge/internal/textcut"
	"github.com/mimc-bridge/mimc-bridge/message"
	"github.com/mimc-bridge/mimc-bridge/secret"
)

// The endpoints, relative to Config.BaseURL.
const (
	EndpointP2P     = "/api/push/p2p/"
	EndpointP2PMore = "/api/push/p2p/more"
	EndpointP2T     = "/api/push/p2t/"
	EndpointP2TMore = "/api/push/p2t/more"
)

// Call is one push: one message from one sender to the recipients of its
// kind. BizType is sent only when non-empty, IsStore only when set; topic ids
// are int64 numbers on the wire.
type Call struct {
	message.Content
	message.Recipients
}

// Endpoint is the path the call goes to, or "" when it cannot be sent.
func (c Call) Endpoint() string {
	ep, _, err := c.route()
	if err != nil {
		return ""
	}
	return ep
}

func (c *Call) route() (endpoint string, many bool, err error) {
	switch c.Kind {
	case message.P2P:
		if len(c.TopicIDs) > 0 {
			return "", false, fmt.Errorf("%w: a p2p call has topic ids", ErrInvalidCall)
		}
		switch len(c.ToAccounts) {
		case 0:
			return "", false, fmt.Errorf("%w: a p2p call without accounts", ErrInvalidCall)
		case 1:
			return EndpointP2P, false, nil
		}
		return EndpointP2PMore, true, nil
	case message.P2T:
		if len(c.ToAccounts) > 0 {
			return "", false, fmt.Errorf("%w: a p2t call has accounts", ErrInvalidCall)
		}
		switch len(c.TopicIDs) {
		case 0:
			return "", false, fmt.Errorf("%w: a p2t call without topic ids", ErrInvalidCall)
		case 1:
			return EndpointP2T, false, nil
		}
		return EndpointP2TMore, true, nil
	}
	return "", false, fmt.Errorf("%w: unknown kind %q", ErrInvalidCall, c.Kind)
}

// Result is the answer to a successful call.
type Result struct {
	PacketIDs []string // PacketIDs[i] belongs to the i-th recipient of the call ("" when it was withdrawn)
	Attempts  int
	Endpoint  string // e.g. "/api/push/p2p/more"
	// SentAt is when the first attempt went out (zero: none did).
	SentAt time.Time
	// Withdrawn holds the positions of the recipients that
	// Config.BeforeAttempt withdrew, ascending, also when Push fails: the
	// error is then about the others. When every recipient was withdrawn,
	// Push returns no error and PacketIDs holds only "".
	Withdrawn []int
}

// Client sends calls to MIMC. It is safe for concurrent use.
type Client struct {
	cfg      Config
	log      *zap.Logger
	baseURL  string
	http     *http.Client
	ownsHTTP bool
}

// New validates cfg (filling its defaults) and returns a client. A nil log
// logs nothing.
func New(cfg Config, log *zap.Logger) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	c := &Client{
		cfg:     cfg,
		log:     log.Named("mimc"),
		baseURL: strings.TrimRight(cfg.BaseURL, "/"),
		http:    cfg.HTTPClient,
	}
	if c.http == nil {
		c.http = newHTTPClient(cfg.MaxConcurrentCalls)
		c.ownsHTTP = true
	}
	return c, nil
}

func newHTTPClient(maxConcurrent int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = max(100, 2*maxConcurrent)
	t.MaxIdleConnsPerHost = max(maxConcurrent, 2)
	t.IdleConnTimeout = 90 * time.Second
	t.ForceAttemptHTTP2 = true
	// No Client.Timeout: each attempt has its own context deadline.
	return &http.Client{Transport: t}
}

// Close closes the idle connections of the client's own HTTP client (a
// Config.HTTPClient is left alone).
func (c *Client) Close() {
	if c.ownsHTTP {
		c.http.CloseIdleConnections()
	}
}

// String describes the client without any credential.
func (c *Client) String() string { return "mimc.Client(" + c.baseURL + ")" }

// GoString is String, so %#v shows no field either.
func (c *Client) GoString() string { return c.String() }

// Config returns the effective configuration (defaults filled).
func (c *Client) Config() Config { return c.cfg }

// BodySize measures the client's request bodies (see BodySize).
func (c *Client) BodySize() BodySize { return newBodySize(&c.cfg.Credentials) }

// Push sends call and returns its packet ids, or an *Error. Invalid calls
// fail at once with ErrInvalidCall and no attempt. Failed attempts are
// retried as Config.Retry says.
func (c *Client) Push(ctx context.Context, call Call) (Result, error) {
	endpoint, many, err := call.route()
	if err != nil {
		return Result{}, &Error{Endpoint: endpoint, Err: err}
	}
	if call.FromAccount == "" {
		return Result{Endpoint: endpoint}, &Error{Endpoint: endpoint, Err: fmt.Errorf("%w: empty fromAccount", ErrInvalidCall)}
	}
	buf := getBuffer()
	writeBody(buf, &c.cfg.Credentials, &call, many)
	body := newSharedBody(buf)

	n := call.Recipients.Len()
	p := pusher{c: c, ctx: ctx, endpoint: endpoint, url: c.baseURL + endpoint,
		many: many, kind: call.Kind, n: n, body: body,
		orig: &call, w: newWithdrawals(ctx, c.cfg.BeforeAttempt, n)}
	defer func() { p.body.release() }()
	deadline, _ := ctx.Deadline()
	retry := c.cfg.Retry.start(deadline)
	for {
		e := p.try()
		if e == nil {
			return p.result(nil)
		}
		wait, again := retry.next(e)
		if !again {
			return p.result(e)
		}
		if ctx.Err() == nil {
			p.notify(e, wait)
		}
		if err := sleep(ctx, wait); err != nil {
			return p.result(p.ended(err, e))
		}
	}
}

// result is what Push returns once its attempts are over: e is the last
// one's error, nil when it delivered or when every recipient was withdrawn.
func (p *pusher) result(e *Error) (Result, error) {
	res := Result{Attempts: p.attempts, Endpoint: p.endpoint, SentAt: p.sentAt}
	if p.w != nil {
		res.Withdrawn = p.w.withdrawn()
	}
	if e != nil {
		return res, e
	}
	res.PacketIDs = p.ids
	if p.w != nil {
		res.PacketIDs = p.w.spread(p.ids)
	}
	return res, nil
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// pusher is the state of one Push across its attempts.
type pusher struct {
	c        *Client
	ctx      context.Context
	endpoint string
	url      string
	many     bool
	kind     message.Kind
	n        int
	body     *sharedBody

	attempts int
	ids      []string

	sentAt time.Time    // of the first attempt
	orig   *Call        // the call as given
	w      *withdrawals // nil without Config.BeforeAttempt
}

// try makes one attempt once it is admitted; nil is success, and also the
// end of a call whose every recipient was withdrawn before it was sent.
func (p *pusher) try() *Error {
	if err := p.ctx.Err(); err != nil {
		return p.fail(&Error{Message: "context done before the attempt", Err: err})
	}
	adm, e := p.admit()
	if e != nil || p.allWithdrawn() {
		return e
	}
	if !p.prune() {
		adm.Cancel()
		return nil
	}
	p.attempts++
	start := time.Now()
	if p.attempts == 1 {
		p.sentAt = start
	}
	ids, e := p.attempt()
	if p.ctx.Err() != nil {
		adm.Cancel() // abandoned: its outcome says nothing about MIMC
	} else {
		adm.Done(e)
	}
	if obs := p.c.cfg.Observer; obs != nil {
		var err error
		status, code := http.StatusOK, CodeOK
		if e != nil {
			err, status, code = e, e.HTTPStatus, e.Code
		}
		obs.Attempt(p.endpoint, status, code, p.n, err, time.Since(start))
	}
	if span := trace.SpanFromContext(p.ctx); span.IsRecording() {
		traceAttempt(span, p.attempts, p.n, e, time.Since(start))
	}
	if e != nil {
		return p.fail(e)
	}
	p.ids = ids
	return nil
}

// admit waits until the Gate lets the attempt go (at once without one). A
// recipient withdrawn meanwhile is dropped, and the wait goes on for the
// others: the wait is bounded by the time BeforeAttempt asked to be asked
// again. It returns no admission and no error when every recipient was
// withdrawn.
func (p *pusher) admit() (Admission, *Error) {
	gate := p.c.cfg.Gate
	for {
		if !p.prune() {
			return nil, nil // every recipient was withdrawn
		}
		if gate == nil {
			return noAdmission{}, nil
		}
		ctx, cancel := p.ctx, context.CancelFunc(func() {})
		recheck := p.w != nil && !p.w.recheck.IsZero()
		if recheck {
			ctx, cancel = context.WithDeadline(p.ctx, p.w.recheck)
		}
		adm, err := gate.Admit(ctx, p.kind, p.n)
		cancel()
		if err == nil {
			return adm, nil
		}
		if recheck && p.ctx.Err() == nil {
			err = p.w.untilRecheck(p.ctx)
		}
		if err != nil {
			return nil, p.fail(&Error{Message: "waiting to be admitted (quota, calls in flight)", Err: err})
		}
	}
}

// noAdmission admits every attempt of a Client without a Gate.
type noAdmission struct{}

func (noAdmission) Done(*Error) {}
func (noAdmission) Cancel()     {}

// allWithdrawn reports whether every recipient of the call was withdrawn.
func (p *pusher) allWithdrawn() bool { return p.w != nil && len(p.w.alive) == 0 }

// prune drops the recipients that BeforeAttempt withdraws, reshaping the
// request for the others; it reports false when none is left.
func (p *pusher) prune() bool {
	if p.w == nil || !p.w.prune(time.Now()) {
		return true
	}
	if len(p.w.alive) == 0 {
		return false
	}
	call := p.w.narrow(p.orig)
	endpoint, many, _ := call.route() // the kind is valid and a recipient is left
	buf := getBuffer()
	writeBody(buf, &p.c.cfg.Credentials, &call, many)
	p.body.release()
	p.body = newSharedBody(buf)
	p.endpoint, p.url, p.many, p.n = endpoint, p.c.baseURL+endpoint, many, call.Recipients.Len()
	return true
}

func (p *pusher) fail(e *Error) *Error {
	e.Endpoint = p.endpoint
	e.Attempts = p.attempts
	e.Message = p.c.scrub(e.Message)
	return e
}

// ended is the error of a call whose context ended while it waited for its
// next attempt: the context's error, with what the last attempt got.
func (p *pusher) ended(err error, last *Error) *Error {
	e := &Error{Endpoint: p.endpoint, Attempts: p.attempts, Err: err,
		HTTPStatus: last.HTTPStatus, Code: last.Code, Message: last.Message, Retryable: last.Retryable}
	if last.Err != nil {
		// Only the context's error is the cause: the last attempt's is
		// context for the reader, and must not answer errors.Is as if
		// it had ended the call.
		e.Err = fmt.Errorf("%w (last attempt: %v)", err, last.Err) //nolint:errorlint // see above
	}
	return e
}

func (p *pusher) notify(e *Error, wait time.Duration) {
	p.c.log.Warn("mimc call failed, retrying",
		zap.String("endpoint", p.endpoint),
		zap.Int("attempt", p.attempts),
		zap.Duration("wait", wait),
		zap.Int("recipients", p.n),
		zap.Int("http_status", e.HTTPStatus),
		zap.Int("code", e.Code),
		zap.Error(e))
	if obs := p.c.cfg.Observer; obs != nil {
		obs.Retry(p.endpoint)
	}
	if span := trace.SpanFromContext(p.ctx); span.IsRecording() {
		span.AddEvent("mimc.retry", trace.WithAttributes(attribute.Float64("mimc.retry.wait_seconds", wait.Seconds())))
	}
}

// traceAttempt adds an event for one attempt to the span of the call (the
// caller's, in the context given to Push). e is the attempt's error, nil
// when it delivered; its text never holds the app secret.
func traceAttempt(span trace.Span, attempt, recipients int, e *Error, took time.Duration) {
	attrs := []attribute.KeyValue{
		attribute.Int("mimc.attempt", attempt),
		attribute.Int("mimc.recipients", recipients),
		attribute.Float64("mimc.duration_seconds", took.Seconds()),
	}
	if e != nil {
		attrs = append(attrs, attribute.String("error.message", e.Error()))
		if e.HTTPStatus != 0 {
			attrs = append(attrs, attribute.Int("http.response.status_code", e.HTTPStatus))
		}
		if e.Code != 0 {
			attrs = append(attrs, attribute.Int("mimc.code", e.Code))
		}
	}
	span.AddEvent("mimc.attempt", trace.WithAttributes(attrs...))
}

// drainCap bounds what is read from a body that is not used, so a
// connection is reused without reading an unbounded answer.
const drainCap = 64 << 10

// maxMessage bounds an envelope message kept in an error.
const maxMessage = 512

// attempt makes one HTTP request: newRequest builds it, classify judges the
// answer by the retry policy (go-retryablehttp's CheckRetry).
func (p *pusher) attempt() ([]string, *Error) {
	actx, cancel := context.WithTimeout(p.ctx, p.c.cfg.HTTPTimeout)
	defer cancel()
	req, err := p.newRequest(actx)
	if err != nil {
		return nil, &Error{Message: "building the request", Err: err}
	}
	resp, err := p.c.http.Do(req)
	if err != nil {
		return nil, p.requestFailed(actx, err)
	}
	buf := getBuffer()
	defer putBuffer(buf)
	_, rerr := buf.ReadFrom(io.LimitReader(resp.Body, p.c.cfg.MaxResponseBytes+1))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, drainCap))
	_ = resp.Body.Close()
	if rerr != nil {
		if cerr := p.ctx.Err(); cerr != nil {
			return nil, &Error{HTTPStatus: resp.StatusCode, Message: "reading the answer abandoned", Err: rerr}
		}
		return nil, &Error{HTTPStatus: resp.StatusCode, Message: "reading the answer", Err: rerr, Retryable: p.c.cfg.Retry.Transport(rerr)}
	}
	return p.classify(resp.StatusCode, resp.Header, buf.Bytes())
}

// newRequest builds the POST of the call's body, which it can send again.
func (p *pusher) newRequest(ctx context.Context) (*http.Request, error) {
	rb := p.body.reader()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, rb)
	if err != nil {
		_ = rb.Close()
		return nil, err
	}
	req.ContentLength = int64(rb.Len())
	req.GetBody = func() (io.ReadCloser, error) { return p.body.reader(), nil }
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "mimc-bridge")
	return req, nil
}

// requestFailed classifies a request that got no answer; actx is the
// attempt's context.
func (p *pusher) requestFailed(actx context.Context, err error) *Error {
	if cerr := p.ctx.Err(); cerr != nil {
		return &Error{Message: "request abandoned", Err: err}
	}
	msg := "request failed"
	switch {
	case isCertError(err):
		msg = "tls certificate"
	case actx.Err() != nil:
		msg = "no answer within " + p.c.cfg.HTTPTimeout.String()
	}
	return &Error{Message: msg, Err: err, Retryable: p.c.cfg.Retry.Transport(err)}
}

// classify judges an answer by the retry policy: the packet ids of the
// call's recipients, or the error, retryable or not. body holds at most
// MaxResponseBytes+1 bytes: more means the answer was too large.
func (p *pusher) classify(status int, header http.Header, body []byte) ([]string, *Error) {
	cfg := &p.c.cfg
	policy := &cfg.Retry
	tooLarge := int64(len(body)) > cfg.MaxResponseBytes
	if status < 200 || status > 299 {
		e := &Error{HTTPStatus: status, Retryable: policy.HTTPStatuses.Contains(status), Err: ErrRejected}
		if e.Retryable {
			e.Err = ErrUnavailable
		}
		if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
			e.RetryAfter, _ = parseRetryAfter(header.Get("Retry-After"), time.Now())
		}
		if !tooLarge {
			// Best effort: an error page may still be an envelope.
			if code, msg, _, derr := decodeAnswer(body, p.many); derr == nil {
				e.Code, e.Message = code, truncate(msg)
			}
		}
		if e.Message == "" {
			e.Message = strings.ToLower(http.StatusText(status))
		}
		return nil, e
	}
	if tooLarge {
		return nil, &Error{HTTPStatus: status,
			Err: fmt.Errorf("%w: more than %d bytes", ErrAnswerTooLarge, cfg.MaxResponseBytes)}
	}
	code, msg, ids, derr := decodeAnswer(body, p.many)
	if derr != nil {
		return nil, &Error{HTTPStatus: status, Code: code, Err: derr}
	}
	if code != CodeOK {
		e := &Error{HTTPStatus: status, Code: code, Message: truncate(msg), Err: ErrRejected}
		if policy.Codes.Contains(code) {
			e.Retryable, e.Err = true, ErrUnavailable
		}
		return nil, e
	}
	if len(ids) != p.n {
		return nil, &Error{HTTPStatus: status, Code: code,
			Err: fmt.Errorf("%w: %d recipients but %d packetIds", ErrProtocol, p.n, len(ids))}
	}
	return ids, nil
}

func isCertError(err error) bool {
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var host x509.HostnameError
	var verify *tls.CertificateVerificationError
	return errors.As(err, &unknown) || errors.As(err, &invalid) || errors.As(err, &host) || errors.As(err, &verify)
}

// truncate bounds a message from the server, cut at a character boundary.
func truncate(s string) string { return textcut.Ellipsis(s, maxMessage) }

// scrub removes the app secret from a text that came from the server.
func (c *Client) scrub(s string) string {
	if sec := c.cfg.Credentials.AppSecret.Reveal(); sec != "" && strings.Contains(s, sec) {
		return strings.ReplaceAll(s, sec, secret.Redacted)
	}
	return s
}

// maxRetryAfter bounds a Retry-After so a broken header cannot overflow.
const maxRetryAfter = 24 * time.Hour

// parseRetryAfter reads a Retry-After header: whole seconds or an HTTP date.
func parseRetryAfter(h string, now time.Time) (time.Duration, bool) {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(h, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		if n > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter, true
		}
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(h); err == nil {
		d := t.Sub(now)
		return min(max(d, 0), maxRetryAfter), true
	}
	return 0, false
}

// Package mimctest is a fake MIMC push server for tests, demos and load
// tests: the four push endpoints with credential and field checks, unique
// packet ids, a record of every call, and injectable faults (latency, HTTP
// 500 and 429, envelope 500, hangs, dropped connections, final codes).
package mimctest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The endpoints served.
const (
	EndpointP2P     = "/api/push/p2p/"
	EndpointP2PMore = "/api/push/p2p/more"
	EndpointP2T     = "/api/push/p2t/"
	EndpointP2TMore = "/api/push/p2t/more"
)

// The faults, as named in Script and Call.Fault.
const (
	FaultHTTP500     = "http500"
	FaultHTTP429     = "http429"
	FaultEnvelope500 = "envelope500"
	FaultHang        = "hang"
	FaultDrop        = "drop"
	FaultFinal       = "final" // a FinalCodeFor answer
	FaultOK          = "ok"    // Script only: this call gets no fault
)

// DefaultHangFor is how long a hang lasts when Faults.HangFor is 0.
const DefaultHangFor = 30 * time.Second

// maxBody bounds a request body; larger bodies get HTTP 413.
const maxBody = 8 << 20

// Config is the app the server accepts. Seed seeds the fault draws.
type Config struct {
	AppID, AppKey, AppSecret string
	Seed                     int64
}

// Faults are applied to the calls the server receives. Probabilities are
// drawn with one uniform number per call from the seeded source, in the
// order Drop, Hang, HTTP500, HTTP429, Envelope500 (so they should add up to
// at most 1).
type Faults struct {
	Latency       time.Duration // added to every call
	LatencyJitter time.Duration // uniform random extra

	HTTP500, HTTP429, Envelope500, Hang, Drop float64

	// RetryAfter is sent with HTTP 429 as whole seconds, rounded up; 0 sends
	// no Retry-After header.
	RetryAfter time.Duration
	// HangFor is how long a hang lasts (0: DefaultHangFor). A hang ends early
	// when the client goes away or the server closes; one that lasts its
	// whole time is then answered normally.
	HangFor time.Duration
	// FinalCodeFor answers every valid call from the account with this
	// envelope code (e.g. 403), which is final for a client.
	FinalCodeFor map[string]int
}

// Call is what the server recorded of one request.
type Call struct {
	Endpoint                                         string
	FromAccount, FromResource, Msg, MsgType, BizType string
	IsStore                                          *bool
	ToAccounts                                       []string // toAccount becomes a list of one
	TopicIDs                                         []int64  // topicId becomes a list of one
	HTTPStatus, Code                                 int      // HTTPStatus 0: no answer (drop, hang cut short)
	PacketIDs                                        []string // nil unless answered with success
	Fault                                            string   // "" when none
	At                                               time.Time
}

// Server is the fake MIMC server; it is an http.Handler.
type Server struct {
	cfg    Config
	prefix string

	mu     sync.Mutex
	rng    *mrand.Rand
	faults Faults
	script []string
	calls  []*Call
	next   uint64
	quota  quotaState

	done      chan struct{}
	closeOnce sync.Once
	srv       *http.Server
}

// New returns a server accepting cfg's credentials. Its packet ids are a
// random prefix (not drawn from Seed, so that two servers never share ids)
// and an increasing number: "k3f9x-1042".
func New(cfg Config) *Server {
	return &Server{
		cfg:    cfg,
		prefix: randomPrefix(),
		rng:    mrand.New(mrand.NewPCG(uint64(cfg.Seed), 0x6d696d63)),
		done:   make(chan struct{}),
	}
}

func randomPrefix() string {
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789"
	var b [5]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return string(b[:])
}

// Start listens on addr ("127.0.0.1:0" picks a port) and serves until Close.
func (s *Server) Start(addr string) (baseURL string, err error) {
	// Binding does not wait on anything a caller could cancel.
	ln, err := new(net.ListenConfig).Listen(context.Background(), "tcp", addr)
	if err != nil {
		return "", fmt.Errorf("mimctest: listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), nil
}

// Close ends hangs and stops serving. It is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() { close(s.done) })
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	return srv.Close()
}

// TB is the part of testing.TB that NewTestServer uses. The package does
// not import testing (nor httptest, which registers a flag), so that the
// binary that serves the demo's sandbox does not link them.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// NewTestServer serves a new server on a loopback port until the test ends
// and returns it and its base URL.
func NewTestServer(t TB, cfg Config) (*Server, string) {
	t.Helper()
	s := New(cfg)
	url, err := s.Start("127.0.0.1:0")
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, url
}

// SetFaults replaces the faults; it is safe while serving.
func (s *Server) SetFaults(f Faults) {
	if f.FinalCodeFor != nil {
		m := make(map[string]int, len(f.FinalCodeFor))
		for k, v := range f.FinalCodeFor {
			m[k] = v
		}
		f.FinalCodeFor = m
	}
	s.mu.Lock()
	s.faults = f
	s.mu.Unlock()
}

// Script queues one fault for each of the next calls, in order: "http500",
// "http429", "envelope500", "hang", "drop" or "ok". A scripted call ignores
// the probabilities. An unknown name panics.
func (s *Server) Script(faults ...string) {
	for _, f := range faults {
		switch f {
		case FaultHTTP500, FaultHTTP429, FaultEnvelope500, FaultHang, FaultDrop, FaultOK:
		default:
			panic("mimctest: unknown fault " + strconv.Quote(f))
		}
	}
	s.mu.Lock()
	s.script = append(s.script, faults...)
	s.mu.Unlock()
}

// Calls returns a copy of every call received, in arrival order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Call, len(s.calls))
	for i, c := range s.calls {
		out[i] = *c
	}
	return out
}

// Reset forgets the recorded calls, the script and the faults. Packet ids
// keep increasing.
func (s *Server) Reset() {
	s.mu.Lock()
	s.calls = nil
	s.script = nil
	s.faults = Faults{}
	s.mu.Unlock()
}

// Delivered maps the packet id of every successfully answered recipient to
// "p2p:<account>" or "p2t:<topic id>".
func (s *Server) Delivered() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[string]string)
	for _, c := range s.calls {
		if c.PacketIDs == nil {
			continue
		}
		for i, id := range c.PacketIDs {
			if i < len(c.ToAccounts) {
				m[id] = "p2p:" + c.ToAccounts[i]
			} else if i < len(c.TopicIDs) {
				m[id] = "p2t:" + strconv.FormatInt(c.TopicIDs[i], 10)
			}
		}
	}
	return m
}

// request holds the raw body fields; types are checked one by one so that
// the record keeps what could be read.
type request struct {
	AppID        json.RawMessage `json:"appId"`
	AppKey       json.RawMessage `json:"appKey"`
	AppSecret    json.RawMessage `json:"appSecret"`
	FromAccount  json.RawMessage `json:"fromAccount"`
	FromResource json.RawMessage `json:"fromResource"`
	Msg          json.RawMessage `json:"msg"`
	MsgType      json.RawMessage `json:"msgType"`
	BizType      json.RawMessage `json:"bizType"`
	IsStore      json.RawMessage `json:"isStore"`
	ToAccount    json.RawMessage `json:"toAccount"`
	ToAccounts   json.RawMessage `json:"toAccounts"`
	TopicID      json.RawMessage `json:"topicId"`
	TopicIDs     json.RawMessage `json:"topicIds"`
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// ServeHTTP answers one push call.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := Call{Endpoint: r.URL.Path, At: time.Now()}
	rec := s.arrive(&c)

	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.envelope(w, rec, &c, http.StatusMethodNotAllowed, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	many, known := endpointMany(r.URL.Path)
	if !known {
		s.envelope(w, rec, &c, http.StatusNotFound, http.StatusNotFound, "not found")
		return
	}
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer bufPool.Put(buf)
	n, err := buf.ReadFrom(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		s.finish(rec, &c) // the client went away
		return
	}
	if n > maxBody {
		s.envelope(w, rec, &c, http.StatusRequestEntityTooLarge, http.StatusRequestEntityTooLarge, "body too large")
		return
	}
	var req request
	if err := json.Unmarshal(buf.Bytes(), &req); err != nil {
		s.envelope(w, rec, &c, http.StatusBadRequest, http.StatusBadRequest, "invalid json body")
		return
	}
	invalid := s.read(&req, &c, r.URL.Path, many)

	fault, latency, faults := s.draw()
	if latency > 0 && !s.wait(r, latency) {
		c.Fault = fault
		s.finish(rec, &c)
		return
	}
	switch fault {
	case FaultDrop:
		c.Fault = fault
		s.finish(rec, &c)
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	case FaultHang:
		c.Fault = fault
		hang := faults.HangFor
		if hang <= 0 {
			hang = DefaultHangFor
		}
		if !s.wait(r, hang) {
			s.finish(rec, &c)
			return
		}
	case FaultHTTP500:
		c.Fault = fault
		s.envelope(w, rec, &c, http.StatusInternalServerError, http.StatusInternalServerError, "internal server error")
		return
	case FaultHTTP429:
		c.Fault = fault
		if ra := faults.RetryAfter; ra > 0 {
			secs := int64((ra + time.Second - 1) / time.Second)
			w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		}
		s.envelope(w, rec, &c, http.StatusTooManyRequests, http.StatusTooManyRequests, "too many requests")
		return
	case FaultEnvelope500:
		c.Fault = fault
		s.envelope(w, rec, &c, http.StatusOK, http.StatusInternalServerError, "internal error")
		return
	}

	if !s.credentialsOK(&req) {
		s.envelope(w, rec, &c, http.StatusOK, http.StatusUnauthorized, "invalid app credentials")
		return
	}
	if invalid != "" {
		s.envelope(w, rec, &c, http.StatusOK, http.StatusBadRequest, invalid)
		return
	}
	if code, ok := faults.FinalCodeFor[c.FromAccount]; ok {
		c.Fault = FaultFinal
		msg := strings.ToLower(http.StatusText(code))
		if msg == "" {
			msg = "refused"
		}
		s.envelope(w, rec, &c, http.StatusOK, code, msg)
		return
	}
	if s.overQuota(w, rec, &c) {
		return
	}
	s.success(w, rec, &c, many)
}

func endpointMany(path string) (many, known bool) {
	switch path {
	case EndpointP2P, EndpointP2T:
		return false, true
	case EndpointP2PMore, EndpointP2TMore:
		return true, true
	}
	return false, false
}

// arrive records the call at once so that Calls keeps arrival order.
func (s *Server) arrive(c *Call) *Call {
	rec := &Call{Endpoint: c.Endpoint, At: c.At}
	s.mu.Lock()
	s.calls = append(s.calls, rec)
	s.mu.Unlock()
	return rec
}

func (s *Server) finish(rec, c *Call) {
	s.mu.Lock()
	*rec = *c
	s.mu.Unlock()
}

// draw picks the fault of a call and its latency.
func (s *Server) draw() (fault string, latency time.Duration, f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f = s.faults
	u := s.rng.Float64()
	if len(s.script) > 0 {
		fault = s.script[0]
		s.script = s.script[1:]
		if fault == FaultOK {
			fault = ""
		}
	} else {
		for _, p := range []struct {
			name string
			p    float64
		}{{FaultDrop, f.Drop}, {FaultHang, f.Hang}, {FaultHTTP500, f.HTTP500}, {FaultHTTP429, f.HTTP429}, {FaultEnvelope500, f.Envelope500}} {
			if u < p.p {
				fault = p.name
				break
			}
			u -= p.p
		}
	}
	latency = f.Latency
	if f.LatencyJitter > 0 {
		latency += time.Duration(s.rng.Int64N(int64(f.LatencyJitter) + 1))
	}
	return fault, latency, f
}

// wait waits d; false when the client went away or the server closed first.
func (s *Server) wait(r *http.Request, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	case <-s.done:
		return false
	}
}

func (s *Server) credentialsOK(req *request) bool {
	var id string
	switch {
	case len(req.AppID) > 0 && req.AppID[0] == '"':
		if json.Unmarshal(req.AppID, &id) != nil {
			return false
		}
	case len(req.AppID) > 0:
		id = string(req.AppID) // a number is accepted too
	}
	return id == s.cfg.AppID && jsonString(req.AppKey) == s.cfg.AppKey && jsonString(req.AppSecret) == s.cfg.AppSecret
}

func jsonString(raw json.RawMessage) string {
	var v string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &v) != nil {
		return "\x00invalid"
	}
	return v
}

func isNull(raw json.RawMessage) bool { return len(raw) == 0 || string(raw) == "null" }

// read fills c from req and returns the first problem with the fields, or "".
func (s *Server) read(req *request, c *Call, path string, many bool) string {
	var problems []string
	str := func(name string, raw json.RawMessage, dst *string, required bool) {
		if isNull(raw) {
			if required {
				problems = append(problems, name+" is required")
			}
			return
		}
		if raw[0] != '"' || json.Unmarshal(raw, dst) != nil {
			problems = append(problems, name+" must be a string")
			return
		}
		if required && *dst == "" {
			problems = append(problems, name+" must not be empty")
		}
	}
	str("fromAccount", req.FromAccount, &c.FromAccount, true)
	str("fromResource", req.FromResource, &c.FromResource, false)
	str("msg", req.Msg, &c.Msg, true)
	str("msgType", req.MsgType, &c.MsgType, false)
	str("bizType", req.BizType, &c.BizType, false)
	if !isNull(req.IsStore) {
		var b bool
		if json.Unmarshal(req.IsStore, &b) != nil {
			problems = append(problems, "isStore must be a boolean")
		} else {
			c.IsStore = &b
		}
	}
	switch c.MsgType {
	case "":
	case "base64":
		if _, err := base64.StdEncoding.DecodeString(c.Msg); err != nil {
			problems = append(problems, "msg is not valid base64")
		}
	default:
		problems = append(problems, `msgType must be "" or "base64"`)
	}

	p2p := path == EndpointP2P || path == EndpointP2PMore
	fields := map[string]json.RawMessage{
		"toAccount": req.ToAccount, "toAccounts": req.ToAccounts,
		"topicId": req.TopicID, "topicIds": req.TopicIDs,
	}
	want := map[[2]bool]string{{true, false}: "toAccount", {true, true}: "toAccounts",
		{false, false}: "topicId", {false, true}: "topicIds"}[[2]bool{p2p, many}]
	for name, raw := range fields {
		if name != want && !isNull(raw) {
			problems = append(problems, name+" is not accepted by "+path)
		}
	}
	raw := fields[want]
	switch want {
	case "toAccount":
		var a string
		str("toAccount", raw, &a, true)
		if a != "" {
			c.ToAccounts = []string{a}
		}
	case "toAccounts":
		var list []string
		switch {
		case isNull(raw):
			problems = append(problems, "toAccounts is required")
		case json.Unmarshal(raw, &list) != nil:
			problems = append(problems, "toAccounts must be a list of strings")
		case len(list) == 0:
			problems = append(problems, "toAccounts must not be empty")
		default:
			c.ToAccounts = list
			for _, a := range list {
				if a == "" {
					problems = append(problems, "toAccounts has an empty account")
					break
				}
			}
		}
	case "topicId":
		if isNull(raw) {
			problems = append(problems, "topicId is required")
		} else if id, err := parseInt64(raw); err != nil {
			problems = append(problems, "topicId "+err.Error())
		} else {
			c.TopicIDs = []int64{id}
		}
	case "topicIds":
		var list []json.RawMessage
		switch {
		case isNull(raw):
			problems = append(problems, "topicIds is required")
		case raw[0] != '[' || json.Unmarshal(raw, &list) != nil:
			problems = append(problems, "topicIds must be a list of int64 numbers")
		case len(list) == 0:
			problems = append(problems, "topicIds must not be empty")
		default:
			ids := make([]int64, 0, len(list))
			for _, r := range list {
				id, err := parseInt64(r)
				if err != nil {
					problems = append(problems, "topicIds "+err.Error())
					break
				}
				ids = append(ids, id)
			}
			c.TopicIDs = ids
		}
	}
	if len(problems) == 0 {
		return ""
	}
	return problems[0]
}

func parseInt64(raw json.RawMessage) (int64, error) {
	if len(raw) == 0 || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
		return 0, errors.New("must be an int64 number")
	}
	id, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return 0, errors.New("must be an int64 number")
	}
	return id, nil
}

// envelope answers an error envelope and records it.
func (s *Server) envelope(w http.ResponseWriter, rec, c *Call, status, code int, message string) {
	c.HTTPStatus, c.Code = status, code
	s.finish(rec, c)
	msg, _ := json.Marshal(message)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, `{"code":%d,"message":%s,"data":null}`, code, msg)
}

// success issues packet ids in answer order and answers them.
func (s *Server) success(w http.ResponseWriter, rec, c *Call, many bool) {
	n := len(c.ToAccounts) + len(c.TopicIDs)
	ids := make([]string, n)
	c.HTTPStatus, c.Code = http.StatusOK, 200
	s.mu.Lock()
	first := s.next + 1
	s.next += uint64(n)
	s.mu.Unlock()
	out := make([]byte, 0, 64+n*(len(s.prefix)+12))
	out = append(out, `{"code":200,"message":"success","data":{`...)
	if many {
		out = append(out, `"packetIds":[`...)
	} else {
		out = append(out, `"packetId":`...)
	}
	for i := range ids {
		start := len(out)
		if i > 0 {
			out = append(out, ',')
			start++
		}
		out = append(out, '"')
		out = append(out, s.prefix...)
		out = append(out, '-')
		out = strconv.AppendUint(out, first+uint64(i), 10)
		ids[i] = string(out[start+1:])
		out = append(out, '"')
	}
	if many {
		out = append(out, ']')
	}
	out = append(out, "}}"...)
	c.PacketIDs = ids
	s.finish(rec, c)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	_, _ = w.Write(out)
}

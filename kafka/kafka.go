package kafka

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/mimc-bridge/mimc-bridge/internal/capool"
	"github.com/mimc-bridge/mimc-bridge/secret"
)

// Conn holds how to reach the brokers: addresses, TLS and SASL. One Conn
// serves the consumer group, the partition readers and the outcome writer so
// they can never disagree.
type Conn struct {
	Brokers []string
	TLS     *tls.Config
	SASL    sasl.Mechanism
	// Mechanism and Username are kept for error messages; the password lives
	// only inside SASL.
	Mechanism string
	Username  string
}

// String describes the connection without the SASL password, which the
// SASL mechanism holds in the clear: %v, %+v and %s of a Conn (and of a
// *Conn) print this, so a log line or a panic cannot reveal it.
func (c Conn) String() string {
	tlsState := "off"
	if c.TLS != nil {
		tlsState = "on"
	}
	sasl := "none"
	if c.SASL != nil {
		sasl = c.Mechanism + " user " + strconv.Quote(c.Username) + " password [REDACTED]"
	}
	return fmt.Sprintf("kafka.Conn{Brokers: %s, TLS: %s, SASL: %s}", strings.Join(c.Brokers, ","), tlsState, sasl)
}

// GoString is String, for %#v.
func (c Conn) GoString() string { return c.String() }

// MarshalJSON encodes String, so a Conn marshalled into a log or an error
// report carries no password either.
func (c Conn) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(c.String())), nil }

// ConnConfig is what NewConn needs from the settings.
type ConnConfig struct {
	Brokers       []string
	TLS           bool
	TLSCAFile     string
	SASLMechanism string // "", plain, scram-sha-256, scram-sha-512
	SASLUsername  string
	SASLPassword  secret.String
}

// NewConn builds the TLS and SASL parts of a Conn.
func NewConn(cfg ConnConfig) (Conn, error) {
	c := Conn{Brokers: cfg.Brokers, Mechanism: strings.ToLower(cfg.SASLMechanism), Username: cfg.SASLUsername}
	if cfg.TLS || cfg.TLSCAFile != "" {
		c.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
		if cfg.TLSCAFile != "" {
			pool, err := capool.Load(cfg.TLSCAFile)
			if err != nil {
				return Conn{}, fmt.Errorf("KAFKA_TLS_CA_FILE: %w", err)
			}
			c.TLS.RootCAs = pool
		}
	}
	switch c.Mechanism {
	case "":
	case "plain":
		c.SASL = plain.Mechanism{Username: cfg.SASLUsername, Password: cfg.SASLPassword.Reveal()}
	case "scram-sha-256", "scram-sha-512":
		algo := scram.SHA256
		if c.Mechanism == "scram-sha-512" {
			algo = scram.SHA512
		}
		m, err := scram.Mechanism(algo, cfg.SASLUsername, cfg.SASLPassword.Reveal())
		if err != nil {
			// The library's message does not carry the password, but wrap
			// only its kind to be sure.
			return Conn{}, fmt.Errorf("setting up SASL %s for user %q: invalid credentials", c.Mechanism, cfg.SASLUsername)
		}
		c.SASL = m
	default:
		return Conn{}, fmt.Errorf("unknown KAFKA_SASL_MECHANISM %q", cfg.SASLMechanism)
	}
	return c, nil
}

// Dialer returns a kafka-go dialer for the group and the readers.
func (c Conn) Dialer() *kafkago.Dialer {
	return &kafkago.Dialer{
		Timeout:       10 * time.Second,
		DualStack:     true,
		TLS:           c.TLS,
		SASLMechanism: c.SASL,
		ClientID:      "mimc-bridge",
	}
}

// Transport returns a kafka-go transport for the writer and admin calls.
func (c Conn) Transport() *kafkago.Transport {
	return &kafkago.Transport{
		DialTimeout: 10 * time.Second,
		TLS:         c.TLS,
		SASL:        c.SASL,
		ClientID:    "mimc-bridge",
		IdleTimeout: 60 * time.Second,
	}
}

// Client returns a kafka-go client of the brokers of c over a Transport
// of its own (Transport), each request bounded by timeout: the one way the
// group, the scanner, the offset client and the tools build theirs.
// closeIdle releases its connections.
func (c Conn) Client(timeout time.Duration) *kafkago.Client {
	return &kafkago.Client{Addr: kafkago.TCP(c.Brokers...), Transport: c.Transport(), Timeout: timeout}
}

// closeIdle releases the idle connections of a client from Conn.Client.
func closeIdle(cl *kafkago.Client) {
	if tr, ok := cl.Transport.(*kafkago.Transport); ok {
		tr.CloseIdleConnections()
	}
}

// Probe checks at start-up that the brokers can be reached with this TLS and
// SASL set-up and that the topics exist, so that a wrong setting fails at
// once with one message naming the cause: kafka-go alone reports most of these
// as a bare "unexpected EOF" and retries forever.
func (c Conn) Probe(ctx context.Context, topics ...string) error {
	if len(c.Brokers) == 0 {
		return errors.New("no Kafka broker given (KAFKA_BROKERS)")
	}
	d := c.Dialer()
	var conn *kafkago.Conn
	var errs []string
	for _, b := range c.Brokers {
		cc, err := guard(func() (*kafkago.Conn, error) { return d.DialContext(ctx, "tcp", b) })
		if err == nil {
			conn = cc
			break
		}
		errs = append(errs, c.explain(ctx, b, err))
	}
	if conn == nil {
		return fmt.Errorf("cannot use the Kafka brokers: %s", strings.Join(errs, "; "))
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	// The SASL handshake happens on dial; a first real request proves the
	// session works (a TLS listener spoken to in plain text answers nothing).
	parts, err := guard(func() ([]kafkago.Partition, error) { return conn.ReadPartitions() })
	if err != nil {
		return fmt.Errorf("cannot use the Kafka brokers: %s", c.explain(ctx, conn.RemoteAddr().String(), err))
	}
	have := make(map[string]bool)
	for _, p := range parts {
		have[p.Topic] = true
	}
	var missing []string
	for _, t := range topics {
		if !have[t] {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("topic(s) %s do not exist on %s: create them first (the bridge does not create topics)",
			strings.Join(missing, ", "), strings.Join(c.Brokers, ","))
	}
	return nil
}

// errNotKafka is what guard returns for a panic of kafka-go: some answers
// that are not the Kafka protocol (a length field of -1, for one) make it
// panic instead of returning an error.
var errNotKafka = errors.New("kafka-go panicked reading the answer")

// guard runs f, turning a panic into errNotKafka: at start-up the bridge
// talks to whatever listens at KAFKA_BROKERS, and a wrong address must end in
// a message naming it, not in a stack trace.
func guard[T any](f func() (T, error)) (v T, err error) {
	defer func() {
		if recover() != nil {
			var zero T
			v, err = zero, errNotKafka
		}
	}()
	return f()
}

// notKafka describes a broker whose answer is not the Kafka protocol; detail,
// when not empty, is what kafka-go made of it.
func notKafka(broker, detail string) string {
	if detail != "" {
		detail = " (" + detail + ")"
	}
	return fmt.Sprintf("broker %s does not answer as a Kafka broker: its answer is not the Kafka protocol%s. Is KAFKA_BROKERS the address of another service?", broker, detail)
}

// explain turns a dial or first-request error into a sentence that names the
// likely cause.
func (c Conn) explain(ctx context.Context, broker string, err error) string {
	var (
		recErr  tls.RecordHeaderError
		certErr *tls.CertificateVerificationError
		unkAuth x509.UnknownAuthorityError
		hostErr x509.HostnameError
		kerr    kafkago.Error
		opErr   *net.OpError
	)
	switch {
	case errors.Is(err, io.ErrNoProgress), errors.Is(err, errNotKafka):
		// kafka-go's words for an answer whose correlation id is not the
		// request's: the bytes are not a Kafka response.
		return notKafka(broker, "")
	case errors.As(err, &kerr) && (kerr == kafkago.SASLAuthenticationFailed || kerr == kafkago.IllegalSASLState):
		return fmt.Sprintf("broker %s: SASL authentication failed for user %q with mechanism %s: check KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD", broker, c.Username, c.Mechanism)
	case errors.As(err, &kerr) && kerr == kafkago.UnsupportedSASLMechanism:
		return fmt.Sprintf("broker %s does not accept SASL mechanism %s (KAFKA_SASL_MECHANISM)", broker, c.Mechanism)
	case errors.As(err, &recErr):
		return fmt.Sprintf("broker %s does not speak TLS (KAFKA_TLS is on): %v", broker, err)
	case errors.As(err, &certErr), errors.As(err, &unkAuth), errors.As(err, &hostErr):
		return fmt.Sprintf("TLS handshake with broker %s failed: the broker's certificate is not trusted (KAFKA_TLS_CA_FILE): %v", broker, err)
	case (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)) &&
		c.TLS != nil && c.closesTLSHandshake(ctx, broker):
		// Apache Kafka's plaintext listener reads a TLS hello as a request
		// too large to take and closes the connection at once (kfake waits
		// instead: the deadline case below).
		return fmt.Sprintf("broker %s closed the connection during the TLS handshake: does it speak TLS on this port (KAFKA_TLS is on)? A plaintext listener refuses a TLS handshake", broker)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET):
		hint := "does it expect TLS (KAFKA_TLS) or SASL (KAFKA_SASL_MECHANISM)?"
		if c.TLS != nil && c.SASL == nil {
			hint = "does it expect SASL (KAFKA_SASL_MECHANISM)?"
		} else if c.TLS != nil {
			hint = "check KAFKA_SASL_MECHANISM and the credentials"
		} else if c.SASL != nil {
			hint = "does it expect TLS (KAFKA_TLS), or refuse these SASL credentials?"
		}
		return fmt.Sprintf("broker %s closed the connection during the first request: %s Or is it not a Kafka broker?", broker, hint)
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return fmt.Sprintf("cannot reach broker %s: %v", broker, opErr.Err)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		if c.TLS != nil {
			// A plaintext listener reads the TLS hello as the start of
			// a huge request and waits for the rest: the handshake hangs.
			return fmt.Sprintf("broker %s did not answer in time: does it speak TLS on this port (KAFKA_TLS is on)? A plaintext listener never answers a TLS handshake: %v", broker, err)
		}
		return fmt.Sprintf("broker %s did not answer in time: is it a Kafka broker? A service that waits for a line of text (HTTP, for one) never answers a Kafka request: %v", broker, err)
	case !fromTheConnection(err):
		// Not the network, TLS, a deadline, a cancellation or a Kafka error
		// code: kafka-go could not read the answer ("not enough bytes
		// available to load the response" and the like).
		return notKafka(broker, err.Error())
	default:
		return fmt.Sprintf("broker %s: %v", broker, err)
	}
}

// closesTLSHandshake tells whether broker ends a TLS handshake by closing
// the connection: it is the connection's first step, so a close there says
// the listener does not speak TLS, where a close after it says SASL.
func (c Conn) closesTLSHandshake(ctx context.Context, broker string) bool {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: c.TLS.Clone()}
	conn, err := d.DialContext(ctx, "tcp", broker)
	if err == nil {
		conn.Close()
		return false
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)
}

// fromTheConnection reports whether err comes from the connection (the
// network, a TLS alert), the context, or is a Kafka error code, rather than
// from reading an answer.
func fromTheConnection(err error) bool {
	var (
		netErr net.Error
		alert  tls.AlertError
		kerr   kafkago.Error
		errno  syscall.Errno
	)
	return errors.As(err, &netErr) || errors.As(err, &alert) || errors.As(err, &kerr) || errors.As(err, &errno) ||
		errors.Is(err, context.Canceled)
}

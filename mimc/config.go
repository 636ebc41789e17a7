package mimc

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/mimc-bridge/mimc-bridge/secret"
)

// Defaults of Config; a zero field takes the default. The retry defaults are
// RetryPolicy's.
const (
	DefaultBaseURL            = "https://mimc.chat.xiaomi.net"
	DefaultHTTPTimeout        = 10 * time.Second
	DefaultMaxConcurrentCalls = 256
	DefaultMaxResponseBytes   = 1 << 20
)

// Credentials are the app's credentials from the MIMC console.
//
// AppID is sent as a JSON string: the published API page writes "appId":$appId
// without saying which JSON type it is, the app ids are 64-bit numbers that
// JavaScript producers cannot hold, and the public server SDKs send a string.
type Credentials struct {
	AppID     string
	AppKey    string
	AppSecret secret.String
}

// Observer hears about every attempt, for metrics. Its methods are called from
// the goroutine of Push and must be safe for concurrent use.
type Observer interface {
	// Attempt is called once per HTTP attempt. httpStatus is 0 when there was
	// no HTTP answer, code 0 when there was no envelope.
	Attempt(endpoint string, httpStatus, code int, recipients int, err error, elapsed time.Duration)
	// Retry is called before each wait for another attempt.
	Retry(endpoint string)
}

// Config configures a Client. Zero fields take the defaults above; only
// BaseURL (which defaults too) and Credentials matter for a working client.
type Config struct {
	BaseURL     string
	Credentials Credentials

	// HTTPTimeout bounds one attempt.
	HTTPTimeout time.Duration
	// Retry decides what is retried and how long it waits; its zero fields
	// take the defaults.
	Retry RetryPolicy

	// MaxConcurrentCalls sizes the client's connection pool: the most
	// attempts expected in flight. The Gate bounds them.
	MaxConcurrentCalls int
	// Gate, when set, admits every attempt (the quota, the calls in
	// flight); without one, attempts go at once.
	Gate Gate
	// BeforeAttempt, when set, may withdraw recipients of a call before
	// each of its attempts (the caller's policy, such as expiry).
	BeforeAttempt BeforeAttempt

	// MaxResponseBytes bounds the answer body that is read.
	MaxResponseBytes int64

	// HTTPClient, when set, is used instead of the client's own.
	HTTPClient *http.Client
	// Observer, when set, hears about attempts and retries.
	Observer Observer
}

// SetDefaults fills every zero field with its default.
func (c *Config) SetDefaults() {
	if c.BaseURL == "" {
		c.BaseURL = DefaultBaseURL
	}
	if c.HTTPTimeout == 0 {
		c.HTTPTimeout = DefaultHTTPTimeout
	}
	c.Retry.setDefaults()
	if c.MaxConcurrentCalls == 0 {
		c.MaxConcurrentCalls = DefaultMaxConcurrentCalls
	}
	if c.MaxResponseBytes == 0 {
		c.MaxResponseBytes = DefaultMaxResponseBytes
	}
}

// Validate fills the defaults and then checks every field; the error names
// the field. It never includes the secret.
func (c *Config) Validate() error {
	c.SetDefaults()
	u, err := url.Parse(c.BaseURL)
	if err != nil {
		return fmt.Errorf("mimc config: base url: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("mimc config: base url %q: want http(s)://host[:port]", c.BaseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("mimc config: base url %q: must not have a query or fragment", c.BaseURL)
	}
	if c.Credentials.AppID == "" {
		return errors.New("mimc config: app id is empty")
	}
	if c.Credentials.AppKey == "" {
		return errors.New("mimc config: app key is empty")
	}
	if c.Credentials.AppSecret.IsZero() {
		return errors.New("mimc config: app secret is empty")
	}
	if c.HTTPTimeout < 0 {
		return fmt.Errorf("mimc config: http timeout %s is negative", c.HTTPTimeout)
	}
	if err := c.Retry.validate(); err != nil {
		return fmt.Errorf("mimc config: %w", err)
	}
	if c.MaxConcurrentCalls < 0 {
		return fmt.Errorf("mimc config: max concurrent calls %d is negative", c.MaxConcurrentCalls)
	}
	if c.MaxResponseBytes < 0 {
		return fmt.Errorf("mimc config: max response bytes %d is negative", c.MaxResponseBytes)
	}
	return nil
}

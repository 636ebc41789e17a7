package mimc

import (
	"errors"
	"fmt"
	"math"
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
	DefaultMaxConcurrentCalls = 16
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

	// MaxConcurrentCalls bounds the HTTP attempts in flight.
	MaxConcurrentCalls int
	// RateP2P and RateP2T are recipients per second for each kind; 0 is no limit.
	RateP2P, RateP2T float64

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
	for _, r := range []struct {
		name string
		v    float64
	}{{"rate p2p", c.RateP2P}, {"rate p2t", c.RateP2T}} {
		if r.v < 0 || math.IsNaN(r.v) || math.IsInf(r.v, 0) {
			return fmt.Errorf("mimc config: %s %v must be a finite number >= 0", r.name, r.v)
		}
	}
	if c.MaxResponseBytes < 0 {
		return fmt.Errorf("mimc config: max response bytes %d is negative", c.MaxResponseBytes)
	}
	return nil
}

package mimctest

import (
	"math"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/time/rate"
)

// FaultQuota marks a call refused because the app's quota had no room for
// its recipients (Call.Fault).
const FaultQuota = "quota"

// Quota is an app-wide quota like production MIMC's: per kind, a token bucket
// of recipients per second shared by every client of the app. A call whose
// recipients do not fit is refused whole with code 429 and spends nothing.
type Quota struct {
	// P2P and P2T are recipients per second; 0 is no quota for the kind.
	P2P, P2T float64
	// Burst is how much quota the bucket holds, in time: 0 is one second's
	// worth. A call larger than the bucket never fits.
	Burst time.Duration
	// HTTP refuses with HTTP 429; by default the answer is HTTP 200 with
	// envelope code 429, as MIMC answers.
	HTTP bool
	// RetryAfter sends a Retry-After header with a refusal: the whole
	// seconds (at least 1) until the call would have fitted.
	RetryAfter bool
}

// QuotaStats count what the quota let through and refused, per kind, since
// the last SetQuota.
type QuotaStats struct {
	P2P, P2T KindStats
	Since    time.Time // when SetQuota was called
}

// KindStats are the counts of one kind. Only calls that would otherwise
// have succeeded are counted: a call refused for another reason spends no
// quota either.
type KindStats struct {
	AcceptedCalls, AcceptedRecipients int64
	RefusedCalls, RefusedRecipients   int64
}

// Use is the share of the quota that was used over span: accepted
// recipients over rate × span.
func (k KindStats) Use(perSecond float64, span time.Duration) float64 {
	if perSecond <= 0 || span <= 0 {
		return 0
	}
	return float64(k.AcceptedRecipients) / (perSecond * span.Seconds())
}

// RefusedShare is the share of calls that were refused.
func (k KindStats) RefusedShare() float64 {
	n := k.AcceptedCalls + k.RefusedCalls
	if n == 0 {
		return 0
	}
	return float64(k.RefusedCalls) / float64(n)
}

type quotaState struct {
	q          Quota
	p2p, p2t   *rate.Limiter
	stats      QuotaStats
	configured bool
}

// SetQuota replaces the quota and resets its counts; the buckets start
// full. The zero Quota removes it. It is safe while serving.
func (s *Server) SetQuota(q Quota) {
	now := time.Now()
	st := quotaState{q: q, configured: q.P2P > 0 || q.P2T > 0}
	st.p2p = newBucket(q.P2P, q.Burst, now)
	st.p2t = newBucket(q.P2T, q.Burst, now)
	st.stats.Since = now
	s.mu.Lock()
	s.quota = st
	s.mu.Unlock()
}

// QuotaStats returns the counts since the last SetQuota.
func (s *Server) QuotaStats() QuotaStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.quota.stats
}

// newBucket is rate.Limiter as a plain token bucket: callers ask AllowN at
// the call's arrival time and never wait.
func newBucket(perSecond float64, burst time.Duration, now time.Time) *rate.Limiter {
	if perSecond <= 0 {
		return nil
	}
	if burst <= 0 {
		burst = time.Second
	}
	b := int(math.Max(1, math.Ceil(perSecond*burst.Seconds())))
	l := rate.NewLimiter(rate.Limit(perSecond), b)
	l.AllowN(now, 0) // the bucket starts full at now, not at the zero time
	return l
}

// overQuota spends the quota of a call that is about to succeed, or answers
// 429 and returns true when the call does not fit.
func (s *Server) overQuota(w http.ResponseWriter, rec, c *Call) bool {
	n := len(c.ToAccounts) + len(c.TopicIDs)
	s.mu.Lock()
	st := &s.quota
	if !st.configured {
		s.mu.Unlock()
		return false
	}
	b, k := st.p2t, &st.stats.P2T
	if c.Endpoint == EndpointP2P || c.Endpoint == EndpointP2PMore {
		b, k = st.p2p, &st.stats.P2P
	}
	if b == nil || b.AllowN(c.At, n) {
		k.AcceptedCalls++
		k.AcceptedRecipients += int64(n)
		s.mu.Unlock()
		return false
	}
	k.RefusedCalls++
	k.RefusedRecipients += int64(n)
	retryAfter := 0
	if st.q.RetryAfter {
		missing := float64(n) - b.TokensAt(c.At)
		retryAfter = max(1, int(math.Ceil(missing/float64(b.Limit()))))
	}
	httpStatus := http.StatusOK
	if st.q.HTTP {
		httpStatus = http.StatusTooManyRequests
	}
	s.mu.Unlock()

	c.Fault = FaultQuota
	if retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	}
	s.envelope(w, rec, c, httpStatus, http.StatusTooManyRequests, "quota exceeded")
	return true
}

package event

import (
	"strconv"
	"time"
)

// MaxTTL is the longest ttl an event may give, in seconds: 30 days.
const MaxTTL = 30 * 24 * 3600

// ttl reads the optional ttl: a JSON integer of seconds from 1 to MaxTTL.
// It is read from the literal, so 1.0, 1e3 and "60" are refused rather than
// guessed at.
func (d *decoder) ttl() (int, string) {
	sp, ok := d.get(fTTL)
	if !ok {
		return 0, ""
	}
	lit := string(d.value[sp.s:sp.e])
	switch c := lit[0]; {
	case c == '"':
		return 0, "ttl: must be a number of seconds, not a string"
	case c != '-' && (c < '0' || c > '9'):
		return 0, "ttl: must be a number of seconds"
	}
	n, err := strconv.ParseInt(lit, 10, 64)
	switch {
	case err != nil && digitsOnly(lit):
		n = MaxTTL + 1 // beyond 64 bits
	case err != nil && lit[0] == '-' && digitsOnly(lit[1:]):
		n = -1
	case err != nil:
		return 0, "ttl: must be a whole number of seconds, got " + quote(lit)
	}
	switch {
	case n <= 0:
		return 0, "ttl: must be at least 1 second, got " + quote(lit)
	case n > MaxTTL:
		return 0, "ttl: at most " + strconv.Itoa(MaxTTL) + " seconds (30 days), got " + quote(lit)
	}
	return int(n), ""
}

func digitsOnly(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// ExpiresAt returns when the event expires: recordTime plus its ttl, or plus
// def when it has none; the zero time when neither is set (it never
// expires). recordTime is the input record's timestamp.
func (e *Event) ExpiresAt(recordTime time.Time, def time.Duration) time.Time {
	switch {
	case e.TTL > 0:
		return recordTime.Add(time.Duration(e.TTL) * time.Second)
	case def > 0:
		return recordTime.Add(def)
	}
	return time.Time{}
}

// ClockSkewTolerance is how far ahead of the bridge's clock a record
// timestamp may be before it is counted as a producer clock running fast.
const ClockSkewTolerance = time.Minute

// LifeStart returns when an event's life began: the earlier of its record's
// timestamp and fetched (a record cannot have been written after it was
// fetched: a producer clock running fast must not lengthen a ttl), or fetched
// when the record has no timestamp (the zero time). ahead reports a
// timestamp more than ClockSkewTolerance past fetched.
func LifeStart(recordTime, fetched time.Time) (start time.Time, ahead bool) {
	if recordTime.IsZero() || recordTime.After(fetched) {
		return fetched, !recordTime.IsZero() && recordTime.Sub(fetched) > ClockSkewTolerance
	}
	return recordTime, false
}

// IsExpired reports whether an event that expires at expiresAt (zero:
// never) has expired at now.
func IsExpired(expiresAt, now time.Time) bool {
	return !expiresAt.IsZero() && !now.Before(expiresAt)
}

// ExpiredError is the error of an outcome or recipient that expired at t.
func ExpiredError(t time.Time) string {
	return "expired at " + string(appendTime(nil, t)) + " before it was sent"
}

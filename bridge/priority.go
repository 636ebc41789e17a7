package bridge

import (
	"github.com/mimc-bridge/mimc-bridge/batching"
	"github.com/mimc-bridge/mimc-bridge/quota"
)

// priority is the lane an event travels in. Events of URGENT_TOPICS travel
// in a lane of their own from fetch to send: their own room (a backlog on
// the other topics cannot fill it), their own batcher and batch loop (a
// batch loop blocked handing normal calls to busy senders never holds them
// up), their own senders (which normal calls waiting for the quota cannot
// all occupy), and the quota first.
type priority = quota.Priority

// The lanes are the quota's priorities: one home for the concept.
const (
	normal     = quota.Normal
	urgent     = quota.Urgent
	priorities = quota.Priorities
)

// laneConfig sizes one lane.
type laneConfig struct {
	maxPending int   // events in flight before its fetchers pause
	maxBytes   int64 // bytes of events in flight before its fetchers pause (room.go)
	senders    int
}

// lanes sizes the lanes: with urgent topics the urgent lane takes a quarter
// of MAX_PENDING_EVENTS (at least one event) out of the normal lane's, so
// that memory stays bounded by the setting, and has a quarter as many
// senders again (at least two): the client bounds the calls in flight.
func lanes(maxPending, senders int, hasUrgent bool) [priorities]laneConfig {
	var l [priorities]laneConfig
	l[normal] = laneConfig{maxPending: maxPending, senders: senders}
	l[urgent] = laneConfig{maxPending: 1, senders: 1} // unused without urgent topics
	if hasUrgent {
		u := max(1, maxPending/4)
		l[urgent].maxPending = u
		l[normal].maxPending = max(1, maxPending-u)
		l[urgent].senders = max(2, senders/4)
	}
	return l
}

// withBytes shares MAX_PENDING_BYTES between the lanes as lanes shares
// MAX_PENDING_EVENTS: with urgent topics the urgent lane has a quarter.
func withBytes(l [priorities]laneConfig, maxBytes int, hasUrgent bool) [priorities]laneConfig {
	l[normal].maxBytes = int64(maxBytes)
	l[urgent].maxBytes = int64(maxBytes)
	if hasUrgent {
		l[urgent].maxBytes = int64(max(1, maxBytes/4))
		l[normal].maxBytes = int64(max(1, maxBytes-maxBytes/4))
	}
	return l
}

// lane is one priority's part of a generation.
type lane struct {
	prio    priority
	room    *room
	batcher *batching.Batcher[*record]
}

package main

import (
	"strconv"
	"strings"
	"time"
)

// workload describes a stream of input events. Events are generated from
// their index alone, so every mode of a run consumes the same records.
type workload struct {
	Name     string // "heavy", "none", "mixed" or "ordered"
	Events   int
	Messages int // distinct messages; for "none" every event has its own
	// Keys is the number of record keys of the ordered workload: event i
	// has key "k<i mod Keys>", so each key holds Events/Keys messages (a
	// conversation) in one partition. 0: every event's key is its id.
	Keys int
}

const (
	heavyMessages = 200
	// overlap is how many campaigns are sent at once in the heavy-sharing
	// workload: event i belongs to one of the overlap campaigns starting at
	// i*Messages/Events.
	overlap = 4
	// mixedMessages is how many messages the mixed workload interleaves:
	// each event belongs to one of them at random, so every partition holds
	// all of them from its first offset to its last (many campaigns at once,
	// or a backlog after an outage).
	mixedMessages = 300
)

func newWorkload(name string, events int) workload {
	w := workload{Name: name, Events: events, Messages: heavyMessages}
	switch name {
	case "none":
		w.Messages = events
	case "mixed":
		w.Messages = mixedMessages
	}
	if w.Messages > events {
		w.Messages = events
	}
	return w
}

// defaultOrderedKeys is the ordered workload's number of keys.
const defaultOrderedKeys = 2000

// key returns the record key of event i: its id, or for the ordered
// workload its conversation.
func (w workload) key(i int, id []byte) []byte {
	if w.Keys <= 0 {
		return id
	}
	return strconv.AppendInt([]byte{'k'}, int64(i%w.Keys), 10)
}

// mix is splitmix64: a cheap, well-spread hash of the event index.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// recipients of event i: 1 to 5, 3 on average.
func (w workload) recipients(i int) int { return 1 + int(mix(uint64(i))%5) }

// message index of event i.
func (w workload) message(i int) int {
	switch w.Name {
	case "none":
		return i
	case "mixed":
		return int(mix(uint64(i)^0x27d4eb2f165667c5) % uint64(w.Messages))
	}
	m := int(int64(i)*int64(w.Messages)/int64(w.Events)) + int(mix(uint64(i)^0x5bd1e995)%overlap)
	if m >= w.Messages {
		m = w.Messages - 1
	}
	return m
}

// ideal returns the recipients and the least number of MIMC calls the events
// need: the sum over messages of ceil(recipients / maxRecipients). Every
// recipient is unique, so nothing forces a call to be split further.
func (w workload) ideal(maxRecipients int) (recipients, calls int64) {
	per := make(map[int]int64)
	for i := 0; i < w.Events; i++ {
		r := int64(w.recipients(i))
		recipients += r
		per[w.message(i)] += r
	}
	for _, r := range per {
		calls += (r + int64(maxRecipients) - 1) / int64(maxRecipients)
	}
	return recipients, calls
}

const (
	campaignText = ": spring sale, 20% off everything in the shop until Sunday. Open the app to see your personal offers."
	orderText    = " shipped: your parcel is on its way and should arrive within two working days. Track it in the app."
)

// event appends the JSON value of event i to dst and returns it with its id.
// The id carries the produce time, from which latency is measured:
// "e<i>-<unix nanos>".
func (w workload) event(dst []byte, i int, produced time.Time) (value []byte, id []byte) {
	start := len(dst)
	dst = append(dst, 'e')
	dst = strconv.AppendInt(dst, int64(i), 10)
	dst = append(dst, '-')
	dst = strconv.AppendInt(dst, produced.UnixNano(), 10)
	idEnd := len(dst)
	// The id is written again inside the value below; keep the prefix as
	// the key.
	key := append([]byte(nil), dst[start:idEnd]...)
	dst = dst[:start]
	dst = append(dst, `{"id":"`...)
	dst = append(dst, key...)
	dst = append(dst, `","fromAccount":"shop","fromResource":"campaigns","toAccounts":[`...)
	n := w.recipients(i)
	dst = appendAccounts(dst, i, n)
	dst = append(dst, `],"msg":"`...)
	m := w.message(i)
	if w.Name == "none" {
		dst = append(dst, "Order "...)
		dst = strconv.AppendInt(dst, int64(m), 10)
		dst = append(dst, orderText...)
	} else {
		dst = append(dst, "Campaign "...)
		dst = strconv.AppendInt(dst, int64(m), 10)
		dst = append(dst, campaignText...)
	}
	dst = append(dst, `","bizType":"PROMO","isStore":true}`...)
	return dst, key
}

// producedAt reads the produce time from an event id made by event.
func producedAt(id []byte) (time.Time, bool) {
	s := string(id)
	k := strings.LastIndexByte(s, '-')
	if k < 0 || len(s) == 0 || s[0] != 'e' {
		return time.Time{}, false
	}
	ns, err := strconv.ParseInt(s[k+1:], 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(0, ns), true
}

// appendAccounts appends the n accounts of event i, "u<i>x<j>", as JSON
// strings separated by commas.
func appendAccounts(dst []byte, i, n int) []byte {
	for j := 0; j < n; j++ {
		if j > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `"u`...)
		dst = strconv.AppendInt(dst, int64(i), 10)
		dst = append(dst, 'x')
		dst = strconv.AppendInt(dst, int64(j), 10)
		dst = append(dst, '"')
	}
	return dst
}

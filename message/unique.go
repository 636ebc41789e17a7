package message

import "hash/maphash"

// Recipient is an account (p2p) or a topic id (p2t).
type Recipient interface{ string | int64 }

// ScanMax is the length up to which a list is scanned for a recipient;
// past it an Index keeps a hash table. BenchmarkSet chose it: for accounts
// it is within 16% of the best threshold at every length, and for 12-16
// topic ids it costs about half what 8 does (docs/performance.md).
const ScanMax = 16

// seed hashes recipients in every Index; it is random per process, so that
// no input can be made to collide on purpose.
var seed = maphash.MakeSeed()

// Index finds recipients in a list that only grows, such as the recipients
// of a call being filled: it scans a short list and keeps a hash table of
// positions for a long one. It is the one place where recipients are told
// apart; Set and Unique are built on it. The zero value is an empty index,
// and so is a nil *Index as long as the list is at most ScanMax long.
type Index[T Recipient] struct {
	table []int32 // open addressing: position+1 in the list, 0 empty; nil while scanning
	spare []int32 // a cleared table kept by Reset
	n     int     // list length indexed in table
	// the last value Has hashed, and its hash: Has and then Grew for the
	// same value, as a caller filling a list does, hash it once
	last   T
	lastH  uint64
	hashed bool // last and lastH are set
}

// Has reports whether list, every element of which was given to Grew,
// holds v.
func (x *Index[T]) Has(list []T, v T) bool {
	if x == nil || x.table == nil {
		for _, w := range list {
			if w == v {
				return true
			}
		}
		return false
	}
	x.last, x.lastH, x.hashed = v, hash(v), true
	mask := uint64(len(x.table) - 1)
	for p := x.lastH & mask; x.table[p] != 0; p = (p + 1) & mask {
		if list[x.table[p]-1] == v {
			return true
		}
	}
	return false
}

// Grew takes note of the values appended to list since the last call, none
// of which is already in it.
func (x *Index[T]) Grew(list []T) {
	n := len(list)
	if n <= ScanMax {
		return
	}
	if 2*n > len(x.table) { // at most half full
		size := 4 * ScanMax
		for size < 2*n {
			size <<= 1
		}
		if cap(x.spare) >= size {
			x.table, x.spare = x.spare[:cap(x.spare)], nil
		} else {
			x.table = make([]int32, size)
		}
		x.n = 0
	}
	mask := uint64(len(x.table) - 1)
	for i := x.n; i < n; i++ {
		h := x.lastH
		if !x.hashed || list[i] != x.last {
			h = hash(list[i])
		}
		p := h & mask
		for x.table[p] != 0 {
			p = (p + 1) & mask
		}
		x.table[p] = int32(i + 1)
	}
	x.n = n
}

// Reset empties the index for a new list, keeping its table's memory.
func (x *Index[T]) Reset() {
	if x.table != nil {
		clear(x.table)
		x.spare, x.table = x.table, nil
	}
	var zero T
	x.n, x.last, x.hashed = 0, zero, false
}

func hash[T Recipient](v T) uint64 {
	if s, ok := any(v).(string); ok {
		return maphash.String(seed, s)
	}
	return maphash.Comparable(seed, v)
}

// Set collects distinct recipients in order of first appearance. The zero
// value is an empty set.
type Set[T Recipient] struct {
	list  []T
	index Index[T]
}

// Add adds v unless the set has it, and reports whether it did.
func (s *Set[T]) Add(v T) bool {
	if s.index.Has(s.list, v) {
		return false
	}
	if s.list == nil {
		s.list = make([]T, 0, 4) // most lists are short: skip the growth from 1
	}
	s.list = append(s.list, v)
	s.index.Grew(s.list)
	return true
}

// Len is the number of recipients in the set.
func (s *Set[T]) Len() int { return len(s.list) }

// List returns the recipients in order of first appearance. The set keeps
// appending to it.
func (s *Set[T]) List() []T { return s.list }

// Unique returns list without repeats, in order of first appearance: list
// itself when it has none.
func Unique[T Recipient](list []T) []T {
	var x Index[T]
	for i, v := range list {
		if !x.Has(list[:i], v) {
			x.Grew(list[:i+1])
			continue
		}
		// The first repeat: go on from a copy of the distinct prefix.
		s := Set[T]{list: make([]T, i, len(list)-1), index: x}
		copy(s.list, list[:i])
		for _, w := range list[i+1:] {
			s.Add(w)
		}
		return s.list
	}
	return list
}

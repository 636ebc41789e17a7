package kafka

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/mimc-bridge/mimc-bridge/bridge"
)

// ScannerConfig configures a Scanner.
type ScannerConfig struct {
	Conn Conn
	// Topic is the results topic.
	Topic string
	// Group is the consumer group whose outcomes count; outcomes other
	// groups wrote to the same topic are ignored.
	Group string
	// Signer checks the signature of the group's outcomes (required): only
	// an outcome whose signature checks marks its record as done.
	Signer *Signer
	// FetchMaxBytes bounds one fetch response; default 8 MiB.
	FetchMaxBytes int
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Validate reports a configuration a Scanner cannot work with.
func (c ScannerConfig) Validate() error {
	switch {
	case c.Topic == "":
		return errors.New("cannot create a results scanner with an empty topic")
	case c.Group == "":
		return errors.New("cannot create a results scanner with an empty group")
	case len(c.Conn.Brokers) == 0:
		return errors.New("cannot create a results scanner without brokers")
	case c.Signer == nil:
		return errors.New("cannot create a results scanner without a signer")
	}
	return nil
}

// Scanner finds the outcomes that are already on the results topic for
// records of newly assigned partitions, so that the pipeline does not do
// them again: a push repeated after a crash reaches a user's phone twice.
type Scanner struct {
	cfg    ScannerConfig
	client *kafkago.Client
	log    *zap.Logger
}

// NewScanner returns a Scanner; Close releases its connections.
func NewScanner(cfg ScannerConfig, log *zap.Logger) (*Scanner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.FetchMaxBytes <= 0 {
		cfg.FetchMaxBytes = 8 << 20
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Scanner{
		cfg:    cfg,
		client: cfg.Conn.Client(10 * time.Second),
		log:    log,
	}, nil
}

// Close releases the scanner's idle connections.
func (s *Scanner) Close() { closeIdle(s.client) }

// FirstOffsets returns the first offset of each partition: where a group
// with no commit starts reading.
func (s *Scanner) FirstOffsets(ctx context.Context, tps []bridge.TopicPartition) (map[bridge.TopicPartition]int64, error) {
	return firstOffsets(ctx, s.client, tps)
}

// Scan reads the outcomes written to the results topic since the earliest
// OutcomesSince of assignments and returns the offsets at or after each
// assignment's Offset that they are the outcomes of. Assignments without a
// bound are not looked for: nothing says how far back their outcomes go.
//
// Each results partition is read in parallel from the first record at or
// after the bound to its end at the start of the scan; outcomes written
// later are not seen. Only headers are read. An error leaves nothing found
// for the caller to skip: doing work again repeats it, skipping wrongly
// would lose it.
func (s *Scanner) Scan(ctx context.Context, assignments []bridge.Assignment) (bridge.Done, bridge.ScanStats, error) {
	start := s.cfg.Now()
	var stats bridge.ScanStats
	from := make(map[bridge.TopicPartition]int64)
	for _, a := range assignments {
		if a.OutcomesSince.IsZero() || a.Offset < 0 {
			continue
		}
		from[a.TopicPartition] = a.Offset
		if stats.Since.IsZero() || a.OutcomesSince.Before(stats.Since) {
			stats.Since = a.OutcomesSince
		}
	}
	if len(from) == 0 {
		return bridge.Done{}, stats, nil
	}
	parts, err := Partitions(ctx, s.client, s.cfg.Topic)
	if err != nil {
		return bridge.Done{}, stats, fmt.Errorf("scanning the results topic: %w", err)
	}
	ends, err := EndOffsets(ctx, s.client, s.cfg.Topic, parts)
	if err != nil {
		return bridge.Done{}, stats, fmt.Errorf("scanning the results topic: %w", err)
	}
	starts, err := s.offsetsAt(ctx, parts, stats.Since)
	if err != nil {
		return bridge.Done{}, stats, fmt.Errorf("scanning the results topic: %w", err)
	}

	var (
		mu      sync.Mutex
		found   = make(map[bridge.TopicPartition][]int64)
		read    int
		ignored ignoredOutcomes
	)
	g, gctx := errgroup.WithContext(ctx)
	for _, p := range parts {
		begin, ok := starts[p]
		if !ok || begin >= ends[p] {
			continue // no outcome written since the bound
		}
		stats.Partitions++
		g.Go(func() error {
			got, n, ign, err := s.scanPartition(gctx, p, begin, ends[p], from)
			mu.Lock()
			defer mu.Unlock()
			read += n
			ignored.merge(ign)
			for tp, offs := range got {
				found[tp] = append(found[tp], offs...)
			}
			return err
		})
	}
	err = g.Wait()
	stats.Read = read
	stats.Ignored = ignored.n
	stats.Took = s.cfg.Now().Sub(start)
	s.logIgnored(ignored)
	if err != nil {
		return bridge.Done{}, stats, fmt.Errorf("scanning the results topic: %w", err)
	}
	return bridge.DoneOf(found), stats, nil
}

// offsetsAt returns, per partition, the first offset whose record's
// timestamp is at or after t; a partition with no such record is left out.
func (s *Scanner) offsetsAt(ctx context.Context, parts []int, t time.Time) (map[int]int64, error) {
	return retryTransient(ctx, func() (map[int]int64, error) { return s.offsetsAtOnce(ctx, parts, t) })
}

func (s *Scanner) offsetsAtOnce(ctx context.Context, parts []int, t time.Time) (map[int]int64, error) {
	req := &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{}}
	for _, p := range parts {
		req.Topics[s.cfg.Topic] = append(req.Topics[s.cfg.Topic], kafkago.TimeOffsetOf(p, t))
	}
	resp, err := s.client.ListOffsets(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("listing offsets of %s at %s: %w", s.cfg.Topic, t.UTC().Format(time.RFC3339Nano), err)
	}
	out := make(map[int]int64, len(parts))
	for _, po := range resp.Topics[s.cfg.Topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("listing offsets of %s/%d at %s: %w", s.cfg.Topic, po.Partition, t.UTC().Format(time.RFC3339Nano), po.Error)
		}
		// kafka-go files a found record under Offsets; "none" comes back
		// as offset -1 with timestamp -1, which it files as LastOffset.
		for off := range po.Offsets {
			if off >= 0 {
				out[po.Partition] = off
			}
		}
	}
	return out, nil
}

// ignoredOutcome is a results record the scan did not trust.
type ignoredOutcome struct {
	results   int64 // its offset on the results partition
	partition int   // the results partition
	source    bridge.TopicPartition
	offset    int64 // the source offset it claims is done
	unsigned  bool  // no signature at all (else a wrong one)
}

// maxIgnoredLogged bounds the ignored records a scan names in its log line
// (and keeps in memory: a flood of forged records must not grow it).
const maxIgnoredLogged = 10

// ignoredOutcomes counts the records a scan ignored and keeps the first
// few of each results partition.
type ignoredOutcomes struct {
	n, unsigned int
	first       []ignoredOutcome
}

func (ig *ignoredOutcomes) add(o ignoredOutcome) {
	ig.n++
	if o.unsigned {
		ig.unsigned++
	}
	if len(ig.first) < maxIgnoredLogged {
		ig.first = append(ig.first, o)
	}
}

func (ig *ignoredOutcomes) merge(o ignoredOutcomes) {
	ig.n += o.n
	ig.unsigned += o.unsigned
	ig.first = append(ig.first, o.first...)
}

// logIgnored logs one line for the records a scan ignored, naming the
// first few: a forged outcome means someone else writes to the results
// topic.
func (s *Scanner) logIgnored(ignored ignoredOutcomes) {
	if ignored.n == 0 {
		return
	}
	first := ignored.first
	slices.SortFunc(first, func(a, b ignoredOutcome) int {
		return cmp.Or(cmp.Compare(a.partition, b.partition), cmp.Compare(a.results, b.results))
	})
	named := make([]string, 0, maxIgnoredLogged)
	for _, ig := range first[:min(len(first), maxIgnoredLogged)] {
		why := "wrong signature"
		if ig.unsigned {
			why = "no signature"
		}
		named = append(named, fmt.Sprintf("%s/%d@%d claims %s/%d (%s)", s.cfg.Topic, ig.partition, ig.results, ig.source, ig.offset, why))
	}
	s.log.Warn("outcomes already written: ignored results records of this group whose signature does not check; their records are done again "+
		"(records forged by a writer of the results topic, written by a version that did not sign, or signed with another app secret)",
		zap.Int("ignored", ignored.n), zap.Int("unsigned", ignored.unsigned), zap.Int("wrong_signature", ignored.n-ignored.unsigned),
		zap.Strings("first_ignored", named))
}

// scanPartition reads results partition p from begin to end and returns
// the source offsets, per partition of from, at or after from[tp] that the
// signed outcomes of the group name, how many records it read, and the
// records that named such an offset without a valid signature.
func (s *Scanner) scanPartition(ctx context.Context, p int, begin, end int64, from map[bridge.TopicPartition]int64) (map[bridge.TopicPartition][]int64, int, ignoredOutcomes, error) {
	found := make(map[bridge.TopicPartition][]int64)
	group := s.cfg.Group
	var (
		read    int
		last    bridge.TopicPartition // the partition of the previous outcome, to spare a map lookup per record
		min     int64
		want    bool
		key     []byte // the record's key, read only to check a signature
		ignored ignoredOutcomes
	)
	ended, err := s.readResults(ctx, p, begin, end, func(rec *kafkago.Record, src outcomeSource) {
		read++
		if !src.ok || string(src.group) != group {
			closeBytes(rec.Key)
			return
		}
		if string(src.topic) != last.Topic || src.part != last.Partition {
			last = bridge.TopicPartition{Topic: string(src.topic), Partition: src.part}
			min, want = from[last]
		}
		if !want || src.offset < min {
			closeBytes(rec.Key)
			return
		}
		key = readBytes(key[:0], rec.Key)
		if !src.signed(s.cfg.Signer, key) {
			ignored.add(ignoredOutcome{results: rec.Offset, partition: p, source: last, offset: src.offset, unsigned: len(src.signature) == 0})
			return
		}
		found[last] = append(found[last], src.offset)
	})
	if err != nil {
		return found, read, ignored, err
	}
	if ended {
		// What follows was not found, and is redone.
		s.log.Warn("results partition ended early while scanning for outcomes already written",
			zap.String("topic", s.cfg.Topic), zap.Int("partition", p), zap.Int64("end", end))
	}
	return found, read, ignored, nil
}

// readResults reads results partition p from begin to end and calls fn
// with every record in that range and its outcome headers, parsed. The
// record's value is closed already; its key is fn's to read or close.
// endedEarly reports a partition with nothing readable left before end
// (control records, compaction). The crash skip and the dedup window read
// the results topic through it.
func (s *Scanner) readResults(ctx context.Context, p int, begin, end int64, fn func(rec *kafkago.Record, src outcomeSource)) (endedEarly bool, err error) {
	next := begin
	for next < end {
		resp, err := s.client.Fetch(ctx, &kafkago.FetchRequest{
			Topic: s.cfg.Topic, Partition: p, Offset: next,
			MinBytes: 1, MaxBytes: int64(s.cfg.FetchMaxBytes), MaxWait: 100 * time.Millisecond,
		})
		if err != nil {
			return false, fmt.Errorf("reading %s/%d at %d: %w", s.cfg.Topic, p, next, err)
		}
		if errors.Is(resp.Error, kafkago.OffsetOutOfRange) {
			// Retention deleted the oldest segments since the offset was
			// listed: what they held is gone, start at what is left.
			first, err := FirstOffsets(ctx, s.client, s.cfg.Topic, []int{p})
			if err != nil {
				return false, err
			}
			if first[p] <= next {
				return false, fmt.Errorf("reading %s/%d at %d: %w", s.cfg.Topic, p, next, resp.Error)
			}
			s.log.Info("the results topic's oldest outcomes were deleted: scanning from its log start",
				zap.String("topic", s.cfg.Topic), zap.Int("partition", p), zap.Int64("offset", next), zap.Int64("log_start", first[p]))
			next = first[p]
			continue
		}
		if resp.Error != nil {
			return false, fmt.Errorf("reading %s/%d at %d: %w", s.cfg.Topic, p, next, resp.Error)
		}
		before := next
		for {
			rec, err := resp.Records.ReadRecord()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return false, fmt.Errorf("reading %s/%d at %d: %w", s.cfg.Topic, p, next, err)
			}
			closeBytes(rec.Value)
			if rec.Offset < next || rec.Offset >= end {
				// A fetch answers whole batches, which may start
				// before the offset asked for.
				closeBytes(rec.Key)
				continue
			}
			next = rec.Offset + 1
			fn(rec, parseSourceHeaders(rec.Headers))
		}
		if next == before {
			return true, nil
		}
	}
	return false, nil
}

// readBytes appends what b holds to dst and closes b; a nil b appends
// nothing.
func readBytes(dst []byte, b kafkago.Bytes) []byte {
	if b == nil {
		return dst
	}
	defer closeBytes(b)
	n := b.Len()
	dst = slices.Grow(dst, n)
	m, _ := io.ReadFull(b, dst[len(dst):len(dst)+n])
	return dst[:len(dst)+m]
}

func closeBytes(b kafkago.Bytes) {
	if b != nil {
		_ = b.Close()
	}
}

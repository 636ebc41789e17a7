package kafka

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/mimc-bridge/mimc-bridge/bridge"
)

// commitMetadataPrefix starts the metadata of a commit that carries a bound
// on when the outcomes of the records at or after it were written; the
// version lets a later format be told apart. Metadata in any other form
// (none, a tool's) carries no bound.
const commitMetadataPrefix = "mimc-bridge/1 outcomes-since="

// CommitMetadata returns the metadata of a commit whose outcomes were all
// written at or after since (in unix milliseconds, the unit of record
// timestamps); "" for a zero since. Tools that set a group's offsets may
// write it too: without it the bridge does not look for outcomes already
// written.
func CommitMetadata(since time.Time) string {
	if since.IsZero() {
		return ""
	}
	return commitMetadataPrefix + strconv.FormatInt(since.UnixMilli(), 10)
}

// decodeCommitMetadata returns the bound a commit's metadata carries, or
// the zero time when it carries none.
func decodeCommitMetadata(md string) time.Time {
	rest, ok := strings.CutPrefix(md, commitMetadataPrefix)
	if !ok {
		return time.Time{}
	}
	ms, err := strconv.ParseInt(rest, 10, 64)
	if err != nil || ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// fetchOutcomeBounds sets the OutcomesSince of each assignment from the
// metadata of the group's commit of its partition. The bound is taken only
// where the committed offset is the one the assignment starts from: a bound
// belongs to its offset.
func fetchOutcomeBounds(ctx context.Context, cl *kafkago.Client, group string, as []bridge.Assignment) error {
	if len(as) == 0 {
		return nil
	}
	req := &kafkago.OffsetFetchRequest{GroupID: group, Topics: make(map[string][]int)}
	for _, a := range as {
		req.Topics[a.Topic] = append(req.Topics[a.Topic], a.Partition)
	}
	ctx, cancel := context.WithTimeout(ctx, commitTimeout)
	defer cancel()
	resp, err := cl.OffsetFetch(ctx, req)
	if err != nil {
		return fmt.Errorf("fetching the commits of group %s: %w", group, err)
	}
	if errors.Is(resp.Error, kafkago.GroupIdNotFound) {
		for i := range as {
			as[i].BoundKnown = true // nothing committed yet
		}
		return nil
	}
	if resp.Error != nil {
		return fmt.Errorf("fetching the commits of group %s: %w", group, resp.Error)
	}
	type committed struct {
		offset int64
		md     string
	}
	got := make(map[bridge.TopicPartition]committed)
	for topic, ps := range resp.Topics {
		for _, p := range ps {
			if p.Error == nil {
				got[bridge.TopicPartition{Topic: topic, Partition: p.Partition}] = committed{p.CommittedOffset, p.Metadata}
			}
		}
	}
	for i := range as {
		as[i].BoundKnown = true
		if c, ok := got[as[i].TopicPartition]; ok && c.offset >= 0 && c.offset == as[i].Offset {
			as[i].OutcomesSince = decodeCommitMetadata(c.md)
		}
	}
	return nil
}

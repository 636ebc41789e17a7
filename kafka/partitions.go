package kafka

import "context"

// PartitionCount returns the number of partitions of all the topics
// together, in one metadata request per topic.
func (c *OffsetClient) PartitionCount(ctx context.Context, topics []string) (int, error) {
	n := 0
	for _, t := range topics {
		ps, err := Partitions(ctx, c.cl, t)
		if err != nil {
			return 0, err
		}
		n += len(ps)
	}
	return n, nil
}

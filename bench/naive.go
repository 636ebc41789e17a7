package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/mimc-bridge/mimc-bridge/message"
	"github.com/mimc-bridge/mimc-bridge/mimc"
	"github.com/mimc-bridge/mimc-bridge/secret"
)

// runNaive is what a user writes in an afternoon: a Reader in a group,
// encoding/json, one synchronous MIMC call per recipient, one outcome
// written synchronously, and a commit per record.
func runNaive(ctx context.Context, spec childSpec, p *progress) error {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: spec.Brokers, GroupID: spec.Group, Topic: spec.Topic,
		StartOffset: kafka.FirstOffset, MinBytes: 1, MaxBytes: 4 << 20, MaxWait: 250 * time.Millisecond,
	})
	defer r.Close()
	// BatchSize 1: a lone synchronous write goes out at once instead of
	// waiting for the 1s default batch timeout.
	w := &kafka.Writer{
		Addr: kafka.TCP(spec.Brokers...), Topic: spec.Results, Balancer: kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll, BatchSize: 1,
	}
	defer w.Close()
	client, err := mimc.New(mimc.Config{
		BaseURL:     spec.MIMCURL,
		Credentials: mimc.Credentials{AppID: benchAppID, AppKey: benchAppKey, AppSecret: secret.New(benchAppSecret)},
	}, nil)
	if err != nil {
		return err
	}
	defer client.Close()

	type input struct {
		ID           string        `json:"id"`
		FromAccount  string        `json:"fromAccount"`
		FromResource string        `json:"fromResource"`
		ToAccounts   []string      `json:"toAccounts"`
		Msg          string        `json:"msg"`
		BizType      string        `json:"bizType"`
		IsStore      message.Store `json:"isStore"`
	}
	type recipient struct {
		ToAccount string `json:"toAccount"`
		PacketID  string `json:"packetId,omitempty"`
		Error     string `json:"error,omitempty"`
	}
	type outcome struct {
		ID          string      `json:"id"`
		Status      string      `json:"status"`
		Recipients  []recipient `json:"recipients"`
		CompletedAt time.Time   `json:"completedAt"`
	}
	for p.outcomes.Load() < int64(spec.Expect) {
		select {
		case <-p.done: // the time cap
			return nil
		default:
		}
		m, err := r.FetchMessage(ctx)
		if err != nil {
			return waitDone(ctx, p)
		}
		p.fetched()
		var in input
		if err := json.Unmarshal(m.Value, &in); err != nil {
			return fmt.Errorf("decoding: %w", err)
		}
		out := outcome{ID: in.ID, Status: "delivered"}
		for _, to := range in.ToAccounts {
			res, err := client.Push(ctx, mimc.Call{
				Content: message.Content{Kind: message.P2P, FromAccount: in.FromAccount, FromResource: in.FromResource,
					Msg: in.Msg, BizType: in.BizType, IsStore: in.IsStore},
				Recipients: message.Recipients{ToAccounts: []string{to}},
			})
			rc := recipient{ToAccount: to}
			if err != nil {
				rc.Error = err.Error()
				out.Status = "failed"
			} else {
				rc.PacketID = res.PacketIDs[0]
			}
			out.Recipients = append(out.Recipients, rc)
		}
		out.CompletedAt = time.Now()
		v, _ := json.Marshal(out)
		if err := w.WriteMessages(ctx, kafka.Message{Key: m.Key, Value: v}); err != nil {
			return fmt.Errorf("writing the outcome: %w", err)
		}
		if err := r.CommitMessages(ctx, m); err != nil {
			return fmt.Errorf("committing: %w", err)
		}
		p.outcomes.Add(1)
	}
	return waitDone(ctx, p)
}

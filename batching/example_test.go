package batching_test

import (
	"fmt"
	"log"

	"github.com/mimc-bridge/mimc-bridge/batching"
	"github.com/mimc-bridge/mimc-bridge/message"
)

// record is the caller's input event; it holds the batcher's part of it.
type record struct {
	name       string
	recipients message.Recipients
	batch      batching.Event[*record]
}

// The owner adds events and sends the calls that come back; when nothing
// fills up, it waits UntilNext and asks for the Expired calls. A sender
// resolves each call and reports the events it completed, whose Data leads
// back to the caller's records.
func Example() {
	b, err := batching.New(batching.Config[*record]{MaxRecipients: 2})
	if err != nil {
		log.Fatal(err)
	}
	content := &message.Content{Kind: message.P2P, FromAccount: "shop", Msg: "Your order shipped"}
	records := []*record{
		{name: "record 1", recipients: message.Recipients{ToAccounts: []string{"alice", "bob", "alice"}}},
		{name: "record 2", recipients: message.Recipients{ToAccounts: []string{"carol"}}},
	}
	var calls []*batching.Call[*record]
	for _, rec := range records {
		rec.batch.Data = rec
		if calls, err = b.Add(&rec.batch, content, rec.recipients, calls); err != nil {
			log.Fatal(err)
		}
	}
	// At shutdown (or once UntilNext has passed: b.Expired) the rest goes out.
	calls = b.Flush(calls)

	for _, c := range calls {
		results := make([]batching.Result, c.Recipients.Len())
		for i, r := range c.Recipients.ToAccounts {
			results[i] = batching.Result{PacketID: "packet-for-" + r, Attempts: 1}
		}
		for _, ev := range c.Resolve(results...) {
			fmt.Println(ev.Data.name, ev.Unique().ToAccounts, ev.Results()[0].PacketID)
		}
	}
	fmt.Println("pending:", b.Pending())
	// Output:
	// record 1 [alice bob] packet-for-alice
	// record 2 [carol] packet-for-carol
	// pending: 0
}

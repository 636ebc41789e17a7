package batching_test

import (
	"fmt"
	"log"

	"github.com/mimc-bridge/mimc-bridge/batching"
)

// The owner adds events and sends the calls that come back; when nothing
// fills up, it waits UntilNext and asks for the Expired calls. A sender
// resolves each call and reports the events it completed.
func Example() {
	b, err := batching.New(batching.Config{MaxRecipients: 2})
	if err != nil {
		log.Fatal(err)
	}
	content := batching.Content{Kind: "p2p", FromAccount: "shop", Msg: "Your order shipped"}
	events := []*batching.Event{
		{Content: content, Recipients: []string{"alice", "bob", "alice"}, Data: "record 1"},
		{Content: content, Recipients: []string{"carol"}, Data: "record 2"},
	}
	var calls []*batching.Call
	for _, ev := range events {
		if calls, err = b.Add(ev, calls); err != nil {
			log.Fatal(err)
		}
	}
	// At shutdown (or once UntilNext has passed: b.Expired) the rest goes out.
	calls = b.Flush(calls)

	for _, c := range calls {
		results := make([]batching.Result, len(c.Recipients))
		for i, r := range c.Recipients {
			results[i] = batching.Result{PacketID: "packet-for-" + r, Attempts: 1}
		}
		for _, ev := range c.Resolve(results...) {
			fmt.Println(ev.Data, ev.Unique(), ev.Results()[0].PacketID)
		}
	}
	fmt.Println("pending:", b.Pending())
	// Output:
	// record 1 [alice bob] packet-for-alice
	// record 2 [carol] packet-for-carol
	// pending: 0
}

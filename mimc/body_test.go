package mimc

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/mimc-bridge/mimc-bridge/message"
	"github.com/mimc-bridge/mimc-bridge/secret"
)

// BodySize must measure what writeBody writes, to the byte: a batcher cuts
// calls by it.
func TestBodySizeIsExact(t *testing.T) {
	creds := &Credentials{AppID: "2882303761517669588", AppKey: "k<&>", AppSecret: secret.New("s\"ecret\u2028")}
	size := newBodySize(creds)
	odd := "<b>\"x\"\n\x01é\u2028\xff日本"
	contents := []message.Content{
		{Kind: message.P2P, FromAccount: "shop", Msg: "hi"},
		{Kind: message.P2P, FromAccount: odd, FromResource: odd, Msg: strings.Repeat(odd, 50), MsgType: "base64",
			BizType: odd, IsStore: message.StoreTrue},
		{Kind: message.P2P, FromAccount: "shop", Msg: "hi", BizType: "ORDER", IsStore: message.StoreFalse},
		{Kind: message.P2T, FromAccount: "forum", FromResource: "srv1", Msg: odd},
		{Kind: message.P2T, FromAccount: "forum", Msg: "m", IsStore: message.StoreTrue},
	}
	accountLists := [][]string{{"alice"}, {odd}, {"a", "", odd, "<&>", "\x00"}}
	topicLists := [][]int64{{1}, {math.MaxInt64}, {7, 9007199254740993, 42, 1}}
	for _, c := range contents {
		var lists []message.Recipients
		if c.Kind == message.P2T {
			for _, ids := range topicLists {
				lists = append(lists, message.Recipients{TopicIDs: ids})
			}
		} else {
			for _, as := range accountLists {
				lists = append(lists, message.Recipients{ToAccounts: as})
			}
		}
		for _, rs := range lists {
			call := Call{Content: c, Recipients: rs}
			want := size.Empty(&c)
			for _, a := range rs.ToAccounts {
				want += size.Account(a)
			}
			for _, id := range rs.TopicIDs {
				want += size.TopicID(id)
			}
			var more, single bytes.Buffer
			writeBody(&more, creds, &call, true)
			if more.Len() != want {
				t.Errorf("a /more body of %+v to %+v is %d bytes, BodySize says %d:\n%s", c, rs, more.Len(), want, more.Bytes())
			}
			if rs.Len() == 1 {
				writeBody(&single, creds, &call, false)
				if single.Len() != want-3 {
					t.Errorf("a single body of %+v to %+v is %d bytes, BodySize says %d - 3", c, rs, single.Len(), want)
				}
			}
		}
	}
}

func TestLongMessagesAreCutAtACharacter(t *testing.T) {
	s := strings.Repeat("a", maxMessage-1) + "日本"
	got := truncate(s)
	if want := strings.Repeat("a", maxMessage-1) + "…"; got != want {
		t.Errorf("truncate cut %q..., want the whole character left out", got[maxMessage-4:])
	}
	if short := "日本"; truncate(short) != short {
		t.Errorf("a short message was changed: %q", truncate(short))
	}
}

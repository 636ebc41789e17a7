package event

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/mimc-bridge/mimc-bridge/internal/textcut"
	"github.com/mimc-bridge/mimc-bridge/message"
)

// Field indexes of the input object.
const (
	fID = iota
	fKind
	fFromAccount
	fFromResource
	fToAccount
	fToAccounts
	fTopicID
	fTopicIDs
	fMsg
	fMsgType
	fBizType
	fIsStore
	fTTL
	numFields
)

var fieldNames = [numFields]string{"id", "kind", "fromAccount", "fromResource", "toAccount", "toAccounts",
	"topicId", "topicIds", "msg", "msgType", "bizType", "isStore", "ttl"}

func fieldIndex(key []byte) int {
	switch string(key) { // no allocation

	case "id":
		return fID
	case "kind":
		return fKind
	case "fromAccount":
		return fFromAccount
	case "fromResource":
		return fFromResource
	case "toAccount":
		return fToAccount
	case "toAccounts":
		return fToAccounts
	case "topicId":
		return fTopicID
	case "topicIds":
		return fTopicIDs
	case "msg":
		return fMsg
	case "msgType":
		return fMsgType
	case "bizType":
		return fBizType
	case "isStore":
		return fIsStore
	case "ttl":
		return fTTL
	}
	return -1
}

// span is a raw JSON value value[s:e]; e == 0 means absent.
type span struct{ s, e int }

// decoder holds the state of one Decode.
type decoder struct {
	value   []byte
	whole   string // string(value) when string fields share one allocation
	fields  [numFields]span
	unknown int // bytes of unknown fields' values

	maxRecipients int
}

// Decode validates value, the JSON of an input record, and returns the
// normalized event. On failure the error is a *RejectError.
func Decode(value []byte, src Source, lim Limits) (Event, error) {
	lim = lim.withDefaults()
	var ev Event
	reason, id := decode(&ev, value, lim)
	if reason != "" {
		if id == "" {
			id = src.DefaultID()
		}
		return Event{}, &RejectError{ID: id, Reason: reason}
	}
	if ev.ID == "" {
		ev.ID = src.DefaultID()
	}
	return ev, nil
}

// decode fills ev; on failure it returns the reason and the id read so far.
func decode(ev *Event, value []byte, lim Limits) (reason, id string) {
	if skipWS(value, 0) == len(value) {
		if value == nil {
			return "empty record (a tombstone: the value is null)", ""
		}
		return "empty record", ""
	}
	if bytes.HasPrefix(value, utf8BOM) {
		return "starts with a byte-order mark (U+FEFF): send the JSON without it", ""
	}
	if !utf8.Valid(value) {
		return "value is not valid UTF-8", ""
	}
	if !validJSON(value) {
		return "invalid JSON: " + syntaxError(value), ""
	}
	d := decoder{value: value, maxRecipients: lim.MaxRecipients}
	i := skipWS(value, 0)
	if value[i] != '{' {
		return "invalid JSON: the value must be an object, not " + jsonKind(value[i]), ""
	}
	if r := d.scanObject(i); r != "" {
		return r, ""
	}
	d.shareStrings()

	// id first: a rejected event keeps its id when the id itself is valid.
	if sp, ok := d.get(fID); ok {
		s, r := d.str(fID, sp)
		if r != "" {
			return r, ""
		}
		if len(s) > lim.MaxIDBytes {
			return "id: longer than " + strconv.Itoa(lim.MaxIDBytes) + " bytes", ""
		}
		ev.ID = s
	}
	id = ev.ID
	fail := func(r string) (string, string) { return r, id }

	var r string
	if ev.FromAccount, r = d.optStr(fFromAccount); r != "" {
		return fail(r)
	}
	if ev.FromAccount == "" {
		return fail("fromAccount: required")
	}
	if r = checkAccount(ev.FromAccount); r != "" {
		return fail("fromAccount: " + r)
	}
	if ev.FromResource, r = d.optStr(fFromResource); r != "" {
		return fail(r)
	}
	if ev.FromResource == "" {
		ev.FromResource = lim.DefaultFromResource
	}
	if ev.BizType, r = d.optStr(fBizType); r != "" {
		return fail(r)
	}
	if sp, ok := d.get(fIsStore); ok {
		switch string(value[sp.s:sp.e]) {
		case "true":
			ev.IsStore = message.StoreTrue
		case "false":
			ev.IsStore = message.StoreFalse
		default:
			return fail("isStore: must be true or false")
		}
	}
	if r = d.recipients(ev, lim); r != "" {
		return fail(r)
	}
	if r = d.message(ev, lim); r != "" {
		return fail(r)
	}
	if ev.TTL, r = d.ttl(); r != "" {
		return fail(r)
	}
	return "", id
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// syntaxError describes why value is not JSON.
func syntaxError(value []byte) string {
	err := json.Unmarshal(value, new(json.RawMessage))
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return se.Error() + " at byte " + strconv.FormatInt(se.Offset, 10)
	}
	if err == nil {
		return "not JSON"
	}
	return err.Error()
}

func jsonKind(c byte) string {
	switch c {
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// scanObject records the spans of the known fields of the object at value[i],
// which is valid JSON.
func (d *decoder) scanObject(i int) string {
	b := d.value
	i = skipWS(b, i+1)
	if b[i] == '}' {
		return ""
	}
	for i < len(b) {
		end, esc := stringEnd(b, i)
		raw := b[i+1 : end-1]
		var idx int
		if !esc {
			idx = fieldIndex(raw)
		} else {
			idx = escapedFieldIndex(b[i:end])
		}
		i = skipWS(b, end)
		i = skipWS(b, i+1) // ':'
		vend := skipValue(b, i)
		if idx < 0 {
			d.unknown += vend - i
		} else {
			if d.fields[idx].e != 0 {
				return "duplicate field " + fieldNames[idx]
			}
			d.fields[idx] = span{i, vend}
		}
		i = skipWS(b, vend)
		if i >= len(b) || b[i] == '}' {
			break
		}
		i = skipWS(b, i+1) // ','
	}
	return ""
}

func escapedFieldIndex(lit []byte) int {
	var key string
	if err := json.Unmarshal(lit, &key); err != nil {
		return -1
	}
	return fieldIndex([]byte(key))
}

// shareStrings makes the string fields substrings of one copy of the value
// when unknown fields are at most half of it, saving an allocation per string
// without keeping large unknown fields alive.
func (d *decoder) shareStrings() {
	if 2*d.unknown <= len(d.value) {
		d.whole = string(d.value)
	}
}

// get returns the span of field f when it is present and not null.
func (d *decoder) get(f int) (span, bool) {
	sp := d.fields[f]
	if sp.e == 0 || d.value[sp.s] == 'n' {
		return sp, false
	}
	return sp, true
}

// optStr returns field f as a string, "" when absent.
func (d *decoder) optStr(f int) (string, string) {
	sp, ok := d.get(f)
	if !ok {
		return "", ""
	}
	return d.str(f, sp)
}

// str returns the JSON string at sp, or a reason naming field f.
func (d *decoder) str(f int, sp span) (string, string) {
	if d.value[sp.s] != '"' {
		return "", fieldNames[f] + ": must be a string"
	}
	v, r := d.stringAt(sp.s, sp.e)
	if r != "" {
		return "", fieldNames[f] + ": " + r
	}
	return v, ""
}

// stringAt returns the JSON string literal value[s:e], or why it is not
// text: a \u escape of a lone UTF-16 surrogate, which encoding/json would
// silently turn into U+FFFD (the sender did not mean that).
func (d *decoder) stringAt(s, e int) (string, string) {
	raw := d.value[s+1 : e-1]
	if bytes.IndexByte(raw, '\\') >= 0 {
		if esc := loneSurrogate(raw); esc != "" {
			return "", esc + " is a lone UTF-16 surrogate, not a character"
		}
		var out string
		_ = json.Unmarshal(d.value[s:e], &out) // valid JSON: cannot fail
		return out, ""
	}
	if d.whole != "" {
		return d.whole[s+1 : e-1], ""
	}
	return string(raw), ""
}

// loneSurrogate returns the first \uXXXX escape of raw (the inside of a valid
// JSON string literal) that is half of a surrogate pair without its other
// half, or "".
func loneSurrogate(raw []byte) string {
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		i++
		if raw[i] != 'u' {
			continue
		}
		esc := raw[i-1 : i+5]
		r := hex4(raw[i+1 : i+5])
		i += 4
		switch {
		case r >= 0xD800 && r < 0xDC00: // high: a low one must follow
			if i+6 < len(raw) && raw[i+1] == '\\' && raw[i+2] == 'u' {
				if lo := hex4(raw[i+3 : i+7]); lo >= 0xDC00 && lo < 0xE000 {
					i += 6
					continue
				}
			}
			return string(esc)
		case r >= 0xDC00 && r < 0xE000:
			return string(esc)
		}
	}
	return ""
}

// hex4 reads four hex digits (valid JSON: they are).
func hex4(h []byte) rune {
	var r rune
	for _, c := range h[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		default:
			c -= 'A' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

// checkAccount returns why a non-empty account is not one, or "": it must
// not be only white space, nor hold a control character (C0, DEL or C1),
// which no account name has and which would reach logs and terminals.
func checkAccount(s string) string {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f || (c == 0xc2 && i+1 < len(s) && s[i+1] < 0xa0) { // C1 is U+0080-U+009F: C2 80-C2 9F
			r, _ := utf8.DecodeRuneInString(s[i:])
			return "holds a control character (" + fmt.Sprintf("U+%04X", r) + ")"
		}
	}
	if strings.IndexFunc(s, notSpace) < 0 {
		return "must not be only white space"
	}
	return ""
}

func notSpace(r rune) bool { return !unicode.IsSpace(r) }

// recipients reads the one recipient field and the kind.
func (d *decoder) recipients(ev *Event, lim Limits) string {
	var given []string
	field := -1
	for _, f := range [...]int{fToAccount, fToAccounts, fTopicID, fTopicIDs} {
		if _, ok := d.get(f); ok {
			given = append(given, fieldNames[f])
			field = f
		}
	}
	switch len(given) {
	case 0:
		return "no recipient: one of toAccount, toAccounts, topicId, topicIds is required"
	case 1:
	default:
		return "more than one recipient field: " + strings.Join(given[:len(given)-1], ", ") + " and " +
			given[len(given)-1] + " (give exactly one of toAccount, toAccounts, topicId, topicIds)"
	}
	ev.Kind = P2P
	if field == fTopicID || field == fTopicIDs {
		ev.Kind = P2T
	}
	kind, r := d.optStr(fKind)
	if r != "" {
		return r
	}
	switch message.Kind(kind) {
	case "", ev.Kind:
	case P2P, P2T:
		return "kind: " + strconv.Quote(kind) + " disagrees with " + fieldNames[field] + " (" + string(ev.Kind) + ")"
	default:
		return `kind: must be "p2p" or "p2t", got ` + quote(kind)
	}

	sp := d.fields[field]
	switch field {
	case fToAccount:
		s, r := d.str(field, sp)
		if r != "" {
			return r
		}
		if s == "" {
			return "toAccount: must not be empty"
		}
		if r := checkAccount(s); r != "" {
			return "toAccount: " + r
		}
		ev.ToAccounts = []string{s}
	case fToAccounts:
		if r := d.accounts(ev, sp); r != "" {
			return r
		}
	case fTopicID:
		id, r := d.topicID(sp)
		if r != "" {
			return "topicId: " + r
		}
		ev.TopicIDs = []int64{id}
	case fTopicIDs:
		if r := d.topicIDs(ev, sp); r != "" {
			return r
		}
	}
	return ""
}

func (d *decoder) accounts(ev *Event, sp span) string {
	const notList = "toAccounts: must be a list of strings"
	b := d.value
	if b[sp.s] != '[' {
		return notList
	}
	i := skipWS(b, sp.s+1)
	if b[i] == ']' {
		return "toAccounts: must not be empty"
	}
	var u message.Set[string]
	for n := 0; ; n++ {
		if b[i] != '"' {
			return notList
		}
		end, _ := stringEnd(b, i)
		s, r := d.stringAt(i, end)
		if r == "" {
			if s == "" {
				r = "must not be empty"
			} else {
				r = checkAccount(s)
			}
		}
		if r != "" {
			return "toAccounts[" + strconv.Itoa(n) + "]: " + r
		}
		// Stopping one past the limit, a huge list costs memory in
		// proportion to the limit, not to the record.
		if u.Add(s) && u.Len() > d.maxRecipients {
			return tooMany(d.maxRecipients)
		}
		i = skipWS(b, end)
		if b[i] == ']' {
			break
		}
		i = skipWS(b, i+1)
	}
	ev.ToAccounts = u.List()
	return ""
}

func (d *decoder) topicIDs(ev *Event, sp span) string {
	b := d.value
	if b[sp.s] != '[' {
		return "topicIds: must be a list of topic ids"
	}
	i := skipWS(b, sp.s+1)
	if b[i] == ']' {
		return "topicIds: must not be empty"
	}
	var u message.Set[int64]
	for n := 0; ; n++ {
		end := skipValue(b, i)
		id, r := d.topicID(span{i, end})
		if r != "" {
			return "topicIds[" + strconv.Itoa(n) + "]: " + r
		}
		if u.Add(id) && u.Len() > d.maxRecipients {
			return tooMany(d.maxRecipients)
		}
		i = skipWS(b, end)
		if b[i] == ']' {
			break
		}
		i = skipWS(b, i+1)
	}
	ev.TopicIDs = u.List()
	return ""
}

// topicID reads a topic id: a JSON integer or a decimal string, > 0.
func (d *decoder) topicID(sp span) (int64, string) {
	b := d.value
	var digits []byte
	switch c := b[sp.s]; {
	case c == '"':
		digits = b[sp.s+1 : sp.e-1]
		if bytes.IndexByte(digits, '\\') >= 0 {
			s, r := d.stringAt(sp.s, sp.e)
			if r != "" {
				return 0, r
			}
			digits = []byte(s)
		}
		if len(digits) == 0 {
			return 0, "must be a whole number, got \"\""
		}
		// One spelling per id: "012" and "12" must not both name topic 12.
		if len(digits) > 1 && digits[0] == '0' && digits[1] >= '0' && digits[1] <= '9' {
			return 0, "must be written without leading zeros, got " + quote(string(digits))
		}
	case c == '-' || (c >= '0' && c <= '9'):
		digits = b[sp.s:sp.e]
	default:
		return 0, "must be a number or a decimal string"
	}
	neg := digits[0] == '-'
	n := uint64(0)
	for i, c := range digits {
		if neg && i == 0 {
			continue
		}
		if c < '0' || c > '9' {
			return 0, "must be a whole number, got " + quote(string(digits))
		}
		if n > (1<<63-1-uint64(c-'0'))/10 {
			if neg {
				return 0, "must be greater than 0, got " + quote(string(digits))
			}
			return 0, "out of range: larger than 9223372036854775807, got " + quote(string(digits))
		}
		n = n*10 + uint64(c-'0')
	}
	if neg && len(digits) == 1 {
		return 0, "must be a whole number, got " + quote(string(digits))
	}
	if neg || n == 0 {
		return 0, "must be greater than 0, got " + quote(string(digits))
	}
	return int64(n), ""
}

func tooMany(max int) string {
	return "too many recipients: more than " + strconv.Itoa(max) + " unique, the limit is " + strconv.Itoa(max)
}

// message reads msg and msgType.
func (d *decoder) message(ev *Event, lim Limits) string {
	var r string
	if ev.MsgType, r = d.optStr(fMsgType); r != "" {
		return r
	}
	if ev.MsgType != "" && ev.MsgType != "base64" {
		return `msgType: must be "" or "base64", got ` + quote(ev.MsgType)
	}
	if ev.Msg, r = d.optStr(fMsg); r != "" {
		return r
	}
	if ev.Msg == "" {
		if _, ok := d.get(fMsg); ok {
			return "msg: must not be empty"
		}
		return "msg: required"
	}
	size := len(ev.Msg)
	if ev.MsgType == "base64" {
		var ok bool
		if size, ok = base64Size(ev.Msg); !ok {
			return "msg: not valid base64 (standard alphabet, padded, no line breaks)"
		}
	}
	if size > lim.MaxMsgBytes {
		what := " bytes"
		if ev.MsgType == "base64" {
			what = " bytes after base64 decoding"
		}
		return "msg: too large: " + strconv.Itoa(size) + what + ", the limit is " + strconv.Itoa(lim.MaxMsgBytes)
	}
	return ""
}

var strictBase64 = base64.StdEncoding.Strict()

var base64Buf = sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }}

// base64Size returns the decoded size of s, and whether s is strict, padded,
// standard base64 without line breaks.
func base64Size(s string) (int, bool) {
	if len(s)%4 != 0 || strings.ContainsAny(s, "\r\n") {
		return 0, false
	}
	bp := base64Buf.Get().(*[]byte)
	defer base64Buf.Put(bp)
	n := strictBase64.DecodedLen(len(s))
	if cap(*bp) < n {
		if n > 1<<20 { // do not pool huge buffers
			buf := make([]byte, n)
			m, err := strictBase64.Decode(buf, []byte(s))
			return m, err == nil
		}
		*bp = make([]byte, n)
	}
	m, err := strictBase64.Decode((*bp)[:n], []byte(s))
	return m, err == nil
}

// quote shows a value in a reason, shortened.
func quote(v string) string { return strconv.Quote(textcut.Ellipsis(v, 40)) }

func skipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// stringEnd returns the index after the closing quote of the JSON string
// that starts at b[i], and whether it holds escapes.
func stringEnd(b []byte, i int) (int, bool) {
	esc := false
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			esc = true
			j++
		case '"':
			return j + 1, esc
		}
	}
	return len(b), esc
}

// skipValue returns the index after the JSON value that starts at b[i]. b is
// valid JSON; nesting is followed with a counter, not recursion.
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		e, _ := stringEnd(b, i)
		return e
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				e, _ := stringEnd(b, j)
				j = e - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return len(b)
	}
	for j := i; j < len(b); j++ {
		switch b[j] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return j
		}
	}
	return len(b)
}

//go:build jsontext

package event

import (
	"bytes"
	"io"
	"sync"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

// decodeJSONText is decode with the validation and the scan of the object
// done by a token loop on jsontext instead of validJSON and scanObject (issue
// 18, item 7). It is built only with -tags jsontext, to compare the two.
func decodeJSONText(ev *Event, value []byte, lim Limits) (reason, id string) {
	if skipWS(value, 0) == len(value) {
		if value == nil {
			return "empty record (a tombstone: the value is null)", ""
		}
		return "empty record", ""
	}
	if bytes.HasPrefix(value, utf8BOM) {
		return "starts with a byte-order mark (U+FEFF): send the JSON without it", ""
	}
	// jsontext checks UTF-8 inside strings only, and its check also refuses
	// escaped lone surrogates, which are valid JSON in unknown fields and get
	// their own reason in known ones: the whole value is checked here and
	// jsontext is told to allow invalid UTF-8.
	if !utf8.Valid(value) {
		return "value is not valid UTF-8", ""
	}
	d := decoder{value: value, maxRecipients: lim.MaxRecipients}
	if r := d.scanJSONText(); r != "" {
		return r, ""
	}
	return d.fill(ev, lim)
}

type jsonTextState struct {
	buf bytes.Buffer
	dec jsontext.Decoder
}

var jsonTextPool = sync.Pool{New: func() any { return new(jsonTextState) }}

var jsonTextOpts = []jsontext.Options{jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true)}

// scanJSONText validates d.value and records the spans of the known fields of
// its object. Every reason about the JSON itself is encoding/json's, which
// the outcomes have always carried.
func (d *decoder) scanJSONText() string {
	st := jsonTextPool.Get().(*jsonTextState)
	st.buf = *bytes.NewBuffer(d.value)
	st.dec.Reset(&st.buf, jsonTextOpts...)
	// The pooled decoder keeps a reference to the value until its next use
	// or the pool's cleaning by the GC: a second Reset to drop it costs 5%.
	r := d.scanTokens(&st.dec)
	jsonTextPool.Put(st)
	return r
}

func (d *decoder) scanTokens(dec *jsontext.Decoder) string {

	reason := ""
	if k := dec.PeekKind(); k != '{' {
		if dec.SkipValue() != nil || !atEOF(dec) {
			return "invalid JSON: " + syntaxError(d.value)
		}
		return "invalid JSON: the value must be an object, not " + jsonKind(d.value[skipWS(d.value, 0)])
	}
	if _, err := dec.ReadToken(); err != nil {
		return "invalid JSON: " + syntaxError(d.value)
	}
	for dec.PeekKind() != '}' {
		name, err := dec.ReadValue()
		if err != nil {
			return "invalid JSON: " + syntaxError(d.value)
		}
		var idx int
		if bytes.IndexByte(name, '\\') < 0 {
			idx = fieldIndex(name[1 : len(name)-1])
		} else {
			idx = escapedFieldIndex(name)
		}
		if idx < 0 {
			from := dec.InputOffset()
			if err := dec.SkipValue(); err != nil {
				return "invalid JSON: " + syntaxError(d.value)
			}
			d.unknown += int(dec.InputOffset() - from)
			continue
		}
		v, err := dec.ReadValue()
		if err != nil {
			return "invalid JSON: " + syntaxError(d.value)
		}
		end := int(dec.InputOffset())
		if d.fields[idx].e != 0 && reason == "" {
			// Reported once the whole value is known to be JSON, as before.
			reason = "duplicate field " + fieldNames[idx]
		}
		d.fields[idx] = span{end - len(v), end}
	}
	if _, err := dec.ReadToken(); err != nil || !atEOF(dec) {
		return "invalid JSON: " + syntaxError(d.value)
	}
	return reason
}

// atEOF reports whether nothing but white space follows the value read.
func atEOF(dec *jsontext.Decoder) bool {
	_, err := dec.ReadToken()
	return err == io.EOF
}

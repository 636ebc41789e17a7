package mimc

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// CodeOK is the envelope code of success.
const CodeOK = 200

// answer is the MIMC envelope. Data stays a pointer so that "data": null is
// fine; a wrong type there (a string, a list) is a shape error.
type answer struct {
	Code    json.RawMessage `json:"code"`
	Message string          `json:"message"`
	Data    *answerData     `json:"data"`
}

type answerData struct {
	PacketID  *string  `json:"packetId"`
	PacketIDs []string `json:"packetIds"`
}

// decodeAnswer reads an answer body. For a code other than 200 it returns the
// code and message with a nil error (the caller classifies the code). For 200
// it returns the packet ids: one from data.packetId, or, when many, the list
// data.packetIds. Anything else is an error wrapping ErrNotJSON or
// ErrAnswerShape. It never panics.
func decodeAnswer(body []byte, many bool) (code int, message string, ids []string, err error) {
	if message, ids, ok := decodeSuccess(body, many); ok {
		return CodeOK, message, ids, nil
	}
	return decodeAnswerJSON(body, many)
}

// decodeSuccess reads the usual answer, a success in its plain form, without
// reflection: {"code":200,"message":"…","data":{"packetIds":["…",…]}} (or
// "packetId" when not many), keys in any order, any JSON whitespace, strings
// of printable ASCII without escapes. Every other body, however valid, is
// left to decodeAnswerJSON (ok false), so the two always agree; the fuzz test
// holds them to it. The ids share one string allocation.
func decodeSuccess(body []byte, many bool) (message string, ids []string, ok bool) {
	s := string(body) // the ids are substrings of this one copy
	i := skipSpace(s, 0)
	if i >= len(s) || s[i] != '{' {
		return "", nil, false
	}
	var seenCode, seenMessage, seenData bool
	for {
		i = skipSpace(s, i+1)
		key, j, ok := plainString(s, i)
		if !ok {
			return "", nil, false
		}
		i = skipSpace(s, j)
		if i >= len(s) || s[i] != ':' {
			return "", nil, false
		}
		i = skipSpace(s, i+1)
		switch {
		case key == "code" && !seenCode:
			seenCode = true
			if !strings.HasPrefix(s[i:], "200") {
				return "", nil, false
			}
			i += 3
		case key == "message" && !seenMessage:
			seenMessage = true
			if message, i, ok = plainString(s, i); !ok {
				return "", nil, false
			}
		case key == "data" && !seenData:
			seenData = true
			if ids, i, ok = successData(s, i, many); !ok {
				return "", nil, false
			}
		default:
			return "", nil, false
		}
		i = skipSpace(s, i)
		if i >= len(s) {
			return "", nil, false
		}
		if s[i] == '}' {
			break
		}
		if s[i] != ',' {
			return "", nil, false
		}
	}
	if !seenCode || !seenData || skipSpace(s, i+1) != len(s) {
		return "", nil, false
	}
	return message, ids, true
}

// successData reads {"packetIds":[…]} (many) or {"packetId":"…"} at s[i].
func successData(s string, i int, many bool) (ids []string, end int, ok bool) {
	if i >= len(s) || s[i] != '{' {
		return nil, i, false
	}
	i = skipSpace(s, i+1)
	key, i, ok := plainString(s, i)
	if !ok {
		return nil, i, false
	}
	i = skipSpace(s, i)
	if i >= len(s) || s[i] != ':' {
		return nil, i, false
	}
	i = skipSpace(s, i+1)
	switch {
	case !many && key == "packetId":
		id, j, ok := plainString(s, i)
		if !ok || id == "" {
			return nil, i, false
		}
		ids, i = []string{id}, j
	case many && key == "packetIds":
		if i >= len(s) || s[i] != '[' {
			return nil, i, false
		}
		// One id per comma and one more, unless the list is malformed.
		ids = make([]string, 0, strings.Count(s[i:], ",")+1)
		for {
			i = skipSpace(s, i+1)
			id, j, ok := plainString(s, i)
			if !ok || id == "" {
				return nil, i, false
			}
			ids = append(ids, id)
			i = skipSpace(s, j)
			if i < len(s) && s[i] == ']' {
				break
			}
			if i >= len(s) || s[i] != ',' {
				return nil, i, false
			}
		}
		i++
	default:
		return nil, i, false
	}
	i = skipSpace(s, i)
	if i >= len(s) || s[i] != '}' {
		return nil, i, false
	}
	return ids, i + 1, true
}

// plainString reads a string literal of printable ASCII without escapes at
// s[i]: its value and the index after it.
func plainString(s string, i int) (string, int, bool) {
	if i >= len(s) || s[i] != '"' {
		return "", i, false
	}
	for j := i + 1; j < len(s); j++ {
		switch c := s[j]; {
		case c == '"':
			return s[i+1 : j], j + 1, true
		case c < 0x20 || c >= 0x7f || c == '\\':
			return "", j, false
		}
	}
	return "", len(s), false
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// decodeAnswerJSON is decodeAnswer for any body, with encoding/json.
func decodeAnswerJSON(body []byte, many bool) (code int, message string, ids []string, err error) {
	var a answer
	uerr := json.Unmarshal(body, &a)
	var syn *json.SyntaxError
	if errors.As(uerr, &syn) || (uerr != nil && !json.Valid(body)) {
		return 0, "", nil, fmt.Errorf("%w: %v", ErrNotJSON, uerr) //nolint:errorlint // the class is ours; encoding/json's error is text
	}
	if len(a.Code) == 0 || string(a.Code) == "null" {
		if uerr != nil {
			return 0, "", nil, fmt.Errorf("%w: %v", ErrAnswerShape, uerr) //nolint:errorlint // the class is ours; encoding/json's error is text
		}
		return 0, "", nil, fmt.Errorf("%w: no code", ErrAnswerShape)
	}
	c, cerr := strconv.ParseInt(string(a.Code), 10, 32)
	if cerr != nil {
		return 0, "", nil, fmt.Errorf("%w: code %.20q is not an integer", ErrAnswerShape, a.Code)
	}
	code, message = int(c), a.Message
	if code != CodeOK {
		// The envelope of a refusal is read as best it can: a data or message
		// of the wrong type does not hide the code.
		return code, message, nil, nil
	}
	if uerr != nil {
		return code, message, nil, fmt.Errorf("%w: %v", ErrAnswerShape, uerr) //nolint:errorlint // the class is ours; encoding/json's error is text
	}
	if a.Data == nil {
		return code, message, nil, fmt.Errorf("%w: code 200 without data", ErrAnswerShape)
	}
	if !many {
		if a.Data.PacketID == nil || *a.Data.PacketID == "" {
			return code, message, nil, fmt.Errorf("%w: no data.packetId", ErrAnswerShape)
		}
		return code, message, []string{*a.Data.PacketID}, nil
	}
	if a.Data.PacketIDs == nil {
		return code, message, nil, fmt.Errorf("%w: no data.packetIds", ErrAnswerShape)
	}
	for i, id := range a.Data.PacketIDs {
		if id == "" {
			return code, message, nil, fmt.Errorf("%w: data.packetIds[%d] is empty", ErrAnswerShape, i)
		}
	}
	return code, message, a.Data.PacketIDs, nil
}

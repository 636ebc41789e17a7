package mimc

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
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
	var a answer
	uerr := json.Unmarshal(body, &a)
	var syn *json.SyntaxError
	if errors.As(uerr, &syn) || (uerr != nil && !json.Valid(body)) {
		return 0, "", nil, fmt.Errorf("%w: %v", ErrNotJSON, uerr)
	}
	if len(a.Code) == 0 || string(a.Code) == "null" {
		if uerr != nil {
			return 0, "", nil, fmt.Errorf("%w: %v", ErrAnswerShape, uerr)
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
		return code, message, nil, fmt.Errorf("%w: %v", ErrAnswerShape, uerr)
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

package message

import (
	"encoding/json"
	"testing"
)

func TestStoreJSON(t *testing.T) {
	type doc struct {
		IsStore Store `json:"isStore,omitempty"`
	}
	tests := []struct {
		name string
		s    Store
		json string
	}{
		{"an unset flag is left out", StoreUnset, `{}`},
		{"false is written as false", StoreFalse, `{"isStore":false}`},
		{"true is written as true", StoreTrue, `{"isStore":true}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(doc{tt.s})
			if err != nil || string(b) != tt.json {
				t.Fatalf("Marshal = %s, %v; want %s", b, err, tt.json)
			}
			var back doc
			if err := json.Unmarshal(b, &back); err != nil || back.IsStore != tt.s {
				t.Fatalf("Unmarshal(%s) = %v, %v; want %v", b, back.IsStore, err, tt.s)
			}
			v, set := tt.s.Bool()
			if set != (tt.s != StoreUnset) || v != (tt.s == StoreTrue) {
				t.Fatalf("Bool() = %v, %v", v, set)
			}
		})
	}
	var d doc
	if err := json.Unmarshal([]byte(`{"isStore":"yes"}`), &d); err == nil {
		t.Fatal("a string isStore was accepted")
	}
	if StoreOf(true) != StoreTrue || StoreOf(false) != StoreFalse {
		t.Fatal("StoreOf does not keep the flag")
	}
}

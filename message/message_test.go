package message

import (
	"encoding/json"
	"hash/maphash"
	"reflect"
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

// Hash lists the fields by hand: a field it forgets would make contents
// that differ only there collide every time.
func TestHashCoversEveryField(t *testing.T) {
	seed := maphash.MakeSeed()
	base := Content{Kind: P2P, FromAccount: "a", FromResource: "r", Msg: "m", MsgType: "base64", BizType: "b", IsStore: StoreTrue}
	v := reflect.ValueOf(&base).Elem()
	for i := range v.NumField() {
		c := base
		f := reflect.ValueOf(&c).Elem().Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString(f.String() + "x")
		case reflect.Uint8:
			f.SetUint(f.Uint() + 1)
		default:
			t.Fatalf("field %s of kind %s: teach this test (and Hash) about it", v.Type().Field(i).Name, f.Kind())
		}
		if c.Hash(seed) == base.Hash(seed) {
			t.Errorf("changing %s leaves the hash as it is", v.Type().Field(i).Name)
		}
	}
	moved := base
	moved.FromAccount, moved.FromResource = "ar", ""
	if moved.Hash(seed) == base.Hash(seed) {
		t.Error("moving bytes from one field to the next leaves the hash as it is")
	}
}

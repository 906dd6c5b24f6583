package jsondecode

import (
	"strings"
	"testing"
)

func TestObject(t *testing.T) {
	type inner struct {
		Kind string `json:"kind"`
	}
	type rec struct {
		Count  int32  `json:"count"`
		Reason string `json:"reason"`
		Obj    inner  `json:"obj"`
	}
	cases := []struct {
		in, wantErr string
	}{
		{`{"count": 3, "reason": "BackOff", "obj": {"kind": "Pod"}}`, ""},
		{``, "event is empty"},
		{`   `, "event is empty"},
		{`null`, "event must be a JSON object, got null"},
		{`[1]`, "event must be a JSON object, got array"},
		{`"s"`, "event must be a JSON object, got string"},
		{`{"count": "3"}`, "field count must be an integer (int32), got JSON string"},
		{`{"reason": 7}`, "field reason must be a string, got JSON number"},
		{`{"obj": {"kind": []}}`, "field obj.kind must be a string, got JSON array"},
		{`{"count": 3,}`, "invalid JSON at offset"},
		{`{"count": 3`, "invalid JSON"},
	}
	for _, c := range cases {
		var r rec
		err := Object("event", []byte(c.in), &r)
		if c.wantErr == "" {
			if err != nil || r.Count != 3 || r.Obj.Kind != "Pod" {
				t.Errorf("Object(%q) = %v, %+v", c.in, err, r)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.wantErr) {
			t.Errorf("Object(%q) error = %v, want it to contain %q", c.in, err, c.wantErr)
		}
	}
}

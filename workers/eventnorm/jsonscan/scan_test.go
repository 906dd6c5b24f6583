package jsonscan

import (
	"encoding/json"
	"strings"
	"testing"
)

// valid reports whether the scanner accepts raw as one JSON value.
func valid(raw []byte) bool {
	s := New(raw)
	if s.Skip() != nil {
		return false
	}
	s.peek()
	return s.pos == len(raw)
}

var seeds = []string{`{}`, `[]`, `""`, `0`, `-0.5e+10`, `true`, `null`, `{"a":[1,2,{"b":null}],"c":"\u00e9\ud83d\ude00"}`,
	`"\ud800"`, `"\ud800\u0041"`, `"\xff"`, `"a\tb"`, `01`, `1.`, `.5`, `-`, `1e`, `[1,]`, `{"a" 1}`, `{"a":1,}`, `nul`,
	`"\x"`, `"\u12G4"`, ` {"a" : [ ] } `, `[[[[[[]]]]]]`, `{"a":"b"} x`, "\"\x00\"", "\"\\u0000\""}

// FuzzSkipMatchesValid: the scanner accepts exactly what json.Valid does.
func FuzzSkipMatchesValid(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if got, want := valid(raw), json.Valid(raw); got != want {
			t.Fatalf("scanner valid=%v, json.Valid=%v for %q", got, want, raw)
		}
	})
}

// FuzzStringMatchesStdlib: strings decode exactly as encoding/json decodes
// them (escapes, surrogates, invalid UTF-8 → U+FFFD).
func FuzzStringMatchesStdlib(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var want string
		stdErr := json.Unmarshal(raw, &want)
		if Kind(raw) != "string" {
			return
		}
		var got string
		s := New(raw)
		err := s.String("x", &got)
		if err == nil {
			s.peek()
			if s.pos != len(raw) {
				err = s.syntaxErr("trailing data")
			}
		}
		if (err == nil) != (stdErr == nil) {
			t.Fatalf("scanner error %v, encoding/json error %v for %q", err, stdErr, raw)
		}
		if err == nil && got != want {
			t.Fatalf("scanner %q, encoding/json %q for %q", got, want, raw)
		}
	})
}

func TestDocument(t *testing.T) {
	tests := []struct {
		raw, wantErr string
	}{
		{`{"name":"a","count":3,"obj":{"x":1},"other":[1,{"y":"z"}]}`, ""},
		{``, "rec is empty"},
		{`[1]`, "rec must be a JSON object, got array"},
		{`null`, "rec must be a JSON object, got null"},
		{`<x>`, "invalid JSON at offset 1: invalid character '<' looking for beginning of value"},
		{`{"name":"a",}`, "invalid JSON at offset 13: invalid character '}' looking for beginning of object key string"},
		{`{"name":"a"`, "invalid JSON at offset 11: unexpected end of JSON input"},
		{`{"name":"a"} {}`, "invalid JSON at offset 14: invalid character '{' after top-level value"},
		{`{"name":1}`, "field name must be a string, got JSON number (offset 8)"},
		{`{"count":"3"}`, "field count must be an integer (int32), got JSON string (offset 9)"},
		{`{"count":1.5}`, "field count must be an integer (int32), got JSON number 1.5 (offset 9)"},
		{`{"count":99999999999}`, "field count must be an integer (int32), got JSON number 99999999999 (offset 9)"},
		{`{"obj":"x"}`, "field obj must be an object, got JSON string (offset 7)"},
		// A syntax error anywhere wins over an earlier type error.
		{`{"name":1,"x":tru}`, "invalid JSON at offset 18: invalid character '}' in literal true (expecting 'e')"},
		{`{"a":` + strings.Repeat("[", 10000), "exceeded max depth"},
	}
	for _, tt := range tests {
		var name string
		var count int32
		s := New([]byte(tt.raw))
		err := s.Document("rec", func(k []byte) error {
			switch string(k) {
			case "name":
				return s.String("name", &name)
			case "count":
				return s.Int32("count", &count)
			case "obj":
				return s.Object("obj", func([]byte) error { return s.Skip() }, nil)
			}
			return s.Skip()
		})
		if tt.wantErr == "" {
			if err != nil || name != "a" || count != 3 {
				t.Errorf("%s: err %v name %q count %d", tt.raw, err, name, count)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%.40s: error %v, want %q", tt.raw, err, tt.wantErr)
		}
	}
}

func TestRawAndOptString(t *testing.T) {
	raw := []byte(`{"t":1.5,"u":"x","n":null,"s":"v","z":null}`)
	var tr, ur, nr []byte
	var sp, zp *string
	z := "preset"
	zp = &z
	s := New(raw)
	err := s.Document("rec", func(k []byte) error {
		switch string(k) {
		case "t":
			return s.Raw(&tr)
		case "u":
			return s.Raw(&ur)
		case "n":
			return s.Raw(&nr)
		case "s":
			return s.OptString("s", &sp)
		case "z":
			return s.OptString("z", &zp)
		}
		return s.Skip()
	})
	if err != nil || string(tr) != "1.5" || string(ur) != `"x"` || string(nr) != "null" || sp == nil || *sp != "v" || zp != nil {
		t.Fatalf("err %v t %s u %s n %s s %v z %v", err, tr, ur, nr, sp, zp)
	}
}

func TestLowerKey(t *testing.T) {
	var buf [32]byte
	for in, want := range map[string]string{"Level": "level", "MSG": "msg", "ok": "ok", "Ünïcode": "Ünïcode",
		strings.Repeat("A", 40): strings.Repeat("A", 40)} {
		if got := string(LowerKey([]byte(in), buf[:0])); got != want {
			t.Errorf("LowerKey(%q) = %q, want %q", in, got, want)
		}
	}
}

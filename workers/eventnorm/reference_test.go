package eventnorm

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/kgrca/kgplane/internal/jsondecode"
)

// The standard library is the reference for decoding: go-json must accept
// and decode events exactly as encoding/json does.

// stdDecodeObject is jsondecode.Object with encoding/json.
func stdDecodeObject(what string, raw []byte, v any) error {
	if got := jsondecode.Kind(raw); got != "object" && got != "invalid" {
		return fmt.Errorf("%s must be a JSON object, got %q", what, got)
	}
	err := json.Unmarshal(raw, v)
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return fmt.Errorf("invalid JSON at offset %d: %s", syn.Offset, syn.Error())
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		return fmt.Errorf("field %s must be %s, got JSON %s (offset %d)", typ.Field, jsondecode.TypeName(typ.Type), typ.Value, typ.Offset)
	}
	return err
}

// FuzzDecodeMatchesStdlib: go-json accepts exactly the events encoding/json
// accepts and decodes them to the same rawEvent; where both reject one for
// a wrong field type, they name the same field.
func FuzzDecodeMatchesStdlib(f *testing.F) {
	for _, raw := range corpus(f) {
		f.Add(raw)
	}
	for _, s := range []string{`{"reason":"a\ud83d\ude00\ud800x\u00e9\"\\\/\b\f\n\r\t"}`, `{"count":1.0}`, `{"count":-0}`,
		`{"count":2147483648}`, `{"source":{"host":"a"},"source":{"component":"b"}}`, `{"source":{"host":"a"},"source":null}`,
		`{"message":"\xff\xfe ok"}`, `{"a":[1,{"b":[true,false,null]},"x"]}`, `{"reason":5,"x":}`, `{} x`, `{"a":1e5,"b":-0.5E-3}`,
		`{"metadata":null,"series":{"count":"x"}}`, `{"type":{"nested":[]}}`, `{"Reason":"x","REASON":"y","reaſon":"z"}`,
		`{"involvedObject":{"kind":5}}`, `{"count":"1","reason":` + "\x00" + `}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var got, want rawEvent
		gotErr := decodeEvent(raw, &got)
		wantErr := stdDecodeObject("event", raw, &want)
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("go-json error %v, encoding/json error %v", gotErr, wantErr)
		}
		if gotErr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("decoded differently\ngo-json:       %+v\nencoding/json: %+v", got, want)
		}
		// Keys match case-insensitively, and go-json names the field as the
		// input spelled it ("series.Count") where encoding/json uses the
		// struct's name ("series.count"): the same field either way.
		if g, w := typeErrorField(gotErr), typeErrorField(wantErr); !strings.EqualFold(g, w) {
			t.Fatalf("go-json error %v, encoding/json error %v", gotErr, wantErr)
		}
	})
}

// typeErrorField is the field a "field X must be ..." error names.
func typeErrorField(err error) string {
	if err == nil {
		return ""
	}
	if f := strings.Fields(err.Error()); len(f) > 1 && f[0] == "field" {
		return f[1]
	}
	return ""
}

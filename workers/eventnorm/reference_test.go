package eventnorm

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/kgrca/kgplane/workers/eventnorm/jsonscan"
	"reflect"
	"strings"
	"testing"
)

// The encoding/json decoder the hand-written scanner replaced; the fuzz
// target FuzzScanMatchesStdlib checks that both agree.

// decodeObject unmarshals raw, which must be one JSON object, into v and turns
// encoding/json's errors into ones that say what is wrong with the record
// (they become the dead-letter reason). what names the record ("event").
func decodeObject(what string, raw []byte, v any) error {
	if got := jsonscan.Kind(raw); got != "object" {
		if got == "" {
			return fmt.Errorf("%s is empty", what)
		}
		if got != "invalid" {
			return fmt.Errorf("%s must be a JSON object, got %s", what, got)
		}
	}
	err := json.Unmarshal(raw, v)
	if err == nil {
		return nil
	}
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return fmt.Errorf("invalid JSON at offset %d: %s", syn.Offset, syn.Error())
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		if typ.Field == "" {
			return fmt.Errorf("%s must be a JSON object, got %s", what, typ.Value)
		}
		return fmt.Errorf("field %s must be %s, got JSON %s (offset %d)", typ.Field, typeName(typ.Type), typ.Value, typ.Offset)
	}
	return fmt.Errorf("decoding %s: %w", what, err)
}

func typeName(t reflect.Type) string {
	if t == nil {
		return "a different type"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Int:
		return fmt.Sprintf("an integer (%s)", t.Kind())
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uint:
		return fmt.Sprintf("a non-negative integer (%s)", t.Kind())
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "a boolean"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	default:
		return t.String()
	}
}

// knownKeys are the member names the scanner reads, at any level.
var knownKeys = []string{"metadata", "uid", "creationTimestamp", "involvedObject", "regarding", "kind", "namespace",
	"name", "source", "deprecatedSource", "component", "host", "series", "count", "lastObservedTime", "message",
	"note", "reason", "type", "firstTimestamp", "lastTimestamp", "deprecatedFirstTimestamp", "deprecatedLastTimestamp",
	"eventTime", "deprecatedCount", "reportingComponent", "reportingController", "reportingInstance"}

// hasFoldedKey reports whether v holds an object key that encoding/json
// would match to a known field case-insensitively but the scanner would
// not (the one intended difference).
func hasFoldedKey(v any) bool {
	switch v := v.(type) {
	case map[string]any:
		for k, child := range v {
			for _, known := range knownKeys {
				if k != known && strings.EqualFold(k, known) {
					return true
				}
			}
			if hasFoldedKey(child) {
				return true
			}
		}
	case []any:
		for _, child := range v {
			if hasFoldedKey(child) {
				return true
			}
		}
	}
	return false
}

// FuzzScanMatchesStdlib: the scanner accepts exactly the inputs
// encoding/json accepts and decodes them to the same rawEvent.
func FuzzScanMatchesStdlib(f *testing.F) {
	for _, raw := range corpus(f) {
		f.Add(raw)
	}
	for _, s := range []string{`{"reason":"a\ud83d\ude00\ud800x\u00e9\"\\\/\b\f\n\r\t"}`, `{"count":1.0}`, `{"count":-0}`,
		`{"count":2147483648}`, `{"source":{"host":"a"},"source":{"component":"b"}}`, `{"source":{"host":"a"},"source":null}`,
		`{"message":"\xff\xfe ok"}`, `{"a":[1,{"b":[true,false,null]},"x"]}`, `{"reason":5,"x":}`, `{} x`, `{"a":1e5,"b":-0.5E-3}`,
		`{"metadata":null,"series":{"count":"x"}}`, `{"type":{"nested":[]}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var fast, std rawEvent
		fastErr := decodeEvent(raw, &fast)
		stdErr := decodeObject("event", raw, &std)
		var tree any
		if json.Unmarshal(raw, &tree) == nil && hasFoldedKey(tree) {
			return
		}
		if (fastErr == nil) != (stdErr == nil) {
			t.Fatalf("scanner error %v, encoding/json error %v", fastErr, stdErr)
		}
		if fastErr == nil && !reflect.DeepEqual(fast, std) {
			t.Fatalf("decoded differently\nscanner:       %+v\nencoding/json: %+v", fast, std)
		}
	})
}

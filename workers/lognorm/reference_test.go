package lognorm

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/kgrca/kgplane/workers/eventnorm/jsonscan"
)

// The encoding/json decoders jsonscan replaced; FuzzScanMatchesStdlib
// checks that both agree.

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

var knownKeys = []string{"message", "log", "msg", "timestamp", "time", "@timestamp", "date", "level", "severity", "lvl",
	"kubernetes", "pod_name", "pod_namespace", "namespace_name", "pod_uid", "pod_id", "container_name", "pod_node_name", "host"}

// hasFoldedKey reports whether v holds a key encoding/json would match to a
// known field case-insensitively but jsonscan would not.
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

// nonASCIIKey reports whether an object key of v has a non-ASCII byte
// (encoding/json folds some, e.g. U+017F to 's'; LowerKey does not).
func nonASCIIKey(v any) bool {
	if m, ok := v.(map[string]any); ok {
		for k := range m {
			for i := 0; i < len(k); i++ {
				if k[i] >= 0x80 {
					return true
				}
			}
		}
	}
	return false
}

// FuzzScanMatchesStdlib: jsonscan accepts exactly the records encoding/json
// accepts and decodes shipper records and JSON app lines alike.
func FuzzScanMatchesStdlib(f *testing.F) {
	for _, raw := range corpus(f) {
		f.Add(raw)
	}
	for _, s := range []string{`{"message":null,"log":"x","kubernetes":null}`, `{"kubernetes":{"host":"a"},"kubernetes":{"pod_name":"b"}}`,
		`{"time":1.5e3,"level":[1],"severity":{"a":1}}`, `{"Level":"warn","MSG":"x","Stack":"s"}`, `{"message":5}`, `{"msg":"a\ud800"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var tree any
		treeErr := json.Unmarshal(raw, &tree)
		if treeErr == nil && hasFoldedKey(tree) {
			return
		}
		var fast, std rawLog
		fastErr := decodeLog(raw, &fast)
		stdErr := decodeObject("log record", raw, &std)
		if (fastErr == nil) != (stdErr == nil) {
			t.Fatalf("jsonscan error %v, encoding/json error %v", fastErr, stdErr)
		}
		if fastErr == nil && !reflect.DeepEqual(normRaw(fast), normRaw(std)) {
			t.Fatalf("decoded differently\njsonscan:      %+v\nencoding/json: %+v", fast, std)
		}
		// The same bytes as an application's JSON log line.
		if treeErr == nil && nonASCIIKey(tree) {
			return
		}
		var fastApp, stdApp appLog
		fastErr = decodeAppLog(raw, &fastApp)
		stdErr = json.Unmarshal(raw, &stdApp)
		if jsonscan.Kind(raw) != "object" {
			return // decodeAppLog wants an object; parseJSONMessage only passes objects
		}
		if (fastErr == nil) != (stdErr == nil) {
			t.Fatalf("app line: jsonscan error %v, encoding/json error %v", fastErr, stdErr)
		}
		if fastErr == nil && !reflect.DeepEqual(normApp(fastApp), normApp(stdApp)) {
			t.Fatalf("app line decoded differently\njsonscan:      %+v\nencoding/json: %+v", fastApp, stdApp)
		}
	})
}

// normRaw makes empty and absent raw values compare equal (encoding/json
// leaves a RawMessage nil for an absent key, jsonscan too, but a copied
// empty slice and nil differ under DeepEqual).
func normRaw(r rawLog) rawLog {
	for _, p := range []*json.RawMessage{&r.Timestamp, &r.Time, &r.AtTimestamp, &r.Date, &r.Level, &r.Severity, &r.Lvl} {
		if len(*p) == 0 {
			*p = nil
		}
	}
	return r
}

func normApp(a appLog) appLog {
	for _, p := range []*json.RawMessage{&a.Level, &a.Severity, &a.Lvl, &a.LevelName, &a.ECSLevel, &a.Msg, &a.Message,
		&a.Error, &a.Err, &a.StackTrace, &a.Stacktrace, &a.Stack, &a.ExcInfo} {
		if len(*p) == 0 {
			*p = nil
		}
	}
	return a
}

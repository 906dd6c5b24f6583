package lognorm

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
// and decode records and application lines exactly as encoding/json does.

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
		// encoding/json names the embedded struct in the path
		// ("logMeta.kubernetes.pod_name"); go-json, like the record, does not.
		field := strings.TrimPrefix(typ.Field, "logMeta.")
		return fmt.Errorf("field %s must be %s, got JSON %s (offset %d)", field, jsondecode.TypeName(typ.Type), typ.Value, typ.Offset)
	}
	return err
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

// FuzzDecodeMatchesStdlib: go-json accepts exactly the records encoding/json
// accepts and decodes shipper records and JSON app lines alike; where both
// reject a record for a wrong field type, they name the same field.
func FuzzDecodeMatchesStdlib(f *testing.F) {
	for _, raw := range corpus(f) {
		f.Add(raw)
	}
	for _, s := range []string{`{"message":null,"log":"x","kubernetes":null}`, `{"kubernetes":{"host":"a"},"kubernetes":{"pod_name":"b"}}`,
		`{"time":1.5e3,"level":[1],"severity":{"a":1}}`, `{"Level":"warn","MSG":"x","Stack":"s"}`, `{"message":5}`, `{"msg":"a\ud800"}`,
		`{"ſtack":"s","LOG.LEVEL":"e","Message":"m"}`, `{"kubernetes":{"pod_name":7}}`, `{"message":{"a":[1,{"b":null}]},"log":[]}`,
		`{"kubernetes_namespace":{"name":"x"},"Log":"y"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var got, want rawLog
		gotErr := decodeLog(raw, &got)
		wantErr := stdDecodeObject("log record", raw, &want)
		// go-json names a field as the input spelled it, encoding/json as the
		// struct does; keys match case-insensitively, so compare that way.
		if (gotErr == nil) != (wantErr == nil) || !strings.EqualFold(typeErrorField(gotErr), typeErrorField(wantErr)) {
			t.Fatalf("go-json error %v, encoding/json error %v", gotErr, wantErr)
		}
		if gotErr == nil && !reflect.DeepEqual(normRaw(got), normRaw(want)) {
			t.Fatalf("decoded differently\ngo-json:       %+v\nencoding/json: %+v", got, want)
		}
		// The same bytes as a record whose line the shipper parsed.
		var gotP, wantP rawLogParsed
		gotErr = decodeLog(raw, &gotP)
		wantErr = stdDecodeObject("log record", raw, &wantP)
		if (gotErr == nil) != (wantErr == nil) || !strings.EqualFold(typeErrorField(gotErr), typeErrorField(wantErr)) {
			t.Fatalf("parsed record: go-json error %v, encoding/json error %v", gotErr, wantErr)
		}
		if gotErr == nil && !reflect.DeepEqual(normParsed(gotP), normParsed(wantP)) {
			t.Fatalf("parsed record decoded differently\ngo-json:       %+v\nencoding/json: %+v", gotP, wantP)
		}
		// The same bytes as an application's JSON log line.
		var gotApp, wantApp appLog
		gotErr = decodeAppLog(raw, &gotApp)
		wantErr = json.Unmarshal(raw, &wantApp)
		if jsondecode.Kind(raw) != "object" {
			return // parseJSONMessage passes only objects
		}
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("app line: go-json error %v, encoding/json error %v", gotErr, wantErr)
		}
		if gotErr == nil && !reflect.DeepEqual(normApp(gotApp), normApp(wantApp)) {
			t.Fatalf("app line decoded differently\ngo-json:       %+v\nencoding/json: %+v", gotApp, wantApp)
		}
	})
}

// normRaw makes empty and absent raw values compare equal (a nil and an
// empty RawMessage differ under DeepEqual).
func normRaw(r rawLog) rawLog {
	r.logMeta = normMeta(r.logMeta)
	return r
}

func normParsed(r rawLogParsed) rawLogParsed {
	for _, p := range []*json.RawMessage{&r.Message, &r.Log} {
		if len(*p) == 0 {
			*p = nil
		}
	}
	r.logMeta = normMeta(r.logMeta)
	return r
}

func normMeta(r logMeta) logMeta {
	for _, p := range []*json.RawMessage{&r.Timestamp, &r.Time, &r.AtTimestamp, &r.Date, &r.Level, &r.Severity, &r.Lvl,
		&r.KubernetesNamespace} {
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

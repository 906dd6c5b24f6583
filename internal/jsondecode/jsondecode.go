// Package jsondecode decodes one JSON object with github.com/goccy/go-json
// (encoding/json's API and semantics, several times faster: see
// docs/bench-normalizers.md) and turns decoder errors into reasons a
// dead-letter reader can act on: what is wrong, in which field, at which offset.
// Both normalizers use it.
package jsondecode

import (
	"errors"
	"fmt"
	"reflect"

	json "github.com/goccy/go-json"
)

// Object unmarshals raw, which must be one JSON object, into v and
// turns the decoder's errors into ones that say what is wrong with the
// record and where (they become the dead-letter reason). what names the
// record ("event").
func Object(what string, raw []byte, v any) error {
	switch got := Kind(raw); got {
	case "object", "invalid":
	case "":
		return fmt.Errorf("%s is empty", what)
	default: // null would decode into nothing without an error
		return fmt.Errorf("%s must be a JSON object, got %s", what, got)
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
		return &FieldError{Field: typ.Field, Want: TypeName(typ.Type), Got: typ.Value, Offset: typ.Offset}
	}
	return fmt.Errorf("decoding %s: %w", what, err)
}

// FieldError is a field of the wrong JSON type. A caller may decode again
// with another type for that field (errors.As).
type FieldError struct {
	Field  string // as the input spelled it, dotted ("kubernetes.pod_name")
	Want   string // "a string", "an object", ...
	Got    string // the JSON type found: "number", "object", ...
	Offset int64
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("field %s must be %s, got JSON %s (offset %d)", e.Field, e.Want, e.Got, e.Offset)
}

// Kind names the kind of the JSON value raw starts with, from its
// first non-space byte: object, array, string, number, boolean, null; ""
// for blank input, "invalid" for anything else.
func Kind(raw []byte) string {
	for _, c := range raw {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '{':
			return "object"
		case '[':
			return "array"
		case '"':
			return "string"
		case 'n':
			return "null"
		case 't', 'f':
			return "boolean"
		case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			return "number"
		default:
			return "invalid"
		}
	}
	return ""
}

// TypeName says which JSON value a Go field type wants.
func TypeName(t reflect.Type) string {
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
	case reflect.Struct, reflect.Map:
		return "an object"
	default:
		return t.String()
	}
}

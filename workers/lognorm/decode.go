package lognorm

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"unicode/utf8"
)

// decodeObject unmarshals raw, which must be one JSON object, into v and turns
// encoding/json's errors into ones that say what is wrong with the record
// (they become the dead-letter reason). what names the record ("event").
func decodeObject(what string, raw []byte, v any) error {
	if got := jsonKind(raw); got != "object" {
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

// jsonKind names the kind of the first JSON value in raw from its first
// non-space byte; "" for blank input, "invalid" for anything else.
func jsonKind(raw []byte) string {
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

// truncate cuts s to at most limit bytes on a UTF-8 boundary and appends a
// marker saying how many bytes were dropped. It reports whether it cut.
func truncate(s string, limit int) (string, bool) {
	if len(s) <= limit {
		return s, false
	}
	cut := limit
	// A rune is at most utf8.UTFMax bytes: back off at most UTFMax-1 bytes
	// to its first byte (further only happens inside invalid UTF-8).
	for i := 0; i < utf8.UTFMax-1 && cut > 0 && !utf8.RuneStart(s[cut]); i++ {
		cut--
	}
	return s[:cut] + fmt.Sprintf("…[truncated %d bytes]", len(s)-cut), true
}

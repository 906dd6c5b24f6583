package eventnorm

import (
	"fmt"
	"strconv"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Why a hand-written decoder: encoding/json reads every byte twice (a
// validating pass, then a reflective decoding pass) and spent ~80% of the
// event normalizer's time doing so, capping it below the 100,000 events/s
// per core target (docs/bench-normalizers.md). Events have a fixed, small
// set of fields, so this single-pass decoder reads exactly those and
// validates (but does not build) everything else. It follows encoding/json's
// semantics where they matter: the same inputs are valid, syntax errors win
// over type errors, the first type error is reported after the whole input
// was checked, null leaves a field empty, invalid UTF-8 and lone surrogates
// become U+FFFD, duplicate keys merge (last value wins). One deliberate
// difference: keys match exactly, as Kubernetes' own decoder does
// (encoding/json also accepts "Reason" for "reason"). FuzzScanMatchesStdlib
// checks the equivalence.

// maxDepth is encoding/json's nesting limit.
const maxDepth = 10000

type scanner struct {
	data    []byte
	pos     int
	depth   int
	typeErr error // first type mismatch; reported if the input is valid JSON
}

// decodeEvent decodes raw into ev; raw must be one JSON object.
func decodeEvent(raw []byte, ev *rawEvent) error {
	if got := jsonKind(raw); got != "object" {
		if got == "" {
			return fmt.Errorf("event is empty")
		}
		if got != "invalid" {
			return fmt.Errorf("event must be a JSON object, got %s", got)
		}
	}
	s := scanner{data: raw}
	if s.peek() != '{' {
		return s.unexpected("looking for beginning of value")
	}
	if err := s.value(func() error { return s.object(ev.field(&s)) }); err != nil {
		return err
	}
	if s.peek(); s.pos < len(s.data) {
		return s.syntaxErr(fmt.Sprintf("invalid character %s after top-level value", quoteChar(s.data[s.pos])))
	}
	return s.typeErr
}

// field returns the member decoder of the top-level event object.
func (ev *rawEvent) field(s *scanner) func(key []byte) error {
	return func(key []byte) error {
		switch string(key) {
		case "metadata":
			return s.objectField("metadata", func(k []byte) error {
				switch string(k) {
				case "uid":
					return s.stringField("metadata.uid", &ev.Metadata.UID)
				case "creationTimestamp":
					return s.stringField("metadata.creationTimestamp", &ev.Metadata.CreationTimestamp)
				}
				return s.skip()
			}, nil)
		case "involvedObject":
			return s.objectRefField("involvedObject", &ev.InvolvedObject)
		case "regarding":
			return s.objectRefField("regarding", &ev.Regarding)
		case "source":
			return s.sourceField("source", &ev.Source)
		case "deprecatedSource":
			return s.sourceField("deprecatedSource", &ev.DeprecatedSource)
		case "series":
			return s.objectField("series", func(k []byte) error {
				switch string(k) {
				case "count":
					return s.int32Field("series.count", &ev.Series.Count)
				case "lastObservedTime":
					return s.stringField("series.lastObservedTime", &ev.Series.LastObservedTime)
				}
				return s.skip()
			}, func(isNull bool) {
				if isNull {
					ev.Series = nil
				} else if ev.Series == nil {
					ev.Series = &series{}
				}
			})
		case "message":
			return s.stringField("message", &ev.Message)
		case "note":
			return s.stringField("note", &ev.Note)
		case "reason":
			return s.stringField("reason", &ev.Reason)
		case "type":
			return s.stringField("type", &ev.Type)
		case "firstTimestamp":
			return s.stringField("firstTimestamp", &ev.FirstTimestamp)
		case "lastTimestamp":
			return s.stringField("lastTimestamp", &ev.LastTimestamp)
		case "deprecatedFirstTimestamp":
			return s.stringField("deprecatedFirstTimestamp", &ev.DeprecatedFirstTimestamp)
		case "deprecatedLastTimestamp":
			return s.stringField("deprecatedLastTimestamp", &ev.DeprecatedLastTimestamp)
		case "eventTime":
			return s.stringField("eventTime", &ev.EventTime)
		case "count":
			return s.int32Field("count", &ev.Count)
		case "deprecatedCount":
			return s.int32Field("deprecatedCount", &ev.DeprecatedCount)
		case "reportingComponent":
			return s.stringField("reportingComponent", &ev.ReportingComponent)
		case "reportingController":
			return s.stringField("reportingController", &ev.ReportingController)
		case "reportingInstance":
			return s.stringField("reportingInstance", &ev.ReportingInstance)
		}
		return s.skip()
	}
}

func (s *scanner) objectRefField(name string, dst **objectRef) error {
	return s.objectField(name, func(k []byte) error {
		ref := *dst
		switch string(k) {
		case "kind":
			return s.stringField(name+".kind", &ref.Kind)
		case "namespace":
			return s.stringField(name+".namespace", &ref.Namespace)
		case "name":
			return s.stringField(name+".name", &ref.Name)
		case "uid":
			return s.stringField(name+".uid", &ref.UID)
		}
		return s.skip()
	}, func(isNull bool) {
		if isNull {
			*dst = nil
		} else if *dst == nil {
			*dst = &objectRef{}
		}
	})
}

func (s *scanner) sourceField(name string, dst **eventSource) error {
	return s.objectField(name, func(k []byte) error {
		src := *dst
		switch string(k) {
		case "component":
			return s.stringField(name+".component", &src.Component)
		case "host":
			return s.stringField(name+".host", &src.Host)
		}
		return s.skip()
	}, func(isNull bool) {
		if isNull {
			*dst = nil
		} else if *dst == nil {
			*dst = &eventSource{}
		}
	})
}

// objectField decodes an object-typed member. alloc (for pointer fields)
// is told whether the value is null before members are decoded; like
// encoding/json, null clears a pointer and leaves a struct as it was.
func (s *scanner) objectField(name string, member func(key []byte) error, alloc func(isNull bool)) error {
	switch s.peek() {
	case '{':
		if alloc != nil {
			alloc(false)
		}
		return s.value(func() error { return s.object(member) })
	case 'n':
		if err := s.literal("null"); err != nil {
			return err
		}
		if alloc != nil {
			alloc(true)
		}
		return nil
	}
	return s.mismatch(name, "an object")
}

func (s *scanner) stringField(name string, dst *string) error {
	switch s.peek() {
	case '"':
		v, err := s.str()
		if err != nil {
			return err
		}
		*dst = v
		return nil
	case 'n':
		return s.literal("null")
	}
	return s.mismatch(name, "a string")
}

func (s *scanner) int32Field(name string, dst *int32) error {
	switch c := s.peek(); {
	case c == 'n':
		return s.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		start := s.pos
		num, err := s.number()
		if err != nil {
			return err
		}
		n, perr := strconv.ParseInt(string(num), 10, 32)
		if perr != nil {
			if s.typeErr == nil {
				s.typeErr = fmt.Errorf("field %s must be an integer (int32), got JSON number %s (offset %d)", name, num, start)
			}
			return nil
		}
		*dst = int32(n)
		return nil
	}
	return s.mismatch(name, "an integer (int32)")
}

// mismatch records a type error for the value at pos and skips it.
func (s *scanner) mismatch(name, want string) error {
	start := s.pos
	kind := jsonKind(s.data[s.pos:])
	if kind == "" || kind == "invalid" {
		return s.skip() // reports the syntax error
	}
	if err := s.skip(); err != nil {
		return err
	}
	if s.typeErr == nil {
		s.typeErr = fmt.Errorf("field %s must be %s, got JSON %s (offset %d)", name, want, kind, start)
	}
	return nil
}

// value tracks nesting depth around an object or array.
func (s *scanner) value(f func() error) error {
	s.depth++
	if s.depth > maxDepth {
		return s.syntaxErr("exceeded max depth")
	}
	err := f()
	s.depth--
	return err
}

// object reads an object at pos; member must consume each member's value.
func (s *scanner) object(member func(key []byte) error) error {
	s.pos++ // '{'
	if s.peek() == '}' {
		s.pos++
		return nil
	}
	for {
		if s.peek() != '"' {
			return s.unexpected("looking for beginning of object key string")
		}
		key, err := s.key()
		if err != nil {
			return err
		}
		if s.peek() != ':' {
			return s.unexpected("after object key")
		}
		s.pos++
		if err := member(key); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.pos++
		case '}':
			s.pos++
			return nil
		default:
			return s.unexpected("after object key:value pair")
		}
	}
}

func (s *scanner) array() error {
	s.pos++ // '['
	if s.peek() == ']' {
		s.pos++
		return nil
	}
	for {
		if err := s.skip(); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.pos++
		case ']':
			s.pos++
			return nil
		default:
			return s.unexpected("after array element")
		}
	}
}

// skip validates and consumes any value.
func (s *scanner) skip() error {
	switch c := s.peek(); {
	case c == '{':
		return s.value(func() error {
			return s.object(func([]byte) error { return s.skip() })
		})
	case c == '[':
		return s.value(s.array)
	case c == '"':
		_, err := s.rawString()
		return err
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		_, err := s.number()
		return err
	}
	return s.unexpected("looking for beginning of value")
}

// peek skips white space and returns the next byte, 0 at the end.
func (s *scanner) peek() byte {
	for s.pos < len(s.data) {
		switch c := s.data[s.pos]; c {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return c
		}
	}
	return 0
}

func (s *scanner) literal(lit string) error {
	for i := 0; i < len(lit); i++ {
		if s.pos >= len(s.data) {
			return s.syntaxErr("unexpected end of JSON input")
		}
		if s.data[s.pos] != lit[i] {
			return s.syntaxErr(fmt.Sprintf("invalid character %s in literal %s (expecting %s)",
				quoteChar(s.data[s.pos]), lit, quoteChar(lit[i])))
		}
		s.pos++
	}
	return nil
}

// number validates a JSON number at pos and returns its text.
func (s *scanner) number() ([]byte, error) {
	start := s.pos
	d := s.data
	if s.pos < len(d) && d[s.pos] == '-' {
		s.pos++
	}
	switch {
	case s.pos >= len(d):
		return nil, s.syntaxErr("unexpected end of JSON input")
	case d[s.pos] == '0':
		s.pos++
	case d[s.pos] >= '1' && d[s.pos] <= '9':
		s.digits()
	default:
		return nil, s.syntaxErr(fmt.Sprintf("invalid character %s in numeric literal", quoteChar(d[s.pos])))
	}
	if s.pos < len(d) && d[s.pos] == '.' {
		s.pos++
		if s.pos >= len(d) {
			return nil, s.syntaxErr("unexpected end of JSON input")
		}
		if d[s.pos] < '0' || d[s.pos] > '9' {
			return nil, s.syntaxErr(fmt.Sprintf("invalid character %s after decimal point in numeric literal", quoteChar(d[s.pos])))
		}
		s.digits()
	}
	if s.pos < len(d) && (d[s.pos] == 'e' || d[s.pos] == 'E') {
		s.pos++
		if s.pos < len(d) && (d[s.pos] == '+' || d[s.pos] == '-') {
			s.pos++
		}
		if s.pos >= len(d) {
			return nil, s.syntaxErr("unexpected end of JSON input")
		}
		if d[s.pos] < '0' || d[s.pos] > '9' {
			return nil, s.syntaxErr(fmt.Sprintf("invalid character %s in exponent of numeric literal", quoteChar(d[s.pos])))
		}
		s.digits()
	}
	return d[start:s.pos], nil
}

func (s *scanner) digits() {
	for s.pos < len(s.data) && s.data[s.pos] >= '0' && s.data[s.pos] <= '9' {
		s.pos++
	}
}

// key returns an object key. Keys without escapes or non-ASCII bytes (all
// real ones) are returned in place, without copying.
func (s *scanner) key() ([]byte, error) {
	raw, err := s.rawString()
	if err != nil {
		return nil, err
	}
	if plain(raw) {
		return raw, nil
	}
	return []byte(unquote(raw)), nil
}

// str decodes the string at pos.
func (s *scanner) str() (string, error) {
	raw, err := s.rawString()
	if err != nil {
		return "", err
	}
	if plain(raw) {
		return string(raw), nil
	}
	return unquote(raw), nil
}

// rawString validates the string at pos and returns its bytes between the
// quotes, escapes undecoded.
func (s *scanner) rawString() ([]byte, error) {
	s.pos++ // opening quote
	start := s.pos
	d := s.data
	for s.pos < len(d) {
		c := d[s.pos]
		switch {
		case c == '"':
			s.pos++
			return d[start : s.pos-1], nil
		case c == '\\':
			s.pos++
			if s.pos >= len(d) {
				return nil, s.syntaxErr("unexpected end of JSON input")
			}
			switch d[s.pos] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.pos++
			case 'u':
				s.pos++
				for i := 0; i < 4; i++ {
					if s.pos >= len(d) {
						return nil, s.syntaxErr("unexpected end of JSON input")
					}
					if !isHex(d[s.pos]) {
						return nil, s.syntaxErr(fmt.Sprintf("invalid character %s in \\u hexadecimal character escape", quoteChar(d[s.pos])))
					}
					s.pos++
				}
			default:
				return nil, s.syntaxErr(fmt.Sprintf("invalid character %s in string escape code", quoteChar(d[s.pos])))
			}
		case c < 0x20:
			return nil, s.syntaxErr(fmt.Sprintf("invalid character %s in string literal", quoteChar(c)))
		default:
			s.pos++
		}
	}
	return nil, s.syntaxErr("unexpected end of JSON input")
}

// plain reports whether raw needs no unescaping or UTF-8 repair.
func plain(raw []byte) bool {
	for _, c := range raw {
		if c == '\\' || c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// unquote decodes a validated string body as encoding/json does: escapes,
// surrogate pairs, and U+FFFD for invalid UTF-8 or lone surrogates.
func unquote(raw []byte) string {
	b := make([]byte, 0, len(raw)+8)
	for r := 0; r < len(raw); {
		c := raw[r]
		switch {
		case c == '\\':
			r++
			switch e := raw[r]; e {
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				rr := hex4(raw[r+1:])
				r += 4
				if utf16.IsSurrogate(rr) {
					if len(raw) >= r+7 && raw[r+1] == '\\' && raw[r+2] == 'u' {
						if dec := utf16.DecodeRune(rr, hex4(raw[r+3:])); dec != unicode.ReplacementChar {
							b = utf8.AppendRune(b, dec)
							r += 7
							continue
						}
					}
					rr = unicode.ReplacementChar
				}
				b = utf8.AppendRune(b, rr)
			default: // '"', '\\', '/'
				b = append(b, e)
			}
			r++
		case c < utf8.RuneSelf:
			b = append(b, c)
			r++
		default:
			rr, size := utf8.DecodeRune(raw[r:])
			r += size
			b = utf8.AppendRune(b, rr) // RuneError for invalid bytes
		}
	}
	return string(b)
}

// hex4 decodes four validated hex digits.
func hex4(h []byte) rune {
	var v rune
	for _, c := range h[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		default:
			c = c - 'A' + 10
		}
		v = v<<4 | rune(c)
	}
	return v
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func (s *scanner) unexpected(context string) error {
	if s.pos >= len(s.data) {
		return s.syntaxErr("unexpected end of JSON input")
	}
	return s.syntaxErr(fmt.Sprintf("invalid character %s %s", quoteChar(s.data[s.pos]), context))
}

// syntaxErr reports an error at pos; like encoding/json's SyntaxError the
// offset counts the bytes read, the offending one included.
func (s *scanner) syntaxErr(msg string) error {
	return fmt.Errorf("invalid JSON at offset %d: %s", min(s.pos+1, len(s.data)), msg)
}

// quoteChar formats a byte as encoding/json's errors do.
func quoteChar(c byte) string {
	if c == '\'' {
		return `'\''`
	}
	if c == '"' {
		return `'"'`
	}
	s := strconv.Quote(string(rune(c)))
	return "'" + s[1:len(s)-1] + "'"
}

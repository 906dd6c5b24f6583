// Package jsonscan is a single-pass JSON decoder for records with a small,
// fixed set of fields: the caller names the members it wants, everything
// else is validated and skipped without being built.
//
// Why by hand: encoding/json reads every byte twice (a validating pass, then
// a reflective decoding pass) and spent ~80% of the normalizers' time doing
// so, capping the event normalizer below its 100,000 events/s per core
// target (docs/bench-normalizers.md). It follows encoding/json's semantics
// where they matter: the same inputs are valid, a syntax error anywhere wins
// over a type error, the first type error is reported once the whole input
// was checked, null leaves a field as it was (clears a pointer), invalid
// UTF-8 and lone surrogates become U+FFFD, duplicate keys are decoded again
// (last value wins, objects merge). One difference: keys match exactly, as
// Kubernetes' own decoder does; a caller that wants encoding/json's
// case-insensitive matching folds the key itself (see LowerKey). The fuzz
// targets of this package and of its users check the equivalence.
package jsonscan

import (
	"fmt"
	"strconv"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth is encoding/json's nesting limit.
const maxDepth = 10000

// Scanner decodes one JSON document. The zero value is not usable; use New.
type Scanner struct {
	data    []byte
	pos     int
	depth   int
	typeErr error // first type mismatch; reported if the input is valid JSON
}

// New returns a scanner over data. Byte slices it returns (keys, Raw
// values) alias data.
func New(data []byte) *Scanner { return &Scanner{data: data} }

// Document decodes data as one JSON object, calling member for each of its
// members (member must consume the value, e.g. with Skip), and checks that
// nothing but white space follows. what names the record in errors that are
// not about JSON syntax ("event must be a JSON object, got array").
func (s *Scanner) Document(what string, member func(key []byte) error) error {
	if got := Kind(s.data); got != "object" {
		if got == "" {
			return fmt.Errorf("%s is empty", what)
		}
		if got != "invalid" {
			return fmt.Errorf("%s must be a JSON object, got %s", what, got)
		}
	}
	if s.peek() != '{' {
		return s.unexpected("looking for beginning of value")
	}
	if err := s.value(func() error { return s.object(member) }); err != nil {
		return err
	}
	if s.peek(); s.pos < len(s.data) {
		return s.syntaxErr(fmt.Sprintf("invalid character %s after top-level value", quoteChar(s.data[s.pos])))
	}
	return s.typeErr
}

// Kind names the kind of the JSON value raw starts with, from its first
// non-space byte: object, array, string, number, boolean, null; "" for
// blank input, "invalid" for anything else.
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

// LowerKey lower-cases an ASCII key into buf (for case-insensitive member
// matching without allocating); keys with other bytes are returned as is.
func LowerKey(key []byte, buf []byte) []byte {
	if len(key) > cap(buf) {
		return key
	}
	buf = buf[:len(key)]
	for i, c := range key {
		if c >= utf8.RuneSelf {
			return key
		}
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return buf
}

// Object decodes an object-typed member named name (for errors). alloc (for pointer fields)
// is told whether the value is null before members are decoded; like
// encoding/json, null clears a pointer and leaves a struct as it was.
func (s *Scanner) Object(name string, member func(key []byte) error, alloc func(isNull bool)) error {
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

func (s *Scanner) String(name string, dst *string) error {
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

func (s *Scanner) Int32(name string, dst *int32) error {
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

// OptString decodes a string member into a new string; null leaves dst nil
// (encoding/json's *string).
func (s *Scanner) OptString(name string, dst **string) error {
	switch s.peek() {
	case '"':
		v, err := s.str()
		if err != nil {
			return err
		}
		*dst = &v
		return nil
	case 'n':
		if err := s.literal("null"); err != nil {
			return err
		}
		*dst = nil
		return nil
	}
	return s.mismatch(name, "a string")
}

// Raw validates any value and stores its bytes (aliasing the input) in dst,
// like encoding/json's RawMessage: null is stored as "null".
func (s *Scanner) Raw(dst *[]byte) error {
	s.peek()
	start := s.pos
	if err := s.Skip(); err != nil {
		return err
	}
	*dst = s.data[start:s.pos]
	return nil
}

// mismatch records a type error for the value at pos and skips it.
func (s *Scanner) mismatch(name, want string) error {
	start := s.pos
	kind := Kind(s.data[s.pos:])
	if kind == "" || kind == "invalid" {
		return s.Skip() // reports the syntax error
	}
	if err := s.Skip(); err != nil {
		return err
	}
	if s.typeErr == nil {
		s.typeErr = fmt.Errorf("field %s must be %s, got JSON %s (offset %d)", name, want, kind, start)
	}
	return nil
}

// value tracks nesting depth around an object or array.
func (s *Scanner) value(f func() error) error {
	s.depth++
	if s.depth > maxDepth {
		return s.syntaxErr("exceeded max depth")
	}
	err := f()
	s.depth--
	return err
}

// object reads an object at pos; member must consume each member's value.
func (s *Scanner) object(member func(key []byte) error) error {
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

func (s *Scanner) array() error {
	s.pos++ // '['
	if s.peek() == ']' {
		s.pos++
		return nil
	}
	for {
		if err := s.Skip(); err != nil {
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

// Skip validates and consumes any value.
func (s *Scanner) Skip() error {
	switch c := s.peek(); {
	case c == '{':
		return s.value(func() error {
			return s.object(func([]byte) error { return s.Skip() })
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
func (s *Scanner) peek() byte {
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

func (s *Scanner) literal(lit string) error {
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
func (s *Scanner) number() ([]byte, error) {
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

func (s *Scanner) digits() {
	for s.pos < len(s.data) && s.data[s.pos] >= '0' && s.data[s.pos] <= '9' {
		s.pos++
	}
}

// key returns an object key. Keys without escapes or non-ASCII bytes (all
// real ones) are returned in place, without copying.
func (s *Scanner) key() ([]byte, error) {
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
func (s *Scanner) str() (string, error) {
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
func (s *Scanner) rawString() ([]byte, error) {
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

func (s *Scanner) unexpected(context string) error {
	if s.pos >= len(s.data) {
		return s.syntaxErr("unexpected end of JSON input")
	}
	return s.syntaxErr(fmt.Sprintf("invalid character %s %s", quoteChar(s.data[s.pos]), context))
}

// syntaxErr reports an error at pos; like encoding/json's SyntaxError the
// offset counts the bytes read, the offending one included.
func (s *Scanner) syntaxErr(msg string) error {
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

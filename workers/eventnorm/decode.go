package eventnorm

import (
	"fmt"
	"unicode/utf8"
)

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

// Package textclip shortens text for records with size limits (normalized
// messages and stack traces): on a UTF-8 boundary, with a visible marker.
package textclip

import (
	"fmt"
	"unicode/utf8"
)

// Truncate cuts s to at most limit bytes on a UTF-8 boundary and appends a
// marker saying how many bytes were dropped. It reports whether it cut.
func Truncate(s string, limit int) (string, bool) {
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

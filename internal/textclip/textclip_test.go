package textclip

import "testing"

func TestTruncate(t *testing.T) {
	tests := []struct {
		in, want string
		limit    int
		cut      bool
	}{
		{"short", "short", 10, false},
		{"exactly10!", "exactly10!", 10, false},
		{"abcdefghijk", "abcdefghij…[truncated 1 bytes]", 10, true},
		{"abcdefghé", "abcdefgh…[truncated 2 bytes]", 9, true}, // é is 2 bytes at 8..9
		{"abcdefg€x", "abcdefg…[truncated 4 bytes]", 9, true},  // € is 3 bytes at 7..9
		{"abcdef😀x", "abcdef…[truncated 5 bytes]", 9, true},    // 😀 is 4 bytes at 6..9
		{"😀😀", "😀…[truncated 4 bytes]", 5, true},
	}
	for _, tt := range tests {
		got, cut := Truncate(tt.in, tt.limit)
		if got != tt.want || cut != tt.cut {
			t.Errorf("Truncate(%q, %d) = %q, %v; want %q, %v", tt.in, tt.limit, got, cut, tt.want, tt.cut)
		}
	}
}

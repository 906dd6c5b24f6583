package lognorm

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var docsPath = filepath.Join("..", "..", "docs", "normalization.md")

func code(vs []string, sep string) string {
	if len(vs) == 0 {
		return ""
	}
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = "`" + strings.ReplaceAll(v, "|", `\|`) + "`"
	}
	return strings.Join(q, sep)
}

func renderSignatures() string {
	var b strings.Builder
	b.WriteString("| # | signature | lower-cased text contains | why |\n|---|---|---|---|\n")
	for i, r := range SignatureRules() {
		m := code(r.Any, " / ")
		if len(r.All) > 0 {
			m = code(r.All, " + ") + " (all)"
		}
		b.WriteString("| " + strconv.Itoa(i+1) + " | " + string(r.Signature) + " | " + m + " | " + r.Why + " |\n")
	}
	return b.String()
}

func renderTextRules() string {
	var b strings.Builder
	b.WriteString("| # | severity | whole words (case-sensitive) | substrings (case-sensitive) | why |\n|---|---|---|---|---|\n")
	for i, r := range TextRules() {
		b.WriteString("| " + strconv.Itoa(i+1) + " | " + string(r.Severity) + " | " + code(r.Words, ", ") + " | " +
			code(r.Substrings, ", ") + " | " + r.Why + " |\n")
	}
	b.WriteString("| " + strconv.Itoa(len(textRules)+1) + " | INFO | *(no match)* | | |\n")
	return b.String()
}

// TestDocsTables keeps docs/normalization.md's copies of the signature and
// text severity tables equal to the code (-update rewrites them).
func TestDocsTables(t *testing.T) {
	replaceBetween(t, docsPath, "log-signatures", renderSignatures())
	replaceBetween(t, docsPath, "log-text-severity", renderTextRules())
}

func replaceBetween(t *testing.T, path, name, content string) {
	t.Helper()
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	begin, end := "<!-- BEGIN "+name+" -->\n", "<!-- END "+name+" -->"
	i := strings.Index(string(doc), begin)
	j := strings.Index(string(doc), end)
	if i < 0 || j < i {
		t.Fatalf("%s has no %q ... %q section", path, begin, end)
	}
	if string(doc[i+len(begin):j]) == content {
		return
	}
	if !*update {
		t.Fatalf("%s section %s is out of date with the code; run go test -run TestDocs -update\nwant:\n%s", path, name, content)
	}
	out := string(doc[:i+len(begin)]) + content + string(doc[j:])
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
}

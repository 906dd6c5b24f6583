package eventnorm

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// docsPath is the document that renders the classification table.
var docsPath = filepath.Join("..", "..", "docs", "normalization.md")

// renderRules renders the classification table as Markdown, in order.
func renderRules() string {
	var b strings.Builder
	b.WriteString("| # | reason | object kind | type | message contains (any) | message contains (all) | category | severity | why |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
	list := func(vs []string, sep string) string {
		if len(vs) == 0 {
			return "*"
		}
		q := make([]string, len(vs))
		for i, v := range vs {
			q[i] = "`" + strings.ReplaceAll(v, "|", `\|`) + "`"
		}
		return strings.Join(q, sep)
	}
	for i, r := range Rules() {
		typ := r.Type
		if typ == "" {
			typ = "*"
		}
		b.WriteString("| " + strconv.Itoa(i+1) + " | " + list(r.Reasons, ", ") + " | " + list(r.Kinds, ", ") + " | " + typ + " | " + list(r.MessageAny, " / ") +
			" | " + list(r.MessageAll, " + ") + " | " + string(r.Category) + " | " + string(r.Severity) + " | " + r.Why + " |\n")
	}
	return b.String()
}

// TestDocsTable keeps docs/normalization.md's copy of the table equal to
// the code; go test -run TestDocsTable -update rewrites it.
func TestDocsTable(t *testing.T) {
	replaceBetween(t, docsPath, "event-rules", renderRules())
}

// replaceBetween checks (or with -update rewrites) the text between
// <!-- BEGIN name --> and <!-- END name --> in path.
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
	cur := string(doc[i+len(begin) : j])
	if cur == content {
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

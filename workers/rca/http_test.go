package rca

import (
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzQuestion: whatever the query string and path, reading the question
// either succeeds or says what is wrong; checking the resource id never
// panics and accepts only <Kind>/<namespace>/<name>.
func FuzzQuestion(f *testing.F) {
	for _, s := range []string{"resource=Pod/shop/cart-1&top=3", "from=2026-11-27T08:00:00Z&to=2026-11-27T09:00:00Z",
		"top=-1", "resource=%00", "from=yesterday", "resource=Node//n1"} {
		f.Add("af-9", s)
	}
	f.Fuzz(func(t *testing.T, id, query string) {
		r := httptest.NewRequest("GET", "/v1/clients/x/rca", nil)
		r.URL.RawQuery = query
		r.SetPathValue("id", id)
		q, err := questionFromQuery(r)
		if err != nil {
			if err.Error() == "" || !utf8.ValidString(err.Error()) && utf8.ValidString(query) {
				t.Fatalf("unclear error %q", err)
			}
			return
		}
		if q.Top < 0 {
			t.Fatalf("negative top from %q", query)
		}
		name, err := checkRID(q.Resource)
		if err == nil && q.Resource != "" {
			parts := strings.Split(q.Resource, "/")
			if len(parts) != 3 || parts[0] == "" || name != parts[2] || name == "" {
				t.Fatalf("accepted %q as a resource id", q.Resource)
			}
		}
	})
}

package graph

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseCallTargets(t *testing.T) {
	for _, c := range []struct {
		msg                    string
		rids, ips, nameservers []string
	}{
		// Go net/http and net errors.
		{msg: "dial tcp 10.96.4.7:8080: connect: connection refused", ips: []string{"10.96.4.7"}},
		{msg: `Get "http://cart.shop:8080/items": dial tcp: lookup cart.shop on 10.96.0.10:53: no such host`,
			rids: []string{"Service/shop/cart"}, nameservers: []string{"10.96.0.10"}},
		{msg: "dial tcp: lookup payments.billing.svc.cluster.local on 10.96.0.10:53: server misbehaving",
			rids: []string{"Service/billing/payments"}, nameservers: []string{"10.96.0.10"}},
		{msg: "failed to call cart:8080: connection refused", rids: []string{"Service/web/cart"}},
		// A phrase's next word is a guess, linked only if such a Service exists.
		{msg: "upstream connect error: cart.shop.svc:9000 timed out", rids: []string{"Service/shop/cart", "Service/web/connect"}},
		{msg: "redis: dial tcp [fd00:10:96::a]:6379: i/o timeout", ips: []string{"fd00:10:96::a"}},
		// A StatefulSet pod through its headless Service.
		{msg: "could not connect to db-0.db.data.svc.cluster.local:5432: Connection refused",
			rids: []string{"Pod/data/db-0", "Service/data/db"}},
		// Java, Node.js, Python, curl.
		{msg: "java.net.UnknownHostException: inventory", rids: []string{"Service/web/inventory"}},
		{msg: "java.net.ConnectException: Connection refused: inventory/10.244.1.9:8080",
			rids: []string{"Service/web/inventory"}, ips: []string{"10.244.1.9"}},
		{msg: "Error: getaddrinfo ENOTFOUND orders.shop", rids: []string{"Service/shop/orders"}},
		{msg: "Error: connect ECONNREFUSED 10.244.2.3:3000", ips: []string{"10.244.2.3"}},
		{msg: "HTTPConnectionPool(host='ledger', port=8000): Max retries exceeded (Caused by NewConnectionError: [Errno 111] Connection refused)",
			rids: []string{"Service/web/ledger"}},
		{msg: "curl: (6) Could not resolve host: search.shop", rids: []string{"Service/shop/search"}},
		// A fully qualified cluster name anywhere, and the peer fields of
		// structured logs (JSON, logfmt, OpenTelemetry attribute names).
		{msg: "circuit open for payments.billing.svc.cluster.local after 5 failures", rids: []string{"Service/billing/payments"}},
		{msg: `{"level":"error","msg":"upstream returned 503","upstream":"inventory.production"}`,
			rids: []string{"Service/web/returned", "Service/production/inventory"}},
		{msg: `level=error msg="call failed" peer.service=ledger status=503`, rids: []string{"Service/web/ledger"}},
		{msg: `{"msg":"request failed","server.address":"10.96.3.3:8443"}`, ips: []string{"10.96.3.3"}},
		{msg: `upstream_host=cart:8080 response_code=503`, rids: []string{"Service/web/cart"}},
		{msg: "upstream product-catalog returned 503 Service Unavailable for /api/cart", rids: []string{"Service/web/product-catalog"}},
		{msg: "call to loyalty failed: timeout", rids: []string{"Service/web/loyalty"}},
		// Names that are not in-cluster Services name nothing.
		{msg: "lookup api.github.com on 10.96.0.10:53: no such host", nameservers: []string{"10.96.0.10"}},
		{msg: "2026-11-27T08:00:00Z request took 12:30 minutes"},
		{msg: "connection refused at 127.0.0.1:8080 and localhost:9090", rids: []string{"Service/web/localhost"}},
		{msg: "no target here at all"},
		{msg: "dial tcp 10.0.0.1:80 and 10.0.0.1:443 and http://10.0.0.1/", ips: []string{"10.0.0.1"}},
	} {
		got := parseCallTargets(c.msg, "web")
		if !slices.Equal(got.RIDs, c.rids) || !slices.Equal(got.IPs, c.ips) || !slices.Equal(got.Nameservers, c.nameservers) {
			t.Errorf("%q:\n got rids %q ips %q nameservers %q\nwant rids %q ips %q nameservers %q",
				c.msg, got.RIDs, got.IPs, got.Nameservers, c.rids, c.ips, c.nameservers)
		}
	}
}

func TestHostRIDs(t *testing.T) {
	for _, c := range []struct {
		host string
		want []string
	}{
		{"cart", []string{"Service/ns/cart"}},
		{"cart.shop", []string{"Service/shop/cart"}},
		{"cart.shop.svc", []string{"Service/shop/cart"}},
		{"cart.shop.svc.cluster.local", []string{"Service/shop/cart"}},
		{"cart.shop.svc.corp.example", []string{"Service/shop/cart"}},
		{"web-0.web.shop.svc.cluster.local", []string{"Pod/shop/web-0", "Service/shop/web"}},
		{"api.github.com", nil},
		{"8080", nil},
		{"Cart", nil}, // callers lower-case first; upper case is not a label
		{"-x", nil},
		{"a..b", nil},
		{strings.Repeat("a", 64), nil},
	} {
		if got := hostRIDs(c.host, "ns"); !slices.Equal(got, c.want) {
			t.Errorf("hostRIDs(%q) = %q, want %q", c.host, got, c.want)
		}
	}
}

// FuzzParseCallTargets: any message gives well-formed, bounded targets and no
// panic.
func FuzzParseCallTargets(f *testing.F) {
	for _, s := range []string{
		"dial tcp 10.96.4.7:8080: connect: connection refused",
		`Get "http://cart.shop:8080/items": dial tcp: lookup cart.shop on 10.96.0.10:53: no such host`,
		"java.net.UnknownHostException: inventory", "[fd00::1]:80", "http://[::1]:80/", "lookup  on :53",
	} {
		f.Add(s, "web")
	}
	f.Fuzz(func(t *testing.T, msg, ns string) {
		got := parseCallTargets(msg, ns)
		if len(got.RIDs) > maxCallTargets || len(got.IPs)+len(got.Nameservers) > maxCallTargets {
			t.Fatalf("too many targets: %+v", got)
		}
		for _, rid := range got.RIDs {
			parts := strings.Split(rid, "/")
			if len(parts) != 3 || parts[2] == "" || !utf8.ValidString(rid) {
				t.Fatalf("malformed rid %q", rid)
			}
			if _, err := newResource(parts[0], parts[1], parts[2]); err != nil && parts[1] != "" {
				t.Fatalf("rid %q is not a resource: %v", rid, err)
			}
		}
	})
}

// Package netfail names the texts by which programs and runtimes report a
// network failure. Both normalizers match them — eventnorm's NETWORK
// category for messages, lognorm's DNS, CONNECTION_REFUSED and
// NETWORK_UNREACHABLE signatures — so a failure is recognised alike in an
// event and in a log. Patterns are lower case: both match lower-cased text.
package netfail

// DNS: name resolution failed (Go resolver, glibc, Java, Node.js).
func DNS() []string {
	return []string{"no such host", "nxdomain", "temporary failure in name resolution", "server misbehaving",
		"unknownhostexception", "name or service not known", "getaddrinfo enotfound", "eai_again"}
}

// Refused: the peer's host answered, nothing listens on the port.
func Refused() []string {
	return []string{"connection refused", "econnrefused"}
}

// Unreachable: no route to the peer (ENETUNREACH, EHOSTUNREACH): the pod's
// or node's network is down or the peer's host is gone. Java's
// NoRouteToHostException and Python's OSError carry the same texts.
func Unreachable() []string {
	return []string{"network is unreachable", "no route to host", "enetunreach", "ehostunreach", "host is unreachable",
		"destination host unreachable"}
}

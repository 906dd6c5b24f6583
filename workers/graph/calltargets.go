package graph

import (
	"net/netip"
	"regexp"
	"slices"
	"strings"
)

// A log line that names what it was talking to reveals a call dependency: a
// pod that logs "dial tcp 10.96.4.7:8080: connect: connection refused" or
// "Get \"http://cart.shop:8080/items\": dial tcp: lookup cart.shop on
// 10.96.0.10:53: no such host" calls that Service. callTargets reads those
// names out of a message; the builder then links the pod to the resources the
// names resolve to (CALLS), and only to resources the graph knows, so a word
// that merely looks like a host name adds nothing.

// callTargets is what one log message names.
type callTargets struct {
	// RIDs the named hosts may be, most likely first: a Service
	// ("cart" in the caller's namespace, "cart.shop", "cart.shop.svc.cluster.local")
	// or a StatefulSet pod through its Service ("db-0.db.data.svc.cluster.local").
	RIDs []string
	// IPs named in the message (a pod's or a Service's address).
	IPs []string
	// Nameservers: the DNS servers a failed lookup names ("lookup x on 10.96.0.10:53").
	Nameservers []string
}

func (c callTargets) empty() bool {
	return len(c.RIDs) == 0 && len(c.IPs) == 0 && len(c.Nameservers) == 0
}

// maxCallTargets bounds what one message contributes (a log of a thousand
// addresses is a dump, not a call).
const maxCallTargets = 16

var (
	// scheme://host[:port] — the host of a URL.
	urlRE = regexp.MustCompile(`\b[a-zA-Z][a-zA-Z0-9+.-]{0,15}://(\[[0-9a-fA-F:.]+\]|[^\s/:'"?#\]\[@]+)`)
	// host:port, IPv4:port or [IPv6]:port, not inside a longer word, and not a
	// time of day (the host must not be all digits unless it is an IPv4).
	hostPortRE = regexp.MustCompile(`(?:^|[\s(\[{<'"=/@,;|])(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?):([0-9]{1,5})\b`)
	// Phrases after which resolvers and clients name the host they could not
	// reach or resolve.
	namedHostRE = regexp.MustCompile(`(?i)(?:\blookup|unknownhostexception:|\benotfound|\beai_again|could not resolve host:|` +
		`failed to resolve|unable to resolve|cannot resolve|host=['"])\s*['"]?([A-Za-z0-9][A-Za-z0-9.-]{0,252})`)
	// Phrases that name the peer of a failed call: a proxy's "upstream cart
	// returned 503", a client's "call to cart failed". The word after them is
	// often just a word ("upstream connect error"): it names nothing unless
	// the graph knows a Service of that name.
	peerPhraseRE = regexp.MustCompile(`(?i)\b(?:upstream|call to|calling|request to|connecting to|connect to)\s+['"]?([A-Za-z][A-Za-z0-9.-]{0,252})`)
	// Java's InetSocketAddress "host/10.0.0.5:8080": the name before the address.
	javaAddrRE = regexp.MustCompile(`(?:^|[\s:(])([A-Za-z][A-Za-z0-9.-]{0,252})/[0-9.]+:[0-9]{1,5}\b`)
	// A fully qualified in-cluster name anywhere: name.namespace.svc[.domain].
	clusterNameRE = regexp.MustCompile(`(?i)\b([a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?){1,2}\.svc(?:\.[a-z0-9-]+)*)\b`)
	// Structured fields that conventionally hold the peer: JSON ("upstream":
	// "cart"), logfmt (upstream=cart), OpenTelemetry attribute names
	// (peer.service, server.address, net.peer.name), proxies' upstream_host.
	// Not host or hostname: structured loggers put the writer's own host there.
	peerFieldRE = regexp.MustCompile(`(?i)["']?\b(upstream|upstream_host|upstream_addr|peer|peer\.service|peer_service|server\.address|net\.peer\.name|remote_host|target_host|addr|address|dependency|callee)["']?\s*[:=]\s*["']?([A-Za-z0-9][A-Za-z0-9.:\[\]-]{0,252})`)
	// The nameserver of a Go resolver error: "lookup NAME on 10.96.0.10:53".
	nameserverRE = regexp.MustCompile(`\blookup \S+ on (\[[0-9a-fA-F:.]+\]|[0-9.]+):53\b`)
)

// parseCallTargets extracts the call targets a message names. ns is the
// caller's namespace, where a bare Service name ("cart") lives.
func parseCallTargets(message, ns string) callTargets {
	var out callTargets
	seenRID, seenIP := map[string]bool{}, map[string]bool{}
	addIP := func(s string, list *[]string) bool {
		a, err := netip.ParseAddr(strings.Trim(s, "[]"))
		if err != nil {
			return false
		}
		if a.IsLoopback() || a.IsUnspecified() {
			return true // an address, but not another resource
		}
		ip := a.Unmap().String()
		if !seenIP[ip] && len(out.IPs)+len(out.Nameservers) < maxCallTargets {
			seenIP[ip] = true
			*list = append(*list, ip)
		}
		return true
	}
	addHost := func(h string) {
		h = strings.TrimSuffix(strings.ToLower(h), ".")
		if addIP(h, &out.IPs) {
			return
		}
		for _, rid := range hostRIDs(h, ns) {
			if !seenRID[rid] && len(out.RIDs) < maxCallTargets {
				seenRID[rid] = true
				out.RIDs = append(out.RIDs, rid)
			}
		}
	}
	for _, m := range nameserverRE.FindAllStringSubmatch(message, 4) {
		addIP(m[1], &out.Nameservers)
	}
	for _, m := range urlRE.FindAllStringSubmatch(message, maxCallTargets) {
		addHost(m[1])
	}
	// A nameserver seen above is not added again as an address (seenIP).
	for _, m := range hostPortRE.FindAllStringSubmatch(message, maxCallTargets) {
		addHost(m[1])
	}
	for _, re := range []*regexp.Regexp{javaAddrRE, namedHostRE, clusterNameRE, peerPhraseRE} {
		for _, m := range re.FindAllStringSubmatch(message, maxCallTargets) {
			addHost(m[1])
		}
	}
	for _, m := range peerFieldRE.FindAllStringSubmatch(message, maxCallTargets) {
		addHost(stripPort(m[2]))
	}
	return out
}

// stripPort drops a ":port" from host:port or [v6]:port; a bare IPv6 stays.
func stripPort(h string) string {
	if strings.HasPrefix(h, "[") {
		if i := strings.Index(h, "]"); i > 0 {
			return h[:i+1]
		}
		return h
	}
	if strings.Count(h, ":") == 1 {
		h, _, _ = strings.Cut(h, ":")
	}
	return h
}

// clusterDomainLabel is the label that ends the in-cluster part of a DNS name:
// <service>.<namespace>.svc[.<cluster domain>] and
// <hostname>.<service>.<namespace>.svc[.<cluster domain>] (a StatefulSet pod).
const clusterDomainLabel = "svc"

// hostRIDs maps a host name to the resources it may name, following the
// cluster DNS schema (kubernetes.io "DNS for Services and Pods"): a bare name
// is a Service of the caller's namespace, "name.namespace" a Service there,
// "...svc.<domain>" exactly what it says. Anything else (an external domain)
// names nothing. Only DNS-1123 labels qualify.
func hostRIDs(host, ns string) []string {
	if host == "" || len(host) > 253 {
		return nil
	}
	labels := strings.Split(host, ".")
	for _, l := range labels {
		if !dnsLabel(l) {
			return nil
		}
	}
	if i := slices.Index(labels, clusterDomainLabel); i >= 2 {
		switch i {
		case 2:
			return []string{"Service/" + labels[1] + "/" + labels[0]}
		case 3:
			// hostname.subdomain.namespace.svc: a pod with that hostname behind
			// the headless Service named subdomain.
			return []string{"Pod/" + labels[2] + "/" + labels[0], "Service/" + labels[2] + "/" + labels[1]}
		}
		return nil
	}
	switch len(labels) {
	case 1:
		if !dnsLabel(ns) || !dnsLabelStartsWithLetter(labels[0]) {
			return nil
		}
		return []string{"Service/" + ns + "/" + labels[0]}
	case 2:
		if !dnsLabelStartsWithLetter(labels[0]) {
			return nil
		}
		return []string{"Service/" + labels[1] + "/" + labels[0]}
	}
	return nil
}

// dnsLabel: a DNS-1123 label (lower case alphanumerics and '-', 1..63, starts and
// ends alphanumeric).
func dnsLabel(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// dnsLabelStartsWithLetter: Service names are DNS-1035 labels; a name that
// starts with a digit ("8080", "12") is a number, not a Service.
func dnsLabelStartsWithLetter(s string) bool { return s != "" && s[0] >= 'a' && s[0] <= 'z' }

// dnsServiceRID is where a DNS failure points when its message names no
// nameserver the topology knows: the cluster DNS Service, which CoreDNS
// installations keep calling kube-dns for compatibility.
const dnsServiceRID = "Service/kube-system/kube-dns"

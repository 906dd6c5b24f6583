package lognorm

import (
	"slices"
	"strings"

	"github.com/kgrca/kgplane/internal/netfail"
)

// Severity is the normalized severity of a log record.
type Severity string

// Severities, from least to most severe.
const (
	SeverityInfo     Severity = "INFO"
	SeverityWarning  Severity = "WARNING"
	SeverityError    Severity = "ERROR"
	SeverityCritical Severity = "CRITICAL"
)

// rank orders severities: INFO < WARNING < ERROR < CRITICAL.
func (s Severity) rank() int {
	switch s {
	case SeverityWarning:
		return 1
	case SeverityError:
		return 2
	case SeverityCritical:
		return 3
	}
	return 0
}

// Signature is the fault class a log line shows; the graph builder links it
// to events of the same class.
type Signature string

// Signatures. "" (omitted from the output) means none detected.
const (
	SignatureOOM               Signature = "OOM"
	SignaturePanic             Signature = "PANIC"
	SignatureCrash             Signature = "CRASH"
	SignatureDNS               Signature = "DNS"
	SignatureConnectionRefused Signature = "CONNECTION_REFUSED"
	// SignatureNetworkUnreachable: no route to the peer (network is
	// unreachable, no route to host), where CONNECTION_REFUSED is a peer
	// that answered but does not listen.
	SignatureNetworkUnreachable Signature = "NETWORK_UNREACHABLE"
	SignatureTimeout            Signature = "TIMEOUT"
	SignatureException          Signature = "EXCEPTION"
)

// SignatureRule matches when the lower-cased record text contains any of
// Any, or (when All is set) every one of All. First match wins.
type SignatureRule struct {
	Signature Signature
	Any       []string
	All       []string
	// Guard, when set, is a cheap pre-filter for Any: the rule is tried only
	// on a text that contains one of Guard, and every Any pattern contains
	// one (TestSignatureGuards), so it never changes a result. Patterns that
	// start with a common letter ("enetunreach") make strings.Contains slow
	// on long texts; a shared rarer stem is scanned once instead.
	Guard []string
	Why   string
}

// signatureRules is the signature table, most specific first: an
// OutOfMemoryError is OOM rather than EXCEPTION, a SocketTimeoutException
// TIMEOUT, "lookup x: no such host" DNS rather than a generic failure.
// Never modified; SignatureRules hands out a copy.
var signatureRules = []SignatureRule{
	{Signature: SignatureOOM, Any: []string{"outofmemoryerror", "out of memory", "killed process", "oomkilled",
		"cannot allocate memory", "memoryerror"}, Why: "JVM/Go/Python/kernel out-of-memory"},
	{Signature: SignaturePanic, Any: []string{"panic:"}, Why: "Go panic (also PANIC: lines of other runtimes)"},
	{Signature: SignatureCrash, Any: []string{"segmentation fault", "sigsegv", "sigabrt", "core dumped", "fatal error:",
		"unexpected signal"}, Why: "process killed by a signal or a fatal runtime error"},
	{Signature: SignaturePanic, All: []string{"goroutine ", " [running]:"}, Why: "Go goroutine dump (a panic whose first line was cut off)"},
	// The network failures are eventnorm's too (internal/netfail).
	{Signature: SignatureDNS, Any: netfail.DNS(), Why: "name resolution failed"},
	{Signature: SignatureConnectionRefused, Any: netfail.Refused(), Why: "peer not listening"},
	{Signature: SignatureNetworkUnreachable, Any: netfail.Unreachable(), Guard: []string{"unreach", "no route to host"},
		Why: "no route to the peer: the pod's or node's network is down, or the peer's host is gone"},
	{Signature: SignatureTimeout, Any: []string{"timed out", "deadline exceeded", "i/o timeout", "timeoutexception",
		"etimedout"}, Why: "operation or connection timed out"},
	{Signature: SignatureException, Any: []string{"exception", "traceback (most recent call last)", "typeerror",
		"referenceerror", "valueerror", "keyerror", "attributeerror", "indexerror", "runtimeerror", "assertionerror"},
		Why: "Java/Python/JS exception not covered above"},
}

// SignatureRules returns a copy of the signature table in evaluation order.
func SignatureRules() []SignatureRule { return slices.Clone(signatureRules) }

// DetectSignature returns the first matching signature of lowerText.
func DetectSignature(lowerText string) Signature {
	for i := range signatureRules {
		r := &signatureRules[i]
		if len(r.Guard) > 0 && !containsAny(lowerText, r.Guard) {
			continue
		}
		if len(r.All) > 0 {
			if containsAll(lowerText, r.All) {
				return r.Signature
			}
			continue
		}
		for _, s := range r.Any {
			if strings.Contains(lowerText, s) {
				return r.Signature
			}
		}
	}
	return ""
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// TextRule infers a severity from the first line of an unstructured record.
// Words match whole words, case-sensitively (so "ERROR" and "Error" but not
// "errors" or "terror"); Substrings match anywhere, case-sensitively.
type TextRule struct {
	Severity   Severity
	Words      []string
	Substrings []string
	Why        string
}

// textRules are tried in order; the first match wins; none → INFO. The
// stream (stderr) is deliberately not a signal: many programs log
// everything there.
var textRules = []TextRule{
	{Severity: SeverityCritical, Words: []string{"FATAL", "Fatal", "PANIC", "CRITICAL", "Critical", "CRIT", "EMERG"},
		Substrings: []string{"panic: ", "fatal error: ", "Out of memory", "OutOfMemoryError", "Segmentation fault", "core dumped", "[crit]", "[alert]", "[emerg]"},
		Why:        "fatal/panic/critical markers, Go panics and runtime fatal errors, OOM kills, segfaults, nginx [crit]"},
	{Severity: SeverityError, Words: []string{"ERROR", "Error", "ERR"},
		Substrings: []string{"Exception", "Traceback (most recent call last)", "error:", "[error]"},
		Why:        "error markers, exceptions, Python tracebacks, nginx [error]"},
	{Severity: SeverityWarning, Words: []string{"WARN", "WARNING", "Warning"},
		Substrings: []string{"warning:", "[warn]"},
		Why:        "warning markers, nginx [warn]"},
}

// TextRules returns a copy of the text severity table in evaluation order.
func TextRules() []TextRule { return slices.Clone(textRules) }

// severityFromText applies textRules to one line.
func severityFromText(line string) Severity {
	for i := range textRules {
		r := &textRules[i]
		for _, w := range r.Words {
			if containsWord(line, w) {
				return r.Severity
			}
		}
		for _, s := range r.Substrings {
			if strings.Contains(line, s) {
				return r.Severity
			}
		}
	}
	return SeverityInfo
}

// containsWord reports whether w occurs in s with no letter, digit or '_'
// on either side.
func containsWord(s, w string) bool {
	for off := 0; off <= len(s)-len(w); {
		i := strings.Index(s[off:], w)
		if i < 0 {
			return false
		}
		i += off
		end := i + len(w)
		if (i == 0 || !isWordByte(s[i-1])) && (end == len(s) || !isWordByte(s[end])) {
			return true
		}
		off = i + 1
	}
	return false
}

func isWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// ParseLevel maps a structured level value (zap, logrus, slog, pino,
// bunyan, GCP, ECS, syslog, klog letters) to a severity.
func ParseLevel(v string) (Severity, bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "trace", "debug", "info", "information", "informational", "notice", "verbose", "fine", "finer", "finest",
		"config", "default", "t", "d", "i", "n", "v",
		// pino/bunyan numbers (10..30) and syslog 5..7.
		"10", "20", "30", "5", "6", "7":
		return SeverityInfo, true
	case "warn", "warning", "w", "40", "4":
		return SeverityWarning, true
	case "error", "err", "eror", "e", "50", "3":
		return SeverityError, true
	case "fatal", "panic", "dpanic", "critical", "crit", "alert", "emerg", "emergency", "severe", "f", "c",
		"60", "0", "1", "2":
		return SeverityCritical, true
	}
	return "", false
}

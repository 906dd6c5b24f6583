// Package lognorm turns a raw container log record, as Vector's
// kubernetes_logs source or Fluent Bit's tail input + kubernetes filter emit
// it as JSON, into the normalized log of the contract (SPEC "Normalized
// log"). It is pure: no I/O, no state; the Kafka worker wraps it.
package lognorm

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/kgrca/kgplane/internal/textclip"
)

// MaxInputBytes bounds a raw record (Kafka's default message.max.bytes is
// about 1 MiB).
const MaxInputBytes = 1 << 20

// MaxMessageBytes bounds the normalized message (SPEC: 4 KiB, marked).
const MaxMessageBytes = 4 << 10

// MaxStackTraceBytes bounds stack_trace: enough for a deep Java trace with
// its causes, not for a full goroutine dump of a busy Go server.
const MaxStackTraceBytes = 16 << 10

// Log is the normalized log on logs.normalized. Field order is fixed by
// the struct, so the same input always encodes to the same bytes.
type Log struct {
	LogID     string   `json:"log_id"`
	Timestamp string   `json:"timestamp"` // RFC 3339, UTC
	Severity  Severity `json:"severity"`
	Message   string   `json:"message"`
	// Truncated is set when message or stack_trace was cut; the cut text
	// ends with "…[truncated N bytes]".
	Truncated  bool      `json:"truncated,omitempty"`
	Namespace  string    `json:"namespace"`
	Pod        string    `json:"pod"`
	Container  string    `json:"container"`
	Node       string    `json:"node"`
	PodUID     string    `json:"pod_uid"`
	Signature  Signature `json:"signature,omitempty"`
	StackTrace string    `json:"stack_trace,omitempty"`
}

// rawLog is the union of the Vector and Fluent Bit record fields we read;
// everything else (labels, annotations, file, source_type, ...) is ignored.
type rawLog struct {
	Message *string `json:"message"` // Vector
	Log     *string `json:"log"`     // Fluent Bit
	logMeta
}

// rawLogParsed is rawLog for a record whose message or log is not a
// string: a shipper parsed the line into an object (a Vector remap with
// parse_json). Decoded only then, so the common record is decoded once,
// straight into strings.
type rawLogParsed struct {
	Message json.RawMessage `json:"message"`
	Log     json.RawMessage `json:"log"`
	logMeta
}

// logMeta is the rest of a record: times, levels, Kubernetes metadata.
type logMeta struct {
	Timestamp   json.RawMessage `json:"timestamp"`  // Vector
	Time        json.RawMessage `json:"time"`       // Fluent Bit docker/cri parsers
	AtTimestamp json.RawMessage `json:"@timestamp"` // Fluent Bit outputs' Timestamp_Key/json_date_key
	Date        json.RawMessage `json:"date"`       // Fluent Bit json_date_key default

	// Level fields merged into the record (Fluent Bit Merge_Log, VRL).
	Level    json.RawMessage `json:"level"`
	Severity json.RawMessage `json:"severity"`
	Lvl      json.RawMessage `json:"lvl"`

	Kubernetes *k8sMeta `json:"kubernetes"`
	// Fluent Bit's Namespace_labels map: only the namespace, no pod.
	KubernetesNamespace json.RawMessage `json:"kubernetes_namespace"`
}

type k8sMeta struct {
	PodName       string `json:"pod_name"`
	PodNamespace  string `json:"pod_namespace"`  // Vector
	NamespaceName string `json:"namespace_name"` // Fluent Bit
	PodUID        string `json:"pod_uid"`        // Vector
	PodID         string `json:"pod_id"`         // Fluent Bit
	ContainerName string `json:"container_name"`
	PodNodeName   string `json:"pod_node_name"` // Vector
	Host          string `json:"host"`          // Fluent Bit
}

// Normalize decodes one raw log record and returns its id and the
// normalized log as JSON. keyID is the <uid> part of the record's Kafka key
// (<client>::log::<uid>). A non-nil error means the record is bad and says
// why.
func Normalize(keyID string, raw []byte) (id string, out []byte, err error) {
	l, err := NormalizeLog(keyID, raw)
	if err != nil {
		return "", nil, err
	}
	out, err = json.Marshal(&l)
	if err != nil { // cannot happen for this struct of strings
		return "", nil, fmt.Errorf("encoding normalized log: %w", err)
	}
	return l.LogID, out, nil
}

// NormalizeLog is Normalize without the final encoding.
func NormalizeLog(keyID string, raw []byte) (Log, error) {
	if len(raw) > MaxInputBytes {
		return Log{}, fmt.Errorf("log record is %d bytes, over the %d-byte limit", len(raw), MaxInputBytes)
	}
	text, in, err := decodeRecord(raw)
	if err != nil {
		return Log{}, err
	}
	return normalize(keyID, text, in)
}

// normalize turns the record's line (text) and the rest of it into a Log.
func normalize(keyID, text string, in *logMeta) (Log, error) {
	var l Log

	k := in.Kubernetes
	if k == nil {
		if present(in.KubernetesNamespace) {
			return l, fmt.Errorf("log record has only kubernetes_namespace, no kubernetes pod metadata: a log must name its pod (Fluent Bit kubernetes filter)")
		}
		return l, fmt.Errorf("log record has no kubernetes metadata (Vector kubernetes_logs / Fluent Bit kubernetes filter)")
	}
	l.Namespace = firstNonEmpty(k.PodNamespace, k.NamespaceName)
	l.Pod = k.PodName
	l.Container = k.ContainerName
	l.Node = firstNonEmpty(k.PodNodeName, k.Host)
	l.PodUID = firstNonEmpty(k.PodUID, k.PodID)
	if l.Namespace == "" {
		return l, fmt.Errorf("log record has no kubernetes.pod_namespace (Vector) or kubernetes.namespace_name (Fluent Bit)")
	}
	if l.Pod == "" {
		return l, fmt.Errorf("log record has no kubernetes.pod_name")
	}

	ts, err := recordTime(in)
	if err != nil {
		return l, err
	}
	l.Timestamp = ts

	source := keyID
	if source == "" {
		source = l.PodUID + "/" + l.Container
	}
	l.LogID = LogID(source, ts, text)

	// Severity: a level field of the record, else of the message (JSON,
	// logfmt, klog header), else the text rules on the first line.
	sev, structured := levelOf(in.Level, in.Severity, in.Lvl)
	message, stack := text, ""
	if app, ok := parseJSONMessage(text); ok {
		if !structured {
			sev, structured = app.severity()
		}
		message, stack = app.text(text)
	} else {
		if !structured {
			sev, structured = logfmtLevel(text)
		}
		if !structured {
			sev, structured = klogLevel(text)
		}
		message, stack = splitStackTrace(text)
	}
	if !structured {
		// A level the app's text format declares at the head of the line
		// ("2026-11-20 10:00:00,000 [INFO] uvicorn.error: ...") is the app's
		// own word: it wins over markers that only look like errors.
		sev, structured = headerLevel(firstLine(message))
	}
	if !structured {
		sev = severityFromText(firstLine(message))
		if stack != "" && sev.rank() < SeverityError.rank() {
			// An unstructured record carrying a stack trace is an error
			// report even when its first line says nothing.
			sev = SeverityError
		}
	}
	l.Severity = sev
	l.Signature = DetectSignature(strings.ToLower(text))

	var cutMsg, cutStack bool
	l.Message, cutMsg = textclip.Truncate(message, MaxMessageBytes)
	l.StackTrace, cutStack = textclip.Truncate(stack, MaxStackTraceBytes)
	l.Truncated = cutMsg || cutStack
	return l, nil
}

// LogID is "log-" + 16 hex digits of SHA-256(source, timestamp, text): a
// redelivered record gets the same id, two lines of one source differ by
// time or text.
func LogID(source, timestamp, text string) string {
	h := sha256.New()
	h.Write([]byte(source))
	h.Write([]byte{0})
	h.Write([]byte(timestamp))
	h.Write([]byte{0})
	h.Write([]byte(text))
	var sum [sha256.Size]byte
	return "log-" + hex.EncodeToString(h.Sum(sum[:0])[:8])
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return strings.TrimRight(s[:i], "\r")
	}
	return s
}

// levelOf returns the severity of the first level field that parses.
func levelOf(fields ...json.RawMessage) (Severity, bool) {
	for _, f := range fields {
		if v, ok := scalarString(f); ok {
			if sev, ok := ParseLevel(v); ok {
				return sev, true
			}
		}
	}
	return "", false
}

// scalarString returns a JSON string's value or a JSON number's text.
func scalarString(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 {
		return "", false
	}
	switch c := raw[0]; {
	case c == '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return "", false
		}
		return s, true
	case c == '-' || c >= '0' && c <= '9':
		return string(raw), true
	}
	return "", false
}

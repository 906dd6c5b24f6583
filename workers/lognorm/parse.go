package lognorm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/kgrca/kgplane/internal/jsondecode"
)

// decodeRecord decodes a shipper record into its line and the rest. The
// line is message (Vector) or log (Fluent Bit) as a string, or as compact
// JSON when the shipper parsed the line into an object; without either, the
// application's fields that Fluent Bit's Merge_Log On + Keep_Log Off put at
// the top level, as one JSON object.
func decodeRecord(raw []byte) (string, *logMeta, error) {
	var in rawLog
	if err := decodeLog(raw, &in); err != nil {
		// (fe is declared here: taking its address makes it escape, which
		// costs an allocation only on this path.)
		var fe *jsondecode.FieldError
		if errors.As(err, &fe) && (strings.EqualFold(fe.Field, "message") || strings.EqualFold(fe.Field, "log")) {
			return decodeParsedRecord(raw)
		}
		return "", nil, err
	}
	switch {
	case in.Message != nil:
		return trimLineBreak(*in.Message), &in.logMeta, nil
	case in.Log != nil:
		return trimLineBreak(*in.Log), &in.logMeta, nil
	}
	app, err := appFields(raw)
	if err != nil {
		return "", nil, err
	}
	if app == "" {
		return "", nil, fmt.Errorf("log record has no message (Vector), no log (Fluent Bit) and no application fields (Fluent Bit Merge_Log with Keep_Log Off)")
	}
	return app, &in.logMeta, nil
}

// decodeParsedRecord decodes a record whose message or log is not a string.
func decodeParsedRecord(raw []byte) (string, *logMeta, error) {
	var in rawLogParsed
	if err := decodeLog(raw, &in); err != nil {
		return "", nil, err
	}
	for _, f := range [...]struct {
		name string
		raw  json.RawMessage
	}{{"message", in.Message}, {"log", in.Log}} {
		if !present(f.raw) {
			continue
		}
		switch f.raw[0] {
		case '"':
			var s string
			if err := decodeString(f.raw, &s); err != nil {
				return "", nil, fmt.Errorf("log record field %s: %w", f.name, err)
			}
			return trimLineBreak(s), &in.logMeta, nil
		case '{':
			var b bytes.Buffer
			if err := json.Compact(&b, f.raw); err != nil {
				return "", nil, fmt.Errorf("log record field %s: %w", f.name, err)
			}
			return b.String(), &in.logMeta, nil
		}
		return "", nil, fmt.Errorf("field %s must be a string or an object, got JSON %s", f.name, jsonKind(f.raw))
	}
	return "", nil, fmt.Errorf("log record has no message or log") // unreachable: one of them had the wrong type
}

// trimLineBreak drops the line break docker's json-file driver keeps.
func trimLineBreak(s string) string { return strings.TrimRight(s, "\r\n") }

// shipperKey reports whether a top-level key is the shipper's (Vector
// kubernetes_logs, Fluent Bit tail + kubernetes filter and its outputs'
// time keys) rather than one of the application's merged fields. Keys match
// without regard to case, as the record's fields do.
func shipperKey(k string) bool {
	for _, s := range [...]string{"kubernetes", "kubernetes_namespace", "stream", "time", "timestamp", "@timestamp", "date",
		"_p", "logtag", "file", "source_type", "timestamp_end", "message", "log"} {
		if strings.EqualFold(k, s) {
			return true
		}
	}
	return false
}

// appFields returns the record's members that are not the shipper's, in
// their order, as one compact JSON object; "" when there are none. The
// standard library's tokenizer keeps the order (no map); this runs only for
// records without message and log.
func appFields(raw []byte) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil { // {
		return "", fmt.Errorf("reading the record's fields: %w", err)
	}
	var b bytes.Buffer
	key := json.NewEncoder(&b)
	key.SetEscapeHTML(false)
	n := 0
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return "", fmt.Errorf("reading the record's fields: %w", err)
		}
		name, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return "", fmt.Errorf("reading the record's field %q: %w", name, err)
		}
		if shipperKey(name) {
			continue
		}
		if n == 0 {
			b.WriteByte('{')
		} else {
			b.WriteByte(',')
		}
		n++
		if err := key.Encode(name); err != nil {
			return "", fmt.Errorf("writing field name %q: %w", name, err)
		}
		b.Truncate(b.Len() - 1) // Encode's newline
		b.WriteByte(':')
		if err := json.Compact(&b, v); err != nil {
			return "", fmt.Errorf("reading the record's field %q: %w", name, err)
		}
	}
	if n == 0 {
		return "", nil
	}
	b.WriteByte('}')
	return b.String(), nil
}

// present reports whether a raw field was given and is not null.
func present(raw json.RawMessage) bool {
	return len(raw) > 0 && string(raw) != "null"
}

// recordTime returns the record's time, RFC 3339 UTC, from the first of
// timestamp (Vector), time (Fluent Bit parsers), @timestamp, date (Fluent
// Bit outputs) that is present.
func recordTime(in *logMeta) (string, error) {
	fields := [...]struct {
		name string
		raw  json.RawMessage
	}{{"timestamp", in.Timestamp}, {"time", in.Time}, {"@timestamp", in.AtTimestamp}, {"date", in.Date}}
	for _, f := range fields {
		if !present(f.raw) {
			continue
		}
		t, err := parseTime(f.raw)
		if err != nil {
			return "", fmt.Errorf("log record field %s: %w", f.name, err)
		}
		return t.UTC().Format(time.RFC3339Nano), nil
	}
	return "", fmt.Errorf("log record has no timestamp (timestamp, time, @timestamp or date)")
}

// Epoch bounds: numbers outside 1970..9999 are not timestamps.
const maxEpochSeconds = 253402300799 // 9999-12-31T23:59:59Z

func parseTime(raw json.RawMessage) (time.Time, error) {
	switch c := raw[0]; {
	case c == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return time.Time{}, fmt.Errorf("not a string: %s", raw)
		}
		// Layouts Fluent Bit and Vector write; one without a zone is UTC
		// (Fluent Bit's java_sql_timestamp, ISO 8601 without offset).
		for _, layout := range [...]string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999",
			"2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00"} {
			if t, err := time.Parse(layout, s); err == nil {
				return t, nil
			}
		}
		return time.Time{}, fmt.Errorf("not an RFC 3339 time: %q", s)
	case c == '-' || c >= '0' && c <= '9':
		return parseEpoch(string(raw))
	default:
		return time.Time{}, fmt.Errorf("must be a time string or epoch number, got %s", jsonKind(raw))
	}
}

// parseEpoch reads seconds since the epoch as Fluent Bit writes them
// (Timestamp_Format double, epoch; epoch_ms for values past year 5138 in
// seconds). The fraction is read digit by digit so the result does not
// depend on float rounding.
func parseEpoch(s string) (time.Time, error) {
	bad := func() (time.Time, error) {
		return time.Time{}, fmt.Errorf("epoch %s is not a time between 1970 and 9999", s)
	}
	if strings.ContainsAny(s, "eE") {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || f < 0 || f > maxEpochSeconds || math.IsNaN(f) {
			return bad()
		}
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)), nil
	}
	intPart, fracPart, _ := strings.Cut(s, ".")
	sec, err := strconv.ParseInt(intPart, 10, 64)
	if err != nil || sec < 0 {
		return bad()
	}
	var nsec int64
	for i := 0; i < 9; i++ {
		nsec *= 10
		if i < len(fracPart) {
			d := fracPart[i]
			if d < '0' || d > '9' {
				return bad()
			}
			nsec += int64(d - '0')
		}
	}
	if sec > maxEpochSeconds && fracPart == "" && sec/1000 <= maxEpochSeconds {
		// epoch_ms
		return time.Unix(sec/1000, (sec%1000)*1e6), nil
	}
	if sec > maxEpochSeconds {
		return bad()
	}
	return time.Unix(sec, nsec), nil
}

// appLog holds the fields of a JSON-encoded application log line that we
// read (zap, logrus, slog, pino, bunyan, logstash-logback, python-json-logger,
// GCP and ECS layouts). Values stay raw so one odd type does not make the
// whole line unstructured. Keys match case-insensitively (decodeAppLog).
type appLog struct {
	Level      json.RawMessage `json:"level"`
	Severity   json.RawMessage `json:"severity"`
	Lvl        json.RawMessage `json:"lvl"`
	LevelName  json.RawMessage `json:"levelname"`
	ECSLevel   json.RawMessage `json:"log.level"`
	Msg        json.RawMessage `json:"msg"`
	Message    json.RawMessage `json:"message"`
	Error      json.RawMessage `json:"error"`
	Err        json.RawMessage `json:"err"`
	StackTrace json.RawMessage `json:"stack_trace"`
	Stacktrace json.RawMessage `json:"stacktrace"`
	Stack      json.RawMessage `json:"stack"`
	ExcInfo    json.RawMessage `json:"exc_info"`
}

// parseJSONMessage decodes text when it is one JSON object.
func parseJSONMessage(text string) (*appLog, bool) {
	t := strings.TrimSpace(text)
	if len(t) < 2 || t[0] != '{' || t[len(t)-1] != '}' {
		return nil, false
	}
	var a appLog
	if decodeAppLog([]byte(t), &a) != nil {
		return nil, false
	}
	return &a, true
}

func (a *appLog) severity() (Severity, bool) {
	return levelOf(a.Level, a.Severity, a.Lvl, a.LevelName, a.ECSLevel)
}

// text returns the readable message (msg/message, with the error appended
// as "msg: error") and the stack trace field; without a msg/message field
// the whole JSON line stays the message.
func (a *appLog) text(line string) (message, stack string) {
	errText, errStack := errorField(a.Error)
	if errText == "" {
		errText, errStack = errorField(a.Err)
	}
	for _, f := range []json.RawMessage{a.StackTrace, a.Stacktrace, a.Stack, a.ExcInfo} {
		if s, ok := jsonString(f); ok && s != "" {
			stack = s
			break
		}
	}
	if stack == "" {
		stack = errStack
	}
	msg, _ := jsonString(a.Msg)
	if msg == "" {
		msg, _ = jsonString(a.Message)
	}
	if msg == "" {
		return line, stack
	}
	if errText != "" {
		msg += ": " + errText
	}
	return msg, stack
}

// errorField reads an error given as a string (zap, logrus) or as an
// object with message and stack (pino, bunyan).
func errorField(raw json.RawMessage) (text, stack string) {
	if s, ok := jsonString(raw); ok {
		return s, ""
	}
	if len(raw) == 0 || raw[0] != '{' {
		return "", ""
	}
	var e struct {
		Message json.RawMessage `json:"message"`
		Stack   json.RawMessage `json:"stack"`
	}
	if json.Unmarshal(raw, &e) != nil {
		return "", ""
	}
	text, _ = jsonString(e.Message)
	stack, _ = jsonString(e.Stack)
	return text, stack
}

func jsonString(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// logfmtLevel finds level=, lvl= or severity= as a logfmt key (at the
// start or after a space) and maps its value.
func logfmtLevel(text string) (Severity, bool) {
	line := firstLine(text)
	for _, key := range [...]string{"level=", "lvl=", "severity="} {
		for off := 0; off < len(line); {
			i := strings.Index(line[off:], key)
			if i < 0 {
				break
			}
			i += off
			off = i + len(key)
			if i > 0 && line[i-1] != ' ' && line[i-1] != '\t' {
				continue
			}
			v := line[off:]
			if strings.HasPrefix(v, `"`) {
				v = v[1:]
				if j := strings.IndexByte(v, '"'); j >= 0 {
					v = v[:j]
				}
			} else if j := strings.IndexAny(v, " \t"); j >= 0 {
				v = v[:j]
			}
			if sev, ok := ParseLevel(v); ok {
				return sev, true
			}
		}
	}
	return "", false
}

// headerLevels are the level names text formats write in a line's header
// (log4j/logback, Python logging, uvicorn, Go log wrappers, nginx in
// brackets). Single letters and numbers are left out: in free text they are
// not levels.
var headerLevels = map[string]Severity{
	"TRACE": SeverityInfo, "DEBUG": SeverityInfo, "INFO": SeverityInfo, "NOTICE": SeverityInfo,
	"WARN": SeverityWarning, "WARNING": SeverityWarning,
	"ERROR": SeverityError, "ERR": SeverityError,
	"FATAL": SeverityCritical, "PANIC": SeverityCritical, "DPANIC": SeverityCritical, "CRITICAL": SeverityCritical,
	"CRIT": SeverityCritical, "ALERT": SeverityCritical, "EMERG": SeverityCritical, "SEVERE": SeverityCritical,
}

// maxHeaderFields is how many fields (time, date, thread, pid) may precede
// the level in a header: "2026-11-20 10:00:00.123 [main] INFO ...".
const maxHeaderFields = 3

// headerLevel reads a level name that a text format puts in the line's
// header: the first whitespace-separated token that is LEVEL, LEVEL:,
// LEVEL:rest (Python's default "INFO:root:msg") or [LEVEL] (any case in
// brackets, as nginx writes "[error]"), when every token before it looks
// like a header field (has a digit, or is in brackets). A level word in the
// middle of prose ("got ERROR from upstream") is not a header; the text
// rules judge that line.
func headerLevel(line string) (Severity, bool) {
	for i, tok := range strings.Fields(line) {
		if i > maxHeaderFields {
			break
		}
		if sev, ok := headerToken(tok); ok {
			return sev, true
		}
		if !strings.HasPrefix(tok, "[") && !strings.ContainsAny(tok, "0123456789") {
			break
		}
	}
	return "", false
}

func headerToken(tok string) (Severity, bool) {
	if inner, ok := strings.CutPrefix(tok, "["); ok {
		inner, ok = strings.CutSuffix(strings.TrimSuffix(inner, ":"), "]")
		if !ok {
			return "", false
		}
		sev, found := headerLevels[strings.ToUpper(inner)]
		return sev, found
	}
	name, _, _ := strings.Cut(tok, ":")
	sev, found := headerLevels[name]
	return sev, found
}

// klogLevel reads the klog header of Kubernetes components:
// "E1120 10:00:00.123456       1 file.go:12] msg" (I, W, E or F + mmdd).
func klogLevel(text string) (Severity, bool) {
	if len(text) < 6 || text[5] != ' ' {
		return "", false
	}
	for _, c := range text[1:5] {
		if c < '0' || c > '9' {
			return "", false
		}
	}
	switch text[0] {
	case 'I':
		return SeverityInfo, true
	case 'W':
		return SeverityWarning, true
	case 'E':
		return SeverityError, true
	case 'F':
		return SeverityCritical, true
	}
	return "", false
}

// splitStackTrace finds a Java/JVM, Go or Python stack trace in a
// multi-line record. With one, message is the first line and stack the
// remaining lines, so message + "\n" + stack is the record. A Python
// traceback that starts the record says what failed only at its end:
// message is its last unindented line (the exception, e.g. "ValueError:
// bad input") and stack the whole record. A Go runtime crash ("panic: ",
// "fatal error: " and a goroutine dump) after other lines was glued to them
// by the shipper (the dump has no line prefix to start a record); the
// runtime wrote it on its own, so message is its "panic: " line and stack
// the whole record.
func splitStackTrace(text string) (message, stack string) {
	nl := strings.IndexByte(text, '\n')
	if nl < 0 || !hasStackTrace(text) {
		return text, ""
	}
	first := strings.TrimRight(text[:nl], "\r")
	if strings.HasPrefix(first, "Traceback (most recent call last)") {
		return pythonException(text), text
	}
	if line, ok := gluedGoCrash(text[nl+1:]); ok {
		return line, text
	}
	return first, text[nl+1:]
}

// gluedGoCrash returns the first "panic: " or "fatal error: " line of rest
// that a goroutine header ("goroutine 1 [running]:") follows.
func gluedGoCrash(rest string) (string, bool) {
	crash := ""
	for line := range strings.SplitSeq(rest, "\n") {
		line = strings.TrimRight(line, "\r")
		switch {
		case crash == "" && (strings.HasPrefix(line, "panic: ") || strings.HasPrefix(line, "fatal error: ")):
			crash = line
		case crash != "" && strings.HasPrefix(line, "goroutine ") && strings.HasSuffix(line, "]:"):
			return crash, true
		}
	}
	return "", false
}

// hasStackTrace reports whether a line of text looks like a frame or
// header of a Java/JVM (also Node.js "at" frames), Go or Python trace.
func hasStackTrace(text string) bool {
	for line := range strings.SplitSeq(text, "\n") {
		t := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(t, "at ") && strings.HasSuffix(t, ")") && strings.Contains(t, "("):
			return true // Java "\tat pkg.Class.method(File.java:12)", Node "at fn (file.js:1:2)"
		case strings.HasPrefix(t, "Caused by: "), strings.HasPrefix(t, "Exception in thread "):
			return true
		case strings.HasPrefix(t, "goroutine ") && strings.HasSuffix(t, "]:"):
			return true // Go "goroutine 1 [running]:"
		case strings.HasPrefix(t, "Traceback (most recent call last)"):
			return true
		}
	}
	return false
}

// pythonException returns the last non-empty line of a traceback that is
// not indented: the exception line (its message may continue indented).
func pythonException(text string) string {
	lines := strings.Split(text, "\n")
	for i := len(lines) - 1; i > 0; i-- {
		l := strings.TrimRight(lines[i], "\r")
		if l != "" && l[0] != ' ' && l[0] != '\t' {
			return l
		}
	}
	return strings.TrimRight(lines[0], "\r")
}

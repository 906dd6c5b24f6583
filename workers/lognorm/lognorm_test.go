package lognorm

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/kgrca/kgplane/internal/netfail"
)

const vectorK8s = `{"pod_name":"web-1","pod_namespace":"shop","pod_uid":"p-1","container_name":"app","pod_node_name":"node-1","pod_labels":{"app":"web"}}`
const fluentK8s = `{"pod_name":"web-1","namespace_name":"shop","pod_id":"p-1","container_name":"app","host":"node-1","labels":{"app":"web"}}`

// vectorRecord builds a Vector kubernetes_logs record around message.
func vectorRecord(t testing.TB, message string, fields ...string) []byte {
	t.Helper()
	m, err := json.Marshal(message)
	if err != nil {
		t.Fatal(err)
	}
	rec := `{"message":` + string(m) + `,"timestamp":"2026-11-20T10:00:00.5Z","stream":"stdout","source_type":"kubernetes_logs","kubernetes":` + vectorK8s
	for _, f := range fields {
		rec += "," + f
	}
	return []byte(rec + "}")
}

func mustNormalize(t *testing.T, raw []byte) Log {
	t.Helper()
	l, err := NormalizeLog("key-1", raw)
	if err != nil {
		t.Fatalf("NormalizeLog: %v\ninput: %s", err, raw)
	}
	return l
}

func TestShipperFormats(t *testing.T) {
	want := Log{Timestamp: "2026-11-20T10:00:00.5Z", Severity: SeverityInfo, Message: "hello", Namespace: "shop",
		Pod: "web-1", Container: "app", Node: "node-1", PodUID: "p-1"}
	want.LogID = LogID("key-1", want.Timestamp, "hello")
	tests := []struct {
		name string
		raw  string
	}{
		{"vector", `{"message":"hello","timestamp":"2026-11-20T10:00:00.5Z","stream":"stdout","file":"/var/log/pods/x/app/0.log","kubernetes":` + vectorK8s + `}`},
		{"fluent bit cri", `{"log":"hello","time":"2026-11-20T10:00:00.5Z","stream":"stdout","_p":"F","kubernetes":` + fluentK8s + `}`},
		{"fluent bit docker newline", `{"log":"hello\n","time":"2026-11-20T10:00:00.5Z","stream":"stdout","kubernetes":` + fluentK8s + `}`},
		{"fluent bit @timestamp double", `{"log":"hello","@timestamp":1795168800.5,"kubernetes":` + fluentK8s + `}`},
		{"fluent bit @timestamp iso", `{"log":"hello","@timestamp":"2026-11-20T10:00:00.500Z","kubernetes":` + fluentK8s + `}`},
		{"fluent bit date java_sql_timestamp", `{"log":"hello","date":"2026-11-20 10:00:00.5","kubernetes":` + fluentK8s + `}`},
		{"fluent bit date epoch_ms", `{"log":"hello","date":1795168800500,"kubernetes":` + fluentK8s + `}`},
		{"time wins over @timestamp", `{"log":"hello","time":"2026-11-20T10:00:00.5Z","@timestamp":1.5,"kubernetes":` + fluentK8s + `}`},
		{"offset converted to UTC", `{"log":"hello","time":"2026-11-20T11:00:00.5+01:00","kubernetes":` + fluentK8s + `}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustNormalize(t, []byte(tt.raw))
			if got != want {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

// TestParsedLines: a line the shipper already parsed into an object (Vector
// remap with parse_json, Fluent Bit Merge_Log) is the application's JSON log.
func TestParsedLines(t *testing.T) {
	const ts = `"time":"2026-11-20T10:00:00.5Z"`
	tests := []struct {
		name, raw, text, msg string
		sev                  Severity
	}{
		// Fluent Bit Merge_Log On + Keep_Log Off: the app's fields at the top
		// level, no log; the shipper's own fields are not the app's.
		{"keep_log off, no msg field", `{"stream":"stdout",` + ts + `,"message_id":1,"word":"eagers","kubernetes":` + fluentK8s + `}`,
			`{"message_id":1,"word":"eagers"}`, `{"message_id":1,"word":"eagers"}`, SeverityInfo},
		{"keep_log off, msg, level and error", `{` + ts + `,"_p":"F","logtag":"F","level":"error","msg":"lost broker","error":"EOF","kubernetes":` + fluentK8s + `}`,
			`{"level":"error","msg":"lost broker","error":"EOF"}`, "lost broker: EOF", SeverityError},
		{"keep_log off, app fields keep their order and spelling", `{"z":{"b": [1, 2]},` + ts + `,"Stream":"stdout","a<b":"x&y","kubernetes":` + fluentK8s + `,"@timestamp":1.5}`,
			`{"z":{"b":[1,2]},"a<b":"x&y"}`, `{"z":{"b":[1,2]},"a<b":"x&y"}`, SeverityInfo},
		{"keep_log off, null message is absent", `{"message":null,` + ts + `,"lvl":"warn","msg":"slow","kubernetes":` + fluentK8s + `}`,
			`{"lvl":"warn","msg":"slow"}`, "slow", SeverityWarning},
		// Vector: message parsed into an object by a remap.
		{"vector message object", `{"message":{"level":"warn","msg":"queue full","depth": 9},"timestamp":"2026-11-20T10:00:00.5Z","kubernetes":` + vectorK8s + `}`,
			`{"level":"warn","msg":"queue full","depth":9}`, "queue full", SeverityWarning},
		{"vector message object without msg", `{"message":{"event_type":"closed_connection","duration":30124},"timestamp":"2026-11-20T10:00:00.5Z","kubernetes":` + vectorK8s + `}`,
			`{"event_type":"closed_connection","duration":30124}`, `{"event_type":"closed_connection","duration":30124}`, SeverityInfo},
		{"fluent bit log object", `{"log":{"severity":"ERROR","message":"disk full"},` + ts + `,"kubernetes":` + fluentK8s + `}`,
			`{"severity":"ERROR","message":"disk full"}`, "disk full", SeverityError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := mustNormalize(t, []byte(tt.raw))
			if l.Message != tt.msg || l.Severity != tt.sev {
				t.Errorf("message %q severity %s; want %q %s", l.Message, l.Severity, tt.msg, tt.sev)
			}
			// The id covers the line as the application wrote it.
			if want := LogID("key-1", "2026-11-20T10:00:00.5Z", tt.text); l.LogID != want {
				t.Errorf("id %s, want the id of the text %s", l.LogID, tt.text)
			}
		})
	}
}

func TestSeverity(t *testing.T) {
	tests := []struct {
		name string
		raw  []byte
		want Severity
	}{
		{"plain", vectorRecord(t, "GET /healthz 200"), SeverityInfo},
		{"stderr alone is not an error", vectorRecord(t, "starting", `"stream":"stderr"`), SeverityInfo},
		{"ERROR word", vectorRecord(t, "2026-11-20 ERROR failed"), SeverityError},
		{"Error word", vectorRecord(t, "Error while syncing"), SeverityError},
		{"ERR word", vectorRecord(t, "[ERR] broken"), SeverityError},
		{"errors is not a word match", vectorRecord(t, "0 errors"), SeverityInfo},
		{"terror is not ERROR", vectorRecord(t, "TERRORS"), SeverityInfo},
		{"Exception", vectorRecord(t, "java.lang.IllegalStateException: x"), SeverityError},
		{"WARN", vectorRecord(t, "WARN low disk"), SeverityWarning},
		{"FATAL", vectorRecord(t, "FATAL: db gone"), SeverityCritical},
		{"PANIC", vectorRecord(t, "PANIC: corrupted page"), SeverityCritical},
		{"go panic", vectorRecord(t, "panic: boom"), SeverityCritical},
		{"nginx [error]", vectorRecord(t, "2026/11/20 10:00:00 [error] 7#7: connect() failed"), SeverityError},
		{"only first line counts", vectorRecord(t, "all good\nERROR later line"), SeverityInfo},
		{"trace bumps text severity", vectorRecord(t, "request failed\n\tat a.B.c(B.java:1)"), SeverityError},
		{"glued go panic is critical", vectorRecord(t, "INFO GET /a\npanic: boom\n\ngoroutine 7 [running]:\nmain.f()"), SeverityCritical},
		{"json level", vectorRecord(t, `{"level":"error","msg":"x"}`), SeverityError},
		{"json severity", vectorRecord(t, `{"severity":"WARNING","message":"x"}`), SeverityWarning},
		{"json lvl", vectorRecord(t, `{"lvl":"crit","msg":"x"}`), SeverityCritical},
		{"json pino number", vectorRecord(t, `{"level":40,"msg":"x"}`), SeverityWarning},
		{"json levelname", vectorRecord(t, `{"levelname":"ERROR","message":"x"}`), SeverityError},
		{"json level beats text", vectorRecord(t, `{"level":"info","msg":"ERROR count reset"}`), SeverityInfo},
		// A level that does not parse leaves the text rules, which see the line.
		{"json level of odd type falls back to text", vectorRecord(t, `{"level":{"x":1},"msg":"WARN x"}`), SeverityWarning},
		{"logfmt", vectorRecord(t, `ts=1 level=error msg="x"`), SeverityError},
		{"logfmt quoted", vectorRecord(t, `ts=1 level="warn" msg="x"`), SeverityWarning},
		{"logfmt key must start a token", vectorRecord(t, `ts=1 xlevel=error msg="x"`), SeverityInfo},
		{"klog E", vectorRecord(t, "E1120 10:00:00.000000       1 x.go:1] boom"), SeverityError},
		{"klog W", vectorRecord(t, "W1120 10:00:00.000000       1 x.go:1] hmm"), SeverityWarning},
		{"record level field", vectorRecord(t, "plain text", `"level":"error"`), SeverityError},
		{"record level beats message", vectorRecord(t, `{"level":"info","msg":"x"}`, `"severity":"error"`), SeverityError},
		// A level in the text format's header is the app's own word.
		{"python logging [INFO] beats a logger named .error", vectorRecord(t, "2026-11-20 10:00:00,000 [INFO] uvicorn.error: cache refreshed"), SeverityInfo},
		{"log4j header INFO beats error:", vectorRecord(t, "2026-11-20 10:00:00,123 INFO  [main] c.e.App - retry after error: timeout"), SeverityInfo},
		{"logback thread before the level", vectorRecord(t, "10:00:00.123 [main] WARN c.e.App - Exception ignored"), SeverityWarning},
		{"python default format", vectorRecord(t, "INFO:root:error: none"), SeverityInfo},
		{"python default WARNING", vectorRecord(t, "WARNING:app:disk 91% full"), SeverityWarning},
		{"uvicorn INFO:", vectorRecord(t, "INFO:     Shutting down, error: none"), SeverityInfo},
		{"nginx [notice] beats error:", vectorRecord(t, "2026/11/20 10:00:00 [notice] 1#1: signal process started, error: none"), SeverityInfo},
		{"bracketed timestamp then level", vectorRecord(t, "[2026-11-20 10:00:00] ERROR db gone"), SeverityError},
		{"header ERROR", vectorRecord(t, "2026-11-20T10:00:00Z ERROR [worker] job failed"), SeverityError},
		{"header FATAL:", vectorRecord(t, "2026-11-20 10:00:00 FATAL: out of slots"), SeverityCritical},
		{"declared WARN with a stack trace stays WARNING", vectorRecord(t, "2026-11-20 10:00:00 WARN retrying\n\tat a.B.c(B.java:1)"), SeverityWarning},
		{"a level word in prose is no header", vectorRecord(t, "got INFO from upstream, error: bad gateway"), SeverityError},
		{"a level after four header fields is no header", vectorRecord(t, "a1 b2 c3 d4 INFO error: x"), SeverityError},
		{"lower-case bare word is no header", vectorRecord(t, "2026-11-20 info error: x"), SeverityError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mustNormalize(t, tt.raw).Severity; got != tt.want {
				t.Errorf("severity %s, want %s", got, tt.want)
			}
		})
	}
}

func TestParseLevel(t *testing.T) {
	tests := map[string]Severity{
		"debug": SeverityInfo, "INFO": SeverityInfo, "notice": SeverityInfo, "30": SeverityInfo,
		"warn": SeverityWarning, "Warning": SeverityWarning, "W": SeverityWarning, "40": SeverityWarning,
		"error": SeverityError, "ERR": SeverityError, "50": SeverityError, "3": SeverityError,
		"fatal": SeverityCritical, "panic": SeverityCritical, "DPANIC": SeverityCritical, "CRITICAL": SeverityCritical,
		"emerg": SeverityCritical, "60": SeverityCritical, " error ": SeverityError,
	}
	for in, want := range tests {
		if got, ok := ParseLevel(in); !ok || got != want {
			t.Errorf("ParseLevel(%q) = %s, %v; want %s", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "loud", "99", "errorish"} {
		if got, ok := ParseLevel(in); ok {
			t.Errorf("ParseLevel(%q) = %s, want no match", in, got)
		}
	}
}

func TestSignature(t *testing.T) {
	tests := []struct {
		text string
		want Signature
	}{
		{"java.lang.OutOfMemoryError: Java heap space", SignatureOOM},
		{"fatal error: runtime: out of memory", SignatureOOM},
		{"Memory cgroup out of memory: Killed process 1 (java)", SignatureOOM},
		{"container app OOMKilled", SignatureOOM},
		{"panic: runtime error: index out of range [3] with length 3", SignaturePanic},
		{"some line\ngoroutine 1 [running]:\nmain.main()", SignaturePanic},
		{"fatal error: concurrent map writes\n\ngoroutine 7 [running]:", SignatureCrash},
		{"Segmentation fault (core dumped)", SignatureCrash},
		{"dial tcp: lookup db on 10.96.0.10:53: no such host", SignatureDNS},
		{"NXDOMAIN for api.example.com", SignatureDNS},
		{"Temporary failure in name resolution", SignatureDNS},
		{"lookup db: server misbehaving", SignatureDNS},
		{"java.net.UnknownHostException: db", SignatureDNS},
		{"dial tcp 10.0.0.1:5432: connect: connection refused", SignatureConnectionRefused},
		{"Error: connect ECONNREFUSED 127.0.0.1:6379", SignatureConnectionRefused},
		{`F1015 11:01:46.499073       1 main.go:39] error getting server version: Get "https://10.96.0.1:443/version?timeout=32s": dial tcp 10.96.0.1:443: connect: network is unreachable`, SignatureNetworkUnreachable},
		{"dial tcp 10.244.1.7:5432: connect: no route to host", SignatureNetworkUnreachable},
		{"java.net.NoRouteToHostException: No route to host (Host unreachable)", SignatureNetworkUnreachable},
		{"OSError: [Errno 101] Network is unreachable", SignatureNetworkUnreachable},
		{"Error: connect EHOSTUNREACH 10.0.0.9:443", SignatureNetworkUnreachable},
		{"connect ENETUNREACH 2001:db8::1:443 - Local (:::0)", SignatureNetworkUnreachable},
		// A name that does not resolve is DNS, even when the dial then fails.
		{"dial tcp: lookup db on 10.96.0.10:53: no such host; no route to host", SignatureDNS},
		{"java.net.SocketTimeoutException: Read timed out", SignatureTimeout},
		{"context deadline exceeded", SignatureTimeout},
		{"read tcp 10.0.0.1:1->10.0.0.2:2: i/o timeout", SignatureTimeout},
		{"Exception in thread \"main\" java.lang.IllegalStateException", SignatureException},
		{"Traceback (most recent call last):\n  File \"x.py\"\nKeyError: 'a'", SignatureException},
		{"TypeError: x is undefined", SignatureException},
		{"GET / 200", ""},
	}
	for _, tt := range tests {
		if got := DetectSignature(strings.ToLower(tt.text)); got != tt.want {
			t.Errorf("DetectSignature(%q) = %q, want %q", tt.text, got, tt.want)
		}
	}
}

// TestNetworkSignaturesShareEventTexts: each network failure text of
// internal/netfail (which eventnorm classifies NETWORK too) has its signature.
func TestNetworkSignaturesShareEventTexts(t *testing.T) {
	for sig, patterns := range map[Signature][]string{SignatureDNS: netfail.DNS(), SignatureConnectionRefused: netfail.Refused(),
		SignatureNetworkUnreachable: netfail.Unreachable()} {
		for _, p := range patterns {
			if got := DetectSignature("request failed: " + p); got != sig {
				t.Errorf("%q: signature %q, want %q", p, got, sig)
			}
		}
	}
}

func TestStackTraceSplit(t *testing.T) {
	tests := []struct {
		name, text, msg, stack string
	}{
		{"java", "Exception in thread \"main\" java.lang.NPE: x\n\tat a.B.c(B.java:12)\n\tat a.B.main(B.java:3)",
			"Exception in thread \"main\" java.lang.NPE: x", "\tat a.B.c(B.java:12)\n\tat a.B.main(B.java:3)"},
		{"java caused by", "ERROR failed\njava.lang.RuntimeException: x\nCaused by: java.io.IOException: y",
			"ERROR failed", "java.lang.RuntimeException: x\nCaused by: java.io.IOException: y"},
		{"go", "panic: boom\n\ngoroutine 1 [running]:\nmain.main()\n\t/app/main.go:5 +0x1d",
			"panic: boom", "\ngoroutine 1 [running]:\nmain.main()\n\t/app/main.go:5 +0x1d"},
		{"python after a log line", "ERROR:root:failed\nTraceback (most recent call last):\n  File \"a.py\", line 1, in <module>\nValueError: bad",
			"ERROR:root:failed", "Traceback (most recent call last):\n  File \"a.py\", line 1, in <module>\nValueError: bad"},
		{"python traceback first", "Traceback (most recent call last):\n  File \"a.py\", line 1, in <module>\n    f()\nValueError: bad input\n",
			"ValueError: bad input", "Traceback (most recent call last):\n  File \"a.py\", line 1, in <module>\n    f()\nValueError: bad input\n"},
		{"python multi-line exception message", "Traceback (most recent call last):\n  File \"a.py\", line 1\nOperationalError: refused\n\tIs the server running?",
			"OperationalError: refused", "Traceback (most recent call last):\n  File \"a.py\", line 1\nOperationalError: refused\n\tIs the server running?"},
		{"node", "TypeError: x\n    at f (/app/a.js:1:2)", "TypeError: x", "    at f (/app/a.js:1:2)"},
		// A Go crash the shipper glued to the line before it: the runtime
		// wrote it on its own, its panic line is the headline.
		{"go panic after a log line", "2026-11-20T10:00:11Z INFO GET /a\npanic: boom\n\ngoroutine 7 [running]:\nmain.f()\n\t/a.go:3 +0x1",
			"panic: boom", "2026-11-20T10:00:11Z INFO GET /a\npanic: boom\n\ngoroutine 7 [running]:\nmain.f()\n\t/a.go:3 +0x1"},
		{"go fatal error after a log line", "ts=1 msg=start\nfatal error: concurrent map writes\n\ngoroutine 9 [running]:\nruntime.throw()",
			"fatal error: concurrent map writes", "ts=1 msg=start\nfatal error: concurrent map writes\n\ngoroutine 9 [running]:\nruntime.throw()"},
		{"panic line without a dump is not a Go crash", "ERROR x\npanic: y\n\tat a.B.c(B.java:1)", "ERROR x", "panic: y\n\tat a.B.c(B.java:1)"},
		{"multi-line without trace", "config:\n  a: 1\n  at: 2", "config:\n  a: 1\n  at: 2", ""},
		{"single line mentioning a frame", "\tat a.B.c(B.java:12)", "\tat a.B.c(B.java:12)", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, stack := splitStackTrace(tt.text)
			if msg != tt.msg || stack != tt.stack {
				t.Errorf("got  %q / %q\nwant %q / %q", msg, stack, tt.msg, tt.stack)
			}
		})
	}
}

func TestJSONMessage(t *testing.T) {
	tests := []struct {
		name, line, msg, stack string
	}{
		{"zap", `{"level":"error","msg":"query failed","error":"connection refused","stacktrace":"main.run\n\t/app/main.go:4"}`,
			"query failed: connection refused", "main.run\n\t/app/main.go:4"},
		{"pino err object", `{"level":50,"msg":"call failed","err":{"type":"Error","message":"ECONNREFUSED","stack":"Error: ECONNREFUSED\n    at x (a.js:1:1)"}}`,
			"call failed: ECONNREFUSED", "Error: ECONNREFUSED\n    at x (a.js:1:1)"},
		{"logback", `{"level":"ERROR","message":"failed","stack_trace":"java.lang.X: y\n\tat a.B(B.java:1)"}`,
			"failed", "java.lang.X: y\n\tat a.B(B.java:1)"},
		{"no msg keeps the line", `{"level":"warn","event":"evicted"}`, `{"level":"warn","event":"evicted"}`, ""},
		{"msg of wrong type keeps the line", `{"level":"warn","msg":42}`, `{"level":"warn","msg":42}`, ""},
		{"not JSON", `{oops}`, `{oops}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := mustNormalize(t, vectorRecord(t, tt.line))
			if l.Message != tt.msg || l.StackTrace != tt.stack {
				t.Errorf("got  %q / %q\nwant %q / %q", l.Message, l.StackTrace, tt.msg, tt.stack)
			}
		})
	}
}

func TestLogIDDeterminism(t *testing.T) {
	raw := vectorRecord(t, "hello")
	id1, out1, err := Normalize("key-1", raw)
	if err != nil {
		t.Fatal(err)
	}
	id2, out2, _ := Normalize("key-1", raw)
	if id1 != id2 || !bytes.Equal(out1, out2) {
		t.Fatalf("redelivery differs:\n%s\n%s", out1, out2)
	}
	if !strings.HasPrefix(id1, "log-") || len(id1) != 20 {
		t.Fatalf("id %q is not log- + 16 hex", id1)
	}
	differ := map[string]func() (string, []byte, error){
		"other key":     func() (string, []byte, error) { return Normalize("key-2", raw) },
		"other message": func() (string, []byte, error) { return Normalize("key-1", vectorRecord(t, "hello!")) },
		"other timestamp": func() (string, []byte, error) {
			return Normalize("key-1", bytes.Replace(raw, []byte("00.5Z"), []byte("00.6Z"), 1))
		},
	}
	for name, f := range differ {
		id, _, err := f()
		if err != nil {
			t.Fatal(err)
		}
		if id == id1 {
			t.Errorf("%s: same id %s", name, id)
		}
	}
	// Same instant written differently is the same record.
	id3, _, _ := Normalize("key-1", bytes.Replace(raw, []byte(`"2026-11-20T10:00:00.5Z"`), []byte(`"2026-11-20T11:00:00.500+01:00"`), 1))
	if id3 != id1 {
		t.Errorf("same instant, other zone: %s vs %s", id3, id1)
	}
	// Empty key: pod uid and container identify the source.
	l := mustNormalizeKey(t, "", raw)
	if l.LogID != LogID("p-1/app", "2026-11-20T10:00:00.5Z", "hello") {
		t.Errorf("empty key id %s", l.LogID)
	}
}

func mustNormalizeKey(t *testing.T, key string, raw []byte) Log {
	t.Helper()
	l, err := NormalizeLog(key, raw)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestTruncation(t *testing.T) {
	// 4095 ASCII bytes, then "€" (3 bytes) straddles the 4096 limit.
	msg := strings.Repeat("a", MaxMessageBytes-1) + "€" + strings.Repeat("b", 97)
	l := mustNormalize(t, vectorRecord(t, msg))
	want := strings.Repeat("a", MaxMessageBytes-1) + "…[truncated 100 bytes]"
	if l.Message != want || !l.Truncated {
		t.Fatalf("message tail %q truncated=%v, want tail %q", l.Message[len(l.Message)-30:], l.Truncated, want[len(want)-30:])
	}
	if !utf8.ValidString(l.Message) {
		t.Fatal("invalid UTF-8 after truncation")
	}
	// The id covers the whole text, not the truncated one.
	if l.LogID != LogID("key-1", l.Timestamp, msg) {
		t.Fatal("id computed from the truncated text")
	}
	// Exactly at the limit: untouched, no marker, no flag.
	exact := strings.Repeat("é", MaxMessageBytes/2)
	l = mustNormalize(t, vectorRecord(t, exact))
	if l.Message != exact || l.Truncated {
		t.Fatalf("message of exactly %d bytes changed (truncated=%v)", len(exact), l.Truncated)
	}
	_, out, _ := Normalize("k", vectorRecord(t, exact))
	if bytes.Contains(out, []byte("truncated")) {
		t.Fatalf("untruncated output mentions truncated: %s", out)
	}
	// A long stack trace is cut at its own limit and flags the record.
	trace := "ERROR x\n" + strings.Repeat("\tat a.B.c(B.java:1)\n", 2000)
	l = mustNormalize(t, vectorRecord(t, trace))
	if !l.Truncated || len(l.StackTrace) > MaxStackTraceBytes+len("…[truncated 100000 bytes]") || l.Message != "ERROR x" {
		t.Fatalf("stack trace %d bytes, truncated=%v, message %q", len(l.StackTrace), l.Truncated, l.Message)
	}
}

func TestBadInputs(t *testing.T) {
	huge := vectorRecord(t, strings.Repeat("x", MaxInputBytes))
	tests := []struct {
		name, wantErr string
		raw           []byte
	}{
		{"empty", "log record is empty", nil},
		{"invalid JSON", "invalid JSON at offset 13", []byte(`{"message": x}`)},
		{"JSON array", "log record must be a JSON object, got array", []byte(`[{"message":"x"}]`)},
		{"JSON null", "log record must be a JSON object, got null", []byte(`null`)},
		{"JSON string", "log record must be a JSON object, got string", []byte(`"hello"`)},
		{"message number", "field message must be a string or an object, got JSON number", []byte(`{"message":1,"timestamp":"2026-11-20T10:00:00Z","kubernetes":` + vectorK8s + `}`)},
		{"log array", "field log must be a string or an object, got JSON array", []byte(`{"log":["a"],"time":"2026-11-20T10:00:00Z","kubernetes":` + fluentK8s + `}`)},
		{"no message", "log record has no message (Vector), no log (Fluent Bit) and no application fields", []byte(`{"timestamp":"2026-11-20T10:00:00Z","stream":"stdout","kubernetes":` + vectorK8s + `}`)},
		{"no kubernetes", "log record has no kubernetes metadata", []byte(`{"message":"x","timestamp":"2026-11-20T10:00:00Z"}`)},
		{"only namespace metadata", "log record has only kubernetes_namespace, no kubernetes pod metadata", []byte(`{"log":"x","time":"2026-11-20T10:00:00Z","kubernetes_namespace":{"name":"test"}}`)},
		{"kubernetes field wrong type", "field kubernetes.pod_name must be a string, got JSON number (offset ", []byte(`{"message":"x","timestamp":"2026-11-20T10:00:00Z","kubernetes":{"pod_name":7}}`)},
		{"kubernetes string", "field kubernetes must be an object, got JSON string", []byte(`{"message":"x","timestamp":"2026-11-20T10:00:00Z","kubernetes":"web-1"}`)},
		{"no namespace", "log record has no kubernetes.pod_namespace (Vector) or kubernetes.namespace_name (Fluent Bit)", []byte(`{"message":"x","timestamp":"2026-11-20T10:00:00Z","kubernetes":{"pod_name":"a"}}`)},
		{"no pod", "log record has no kubernetes.pod_name", []byte(`{"message":"x","timestamp":"2026-11-20T10:00:00Z","kubernetes":{"pod_namespace":"a"}}`)},
		{"no timestamp", "log record has no timestamp (timestamp, time, @timestamp or date)", []byte(`{"message":"x","kubernetes":` + vectorK8s + `}`)},
		{"null timestamp", "log record has no timestamp", []byte(`{"message":"x","timestamp":null,"kubernetes":` + vectorK8s + `}`)},
		{"bad timestamp", `log record field timestamp: not an RFC 3339 time: "yesterday"`, []byte(`{"message":"x","timestamp":"yesterday","kubernetes":` + vectorK8s + `}`)},
		{"timestamp bool", "log record field time: must be a time string or epoch number, got boolean", []byte(`{"log":"x","time":true,"kubernetes":` + fluentK8s + `}`)},
		{"negative epoch", "log record field @timestamp: epoch -5 is not a time between 1970 and 9999", []byte(`{"log":"x","@timestamp":-5,"kubernetes":` + fluentK8s + `}`)},
		{"epoch too large", "log record field @timestamp: epoch 1e300 is not a time", []byte(`{"log":"x","@timestamp":1e300,"kubernetes":` + fluentK8s + `}`)},
		{"huge", "bytes, over the 1048576-byte limit", huge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, out, err := Normalize("k", tt.raw)
			if err == nil {
				t.Fatalf("want error %q, got %s %s", tt.wantErr, id, out)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %q does not contain %q", err, tt.wantErr)
			}
			if id != "" || out != nil {
				t.Fatalf("error with output %q %s", id, out)
			}
		})
	}
}

func TestOutputIsCompactFixedOrder(t *testing.T) {
	_, out, err := Normalize("key-1", vectorRecord(t, "ERROR dial tcp: connection refused"))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"log_id":"` + LogID("key-1", "2026-11-20T10:00:00.5Z", "ERROR dial tcp: connection refused") +
		`","timestamp":"2026-11-20T10:00:00.5Z","severity":"ERROR","message":"ERROR dial tcp: connection refused",` +
		`"namespace":"shop","pod":"web-1","container":"app","node":"node-1","pod_uid":"p-1","signature":"CONNECTION_REFUSED"}`
	if string(out) != want {
		t.Fatalf("got  %s\nwant %s", out, want)
	}
}

// TestSignatureGuards: a guard never changes a result: every pattern of
// its rule contains one of the guard's strings.
func TestSignatureGuards(t *testing.T) {
	for i, r := range SignatureRules() {
		if len(r.Guard) == 0 {
			continue
		}
		for _, p := range append(append([]string{}, r.Any...), r.All...) {
			if !containsAny(p, r.Guard) {
				t.Errorf("rule %d (%s): pattern %q contains none of its guard %q", i, r.Signature, p, r.Guard)
			}
		}
	}
}

func TestTablesAreCopies(t *testing.T) {
	s := SignatureRules()
	s[0].Signature = "MUTATED"
	if SignatureRules()[0].Signature == "MUTATED" {
		t.Fatal("SignatureRules exposes the table")
	}
	r := TextRules()
	r[0].Severity = "MUTATED"
	if TextRules()[0].Severity == "MUTATED" {
		t.Fatal("TextRules exposes the table")
	}
	for i, rule := range SignatureRules() {
		for _, p := range append(append([]string{}, rule.Any...), rule.All...) {
			if p != strings.ToLower(p) {
				t.Errorf("signature rule %d pattern %q is not lower case", i, p)
			}
		}
	}
}

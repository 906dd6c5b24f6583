package lognorm

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// FuzzLogNormalize: never panics; on success the output is a JSON object
// that decodes into Log, is byte-identical on a second run, and keeps
// message and stack_trace within their limits plus the truncation marker.
func FuzzLogNormalize(f *testing.F) {
	for _, raw := range corpus(f) {
		f.Add("key-1", raw)
	}
	f.Add("", []byte(`{"log":"x","time":1,"kubernetes":{"pod_name":"a","namespace_name":"b"}}`))
	f.Add("k", []byte(`{"message":"Traceback (most recent call last):\n","timestamp":"2026-01-01T00:00:00Z","kubernetes":{"pod_name":"a","pod_namespace":"b"}}`))
	// Fluent Bit Merge_Log On + Keep_Log Off, and a line parsed into an object.
	f.Add("k", []byte(`{"time":"2026-01-01T00:00:00Z","LEVEL":"warn","a<&>":{"b":[1,2.5e3]},"kubernetes":{"pod_name":"a","namespace_name":"b"}}`))
	f.Add("k", []byte(`{"message":{"msg":"x","error":{"message":"y"}},"timestamp":1,"kubernetes":{"pod_name":"a","pod_namespace":"b"}}`))
	const marker = len("…[truncated 1048576 bytes]")
	f.Fuzz(func(t *testing.T, keyID string, raw []byte) {
		id, out, err := Normalize(keyID, raw)
		if err != nil {
			if id != "" || out != nil {
				t.Fatalf("error %v with output %q %s", err, id, out)
			}
			return
		}
		if !json.Valid(out) {
			t.Fatalf("invalid JSON output: %s", out)
		}
		var l Log
		if err := json.Unmarshal(out, &l); err != nil {
			t.Fatalf("output does not decode: %v", err)
		}
		if l.LogID != id || !strings.HasPrefix(id, "log-") || len(id) != 20 {
			t.Fatalf("bad id %q (log_id %q)", id, l.LogID)
		}
		if len(l.Message) > MaxMessageBytes+marker || len(l.StackTrace) > MaxStackTraceBytes+marker {
			t.Fatalf("message %d bytes, stack_trace %d bytes", len(l.Message), len(l.StackTrace))
		}
		if l.Timestamp == "" || l.Namespace == "" || l.Pod == "" || l.Severity == "" {
			t.Fatalf("required field empty: %s", out)
		}
		id2, out2, err2 := Normalize(keyID, raw)
		if err2 != nil || id2 != id || !bytes.Equal(out, out2) {
			t.Fatalf("not deterministic: %v\n%s\n%s", err2, out, out2)
		}
	})
}

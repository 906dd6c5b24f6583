package eventnorm

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// FuzzEventNormalize: never panics; on success the output is a JSON object
// that decodes into Event, is byte-identical on a second run, and keeps the
// message within MaxMessageBytes plus the truncation marker.
func FuzzEventNormalize(f *testing.F) {
	for _, raw := range corpus(f) {
		f.Add("key-1", raw)
	}
	f.Add("", []byte(`{}`))
	f.Add("k", []byte(`{"involvedObject":{"kind":"Pod","name":"a"},"reason":"x","eventTime":"2026-01-01T00:00:00Z"}`))
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
		var ev Event
		if err := json.Unmarshal(out, &ev); err != nil {
			t.Fatalf("output does not decode: %v", err)
		}
		if ev.EventID != id || !strings.HasPrefix(id, "evt-") || len(id) != 20 {
			t.Fatalf("bad id %q (event_id %q)", id, ev.EventID)
		}
		if len(ev.Message) > MaxMessageBytes+len("…[truncated 1048576 bytes]") {
			t.Fatalf("message is %d bytes", len(ev.Message))
		}
		if ev.Timestamp == "" || ev.Reason == "" || ev.Object.Kind == "" || ev.Object.Name == "" {
			t.Fatalf("required field empty: %s", out)
		}
		id2, out2, err2 := Normalize(keyID, raw)
		if err2 != nil || id2 != id || !bytes.Equal(out, out2) {
			t.Fatalf("not deterministic: %v\n%s\n%s", err2, out, out2)
		}
	})
}

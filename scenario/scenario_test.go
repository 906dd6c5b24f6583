package scenario

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

const header = `{"scenario":"oom-loop","root_cause":{"rid":"Pod/shop/cart-1","signals":["OOMKilled","log:OOM"]},"symptom":{"rid":"Pod/shop/cart-1"}}`

func TestReadGoodFile(t *testing.T) {
	in := header + "\n" +
		`{"topic":"state.k8s.topology","key":"Pod/shop/cart-1","value":{"kind":"Pod","namespace":"shop","name":"cart-1"}}` + "\n" +
		"\n" + // blank lines are allowed
		`{"topic":"raw.k8s.events","key":"uid-1","value":{"reason":"OOMKilled","lastTimestamp":"2026-11-30T10:00:00Z"}}` + "\n" +
		`{"topic":"raw.k8s.logs","key":"log-1","value":{"message":"x"},"comment":"unknown fields are allowed"}` + "\n" +
		`{"topic":"state.k8s.topology","key":"Node//node-1","value":null}`
	f, err := Read(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if f.Header.Scenario != "oom-loop" || f.Header.Symptom.RID != "Pod/shop/cart-1" {
		t.Fatalf("header = %+v", f.Header)
	}
	if len(f.Records) != 4 {
		t.Fatalf("%d records, want 4", len(f.Records))
	}
	wantLines := []int{2, 4, 5, 6}
	for i, r := range f.Records {
		if r.Line != wantLines[i] {
			t.Errorf("record %d: line %d, want %d", i, r.Line, wantLines[i])
		}
	}
	if !f.Records[3].Tombstone() || f.Records[2].Tombstone() {
		t.Error("tombstone detection")
	}
	if got := string(f.Records[1].Value); !strings.Contains(got, `"2026-11-30T10:00:00Z"`) {
		t.Errorf("value not kept as written: %s", got)
	}
	if got := f.Records[1].FullKey("af-9"); got != "af-9::event::uid-1" {
		t.Errorf("FullKey = %q", got)
	}
	if got := f.Records[0].FullKey("af-9"); got != "af-9::topology::Pod/shop/cart-1" {
		t.Errorf("FullKey = %q", got)
	}
}

func TestReadRefusesWithLineNumber(t *testing.T) {
	rec := `{"topic":"raw.k8s.events","key":"u1","value":{}}`
	cases := []struct {
		name, in string
		line     int
		want     string
	}{
		{"empty file", "", 0, "empty scenario file"},
		{"header not JSON", "{oops", 1, "header: not a JSON object"},
		{"header without name", `{"root_cause":{"rid":"Pod/a/b","signals":["X"]},"symptom":{"rid":"Pod/a/b"}}`, 1, `"scenario"`},
		{"header without signals", `{"scenario":"s","root_cause":{"rid":"Pod/a/b"},"symptom":{"rid":"Pod/a/b"}}`, 1, "root_cause.signals"},
		{"header bad rid", `{"scenario":"s","root_cause":{"rid":"cart","signals":["X"]},"symptom":{"rid":"Pod/a/b"}}`, 1, "root_cause.rid"},
		{"header without symptom", `{"scenario":"s","root_cause":{"rid":"Pod/a/b","signals":["X"]}}`, 1, "symptom.rid"},
		{"bad also_correct", `{"scenario":"s","root_cause":{"rid":"Pod/a/b","signals":["X"]},"symptom":{"rid":"Pod/a/b"},"also_correct":[{"rid":"Deployment/a/b","signals":[]}]}`, 1, "also_correct[0].signals"},
		{"broken line", header + "\n" + rec + "\n" + `{"topic":"raw.k8s.events",`, 3, "not a JSON object"},
		{"two values on a line", header + "\n" + rec + rec, 2, "more than one JSON value"},
		{"unknown topic", header + "\n" + `{"topic":"raw.k8s.metrics","key":"u1","value":{}}`, 2, "unknown topic"},
		{"missing topic", header + "\n" + `{"key":"u1","value":{}}`, 2, `"topic" is missing`},
		{"missing key", header + "\n" + `{"topic":"raw.k8s.events","value":{}}`, 2, `"key" is missing`},
		{"key with prefix", header + "\n" + `{"topic":"raw.k8s.events","key":"af-9::event::u1","value":{}}`, 2, "without the <client>::<type>:: prefix"},
		{"event key with slash", header + "\n" + `{"topic":"raw.k8s.events","key":"a/b","value":{}}`, 2, "space or slash"},
		{"topology key shape", header + "\n" + `{"topic":"state.k8s.topology","key":"Pod/cart","value":{}}`, 2, "<kind>/<namespace>/<name>"},
		{"missing value", header + "\n" + `{"topic":"raw.k8s.events","key":"u1"}`, 2, `"value" is missing`},
		{"event tombstone", header + "\n" + `{"topic":"raw.k8s.events","key":"u1","value":null}`, 2, "only topology records"},
		{"value not an object", header + "\n" + `{"topic":"raw.k8s.logs","key":"u1","value":"a line"}`, 2, "must be a JSON object"},
		{"control char in key", header + "\n" + "{\"topic\":\"raw.k8s.events\",\"key\":\"u\\u0001\",\"value\":{}}", 2, "control character"},
		{"line too long", header + "\n" + `{"topic":"raw.k8s.logs","key":"u1","value":{"m":"` + strings.Repeat("x", MaxLineBytes) + `"}}`, 2, "longer than"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Read(strings.NewReader(c.in))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not say %q", err, c.want)
			}
			var le *LineError
			if c.line == 0 {
				if errors.As(err, &le) {
					t.Errorf("error %q has a line number, want none", err)
				}
				return
			}
			if !errors.As(err, &le) || le.Line != c.line {
				t.Errorf("error %q: want line %d", err, c.line)
			}
		})
	}
}

func TestWriteReadRoundTrip(t *testing.T) {
	f := &File{
		Header: Header{
			Scenario:    "image-pull",
			RootCause:   Answer{RID: "Pod/shop/web-1", Signals: []string{"ErrImagePull"}},
			Symptom:     Symptom{RID: "Pod/shop/web-1"},
			AlsoCorrect: []Answer{{RID: "Deployment/shop/web", Signals: []string{"ScalingReplicaSet"}}},
		},
		Records: []Record{
			{Topic: TopicTopology, Key: "Pod/shop/web-1", Value: []byte(`{"kind":"Pod","namespace":"shop","name":"web-1","html":"<a&b>"}`)},
			{Topic: TopicEvents, Key: "e1", Value: []byte(`{"reason":"ErrImagePull"}`)},
			{Topic: TopicTopology, Key: "Pod/shop/web-1"},
		},
	}
	var buf bytes.Buffer
	if err := Write(&buf, f); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"value":null`) || !strings.Contains(buf.String(), `<a&b>`) {
		t.Fatalf("written:\n%s", buf.String())
	}
	got, err := Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	for i := range got.Records {
		got.Records[i].Line = 0
	}
	if !reflect.DeepEqual(got, f) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, f)
	}
}

func TestCorrect(t *testing.T) {
	h := Header{
		RootCause:   Answer{RID: "Node//n1", Signals: []string{"NodeNotReady"}},
		AlsoCorrect: []Answer{{RID: "Node//n1", Signals: []string{"NodeHasDiskPressure"}}, {RID: "Pod/a/p", Signals: []string{"log:OOM"}}},
	}
	cases := []struct {
		rid, signal string
		want        bool
	}{
		{"Node//n1", "NodeNotReady", true},
		{"Node//n1", "NodeHasDiskPressure", true},
		{"Pod/a/p", "log:OOM", true},
		{"Node//n1", "Evicted", false},       // right resource, wrong signal
		{"Node//n2", "NodeNotReady", false},  // right signal, wrong resource
		{"Pod/a/p", "NodeNotReady", false},   // signals do not mix across answers
		{"Node//n1", "nodenotready", false},  // signals are exact
		{"Node//n1 ", "NodeNotReady", false}, // rids are exact
	}
	for _, c := range cases {
		if got := h.Correct(c.rid, c.signal); got != c.want {
			t.Errorf("Correct(%q, %q) = %v, want %v", c.rid, c.signal, got, c.want)
		}
	}
}

// Whatever Read accepts, Write gives back in a form Read accepts and reads the same.
func FuzzRead(f *testing.F) {
	f.Add([]byte(header + "\n" + `{"topic":"raw.k8s.events","key":"u1","value":{"a":1}}`))
	f.Add([]byte(header + "\n" + `{"topic":"state.k8s.topology","key":"Node//n","value":null}`))
	f.Add([]byte(`{"scenario":"x","root_cause":{"rid":"Pod/a/b","signals":["S"]},"symptom":{"rid":"Pod/a/b"},"also_correct":[]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := Read(bytes.NewReader(in))
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := Write(&buf, got); err != nil {
			t.Fatalf("Write of an accepted file: %v", err)
		}
		again, err := Read(&buf)
		if err != nil {
			t.Fatalf("re-reading a written file: %v\n%s", err, buf.Bytes())
		}
		if again.Header.Scenario != got.Header.Scenario || len(again.Records) != len(got.Records) {
			t.Fatalf("round trip changed the file")
		}
		for i := range got.Records {
			a, b := got.Records[i], again.Records[i]
			if a.Topic != b.Topic || a.Key != b.Key || a.Tombstone() != b.Tombstone() {
				t.Fatalf("record %d changed: %+v → %+v", i, a, b)
			}
		}
	})
}

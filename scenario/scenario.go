// Package scenario reads and writes scenario files: a recorded fault scenario
// of one client as JSON Lines, the contract's format (SPEC.md, "Scenario
// file"; docs/scenarios.md).
//
// Line 1 is the header: the scenario's name, its ground-truth root cause and
// symptom. Every other line is one record to publish, in file order:
//
//	{"scenario":"oom-loop","root_cause":{"rid":"Pod/shop/cart-1","signals":["OOMKilled"]},"symptom":{"rid":"Pod/shop/cart-1"}}
//	{"topic":"state.k8s.topology","key":"Pod/shop/cart-1","value":{"kind":"Pod",...}}
//	{"topic":"raw.k8s.events","key":"5f0c…","value":{"kind":"Event",...}}
//
// Keys are written without the "<client>::<type>::" prefix, so one file can be
// replayed into any client. kg-agent simulate writes these files, kg-agent
// replay publishes them and the root-cause evaluation scores against their
// headers; other tools write them too, so Read checks everything and says on
// which line a file is wrong.
package scenario

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/kgrca/kgplane/workers/kafkaio"
)

// The topics a scenario record may name, and the key type each one carries.
const (
	TopicEvents   = "raw.k8s.events"
	TopicLogs     = "raw.k8s.logs"
	TopicTopology = "state.k8s.topology"
)

// KeyType returns the key type ("event", "log", "topology") of a scenario
// topic, and false for any other topic.
func KeyType(topic string) (string, bool) {
	switch topic {
	case TopicEvents:
		return kafkaio.TypeEvent, true
	case TopicLogs:
		return kafkaio.TypeLog, true
	case TopicTopology:
		return kafkaio.TypeTopology, true
	}
	return "", false
}

// MaxLineBytes bounds one line: a record's value is at most a Kafka message
// (1 MiB by default) plus its envelope, so anything near this is not a record.
const MaxLineBytes = 8 << 20

// Answer names a root cause: a resource and the signals that identify the
// fault on it (an event reason as the graph stores it, "log:<SIGNATURE>" or
// "log:<SEVERITY>", docs/graph.md).
type Answer struct {
	RID     string   `json:"rid"`
	Signals []string `json:"signals"`
}

// Matches reports whether a ranked candidate (rid, signal) is this answer.
func (a Answer) Matches(rid, signal string) bool {
	return rid == a.RID && slices.Contains(a.Signals, signal)
}

// Symptom is the resource an operator would ask about.
type Symptom struct {
	RID string `json:"rid"`
}

// Header is a scenario file's first line.
type Header struct {
	Scenario  string  `json:"scenario"`
	RootCause Answer  `json:"root_cause"`
	Symptom   Symptom `json:"symptom"`
	// AlsoCorrect lists other answers a scorer accepts, e.g. the Deployment
	// that rolled out a bad image besides the pod that cannot pull it.
	AlsoCorrect []Answer `json:"also_correct,omitempty"`
}

// Correct reports whether a candidate (rid, signal) is the root cause or one
// of the answers also accepted: the scoring rule of SPEC.md.
func (h Header) Correct(rid, signal string) bool {
	if h.RootCause.Matches(rid, signal) {
		return true
	}
	for _, a := range h.AlsoCorrect {
		if a.Matches(rid, signal) {
			return true
		}
	}
	return false
}

// Record is one line after the header: what to publish, with the key's
// "<client>::<type>::" prefix left out.
type Record struct {
	Topic string `json:"topic"`
	Key   string `json:"key"`
	// Value is the record's JSON as written in the file (timestamps inside it
	// are kept), or nil for a topology tombstone.
	Value json.RawMessage `json:"value"`
	// Line is where the record was read (1-based; 0 for records built in code).
	Line int `json:"-"`
}

// Tombstone reports whether the record deletes its key (a null value).
func (r Record) Tombstone() bool { return r.Value == nil }

// FullKey is the key the record is published with for client:
// "<client>::<type>::<key>".
func (r Record) FullKey(client string) string {
	typ, _ := KeyType(r.Topic)
	return client + kafkaio.Separator + typ + kafkaio.Separator + r.Key
}

// File is a whole scenario.
type File struct {
	Header  Header
	Records []Record
}

// LineError says on which line of a scenario file the problem is.
type LineError struct {
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

// Read parses and checks a whole scenario file. It returns the first problem
// as a *LineError; nothing of a file with a problem should be published.
func Read(r io.Reader) (*File, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), MaxLineBytes)
	f := &File{}
	line, sawHeader := 0, false
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue // a trailing newline or a blank separator line
		}
		if !sawHeader {
			h, err := ParseHeader(b)
			if err != nil {
				return nil, &LineError{line, err}
			}
			f.Header, sawHeader = h, true
			continue
		}
		rec, err := ParseRecord(b)
		if err != nil {
			return nil, &LineError{line, err}
		}
		rec.Line = line
		f.Records = append(f.Records, rec)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, &LineError{line + 1, fmt.Errorf("longer than %d bytes", MaxLineBytes)}
		}
		return nil, fmt.Errorf("reading the scenario: %w", err)
	}
	if !sawHeader {
		return nil, errors.New("empty scenario file: line 1 must be the header {\"scenario\", \"root_cause\", \"symptom\"}")
	}
	return f, nil
}

// ReadFile reads and checks the scenario file at path.
func ReadFile(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	f, err := Read(fh)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// ParseHeader parses and checks a header line.
func ParseHeader(b []byte) (Header, error) {
	var h Header
	if err := strictUnmarshal(b, &h); err != nil {
		return Header{}, fmt.Errorf("header: %w", err)
	}
	if strings.TrimSpace(h.Scenario) == "" {
		return Header{}, errors.New("header: \"scenario\" (the scenario's name) is missing")
	}
	if err := checkAnswer("root_cause", h.RootCause); err != nil {
		return Header{}, fmt.Errorf("header: %w", err)
	}
	if err := CheckRID(h.Symptom.RID); err != nil {
		return Header{}, fmt.Errorf("header: symptom.rid: %w", err)
	}
	for i, a := range h.AlsoCorrect {
		if err := checkAnswer(fmt.Sprintf("also_correct[%d]", i), a); err != nil {
			return Header{}, fmt.Errorf("header: %w", err)
		}
	}
	return h, nil
}

func checkAnswer(field string, a Answer) error {
	if err := CheckRID(a.RID); err != nil {
		return fmt.Errorf("%s.rid: %w", field, err)
	}
	if len(a.Signals) == 0 {
		return fmt.Errorf("%s.signals: at least one signal (an event reason or log:<SIGNATURE>) is needed", field)
	}
	for _, s := range a.Signals {
		if strings.TrimSpace(s) == "" {
			return fmt.Errorf("%s.signals: empty signal", field)
		}
	}
	return nil
}

// CheckRID checks a resource id "<kind>/<namespace>/<name>" (namespace empty
// for cluster-scoped kinds: "Node//node-1").
func CheckRID(rid string) error {
	if rid == "" {
		return errors.New("missing (want <kind>/<namespace>/<name>)")
	}
	parts := strings.Split(rid, "/")
	if len(parts) != 3 || parts[0] == "" || parts[2] == "" || strings.ContainsAny(rid, " \t\n") {
		return fmt.Errorf("%q is not <kind>/<namespace>/<name>", clip(rid))
	}
	return nil
}

// probeClient only completes a record's key so that kafkaio.ParseKey, the
// workers' own check, can judge the part the file holds.
const probeClient = "scenario-check"

// ParseRecord parses and checks a record line.
func ParseRecord(b []byte) (Record, error) {
	var raw struct {
		Topic *string         `json:"topic"`
		Key   *string         `json:"key"`
		Value json.RawMessage `json:"value"`
	}
	if err := strictUnmarshal(b, &raw); err != nil {
		return Record{}, err
	}
	if raw.Topic == nil {
		return Record{}, errors.New("\"topic\" is missing")
	}
	if _, ok := KeyType(*raw.Topic); !ok {
		return Record{}, fmt.Errorf("unknown topic %q (want %s, %s or %s)", clip(*raw.Topic), TopicEvents, TopicLogs, TopicTopology)
	}
	if raw.Key == nil || *raw.Key == "" {
		return Record{}, errors.New("\"key\" is missing (the key without its <client>::<type>:: prefix)")
	}
	rec := Record{Topic: *raw.Topic, Key: *raw.Key}
	if strings.Contains(rec.Key, kafkaio.Separator) {
		return Record{}, fmt.Errorf("key %q contains %q: write it without the <client>::<type>:: prefix, the replayer adds it", clip(rec.Key), kafkaio.Separator)
	}
	if _, err := kafkaio.ParseKey([]byte(rec.FullKey(probeClient))); err != nil {
		return Record{}, fmt.Errorf("key %q: %w", clip(rec.Key), err)
	}
	switch v := bytes.TrimSpace(raw.Value); {
	case len(v) == 0:
		return Record{}, errors.New("\"value\" is missing (the record's JSON, or null for a topology tombstone)")
	case string(v) == "null":
		if rec.Topic != TopicTopology {
			return Record{}, fmt.Errorf("null value on %s: only topology records can be tombstones", rec.Topic)
		}
	case v[0] != '{':
		return Record{}, fmt.Errorf("value on %s must be a JSON object", rec.Topic)
	default:
		rec.Value = slices.Clone(v)
	}
	return rec, nil
}

// strictUnmarshal decodes one JSON object into v and refuses trailing data;
// unknown fields are allowed, so the format can grow.
func strictUnmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("not a JSON object: %w", err)
	}
	if dec.More() {
		return errors.New("more than one JSON value on the line")
	}
	return nil
}

// Write writes f as a scenario file. The records are not re-checked; Read
// them back to validate a file built by hand. Values are written as they are
// (compacted), tombstones as null.
func Write(w io.Writer, f *File) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(f.Header); err != nil {
		return fmt.Errorf("writing the scenario header: %w", err)
	}
	var line bytes.Buffer
	for i, r := range f.Records {
		line.Reset()
		line.WriteString(`{"topic":`)
		writeString(&line, r.Topic)
		line.WriteString(`,"key":`)
		writeString(&line, r.Key)
		line.WriteString(`,"value":`)
		if r.Value == nil {
			line.WriteString("null")
		} else if err := json.Compact(&line, r.Value); err != nil {
			return fmt.Errorf("writing scenario record %d: value: %w", i+1, err)
		}
		line.WriteString("}\n")
		if _, err := bw.Write(line.Bytes()); err != nil {
			return fmt.Errorf("writing scenario record %d: %w", i+1, err)
		}
	}
	return bw.Flush()
}

// writeString writes s as a JSON string without HTML escaping.
func writeString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)       // a Go string always encodes
	b.Truncate(b.Len() - 1) // Encode's newline
}

func clip(s string) string {
	const n = 80
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

package scheduler

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/kgrca/kgplane/clientid"
)

// Registration is the value of a cluster.registry record.
type Registration struct {
	ClientID     string `json:"client_id"`
	ClusterName  string `json:"cluster_name,omitempty"`
	K8sVersion   string `json:"k8s_version,omitempty"`
	RegisteredAt string `json:"registered_at,omitempty"`
	// Metadata is any JSON object the client wants shown with it (node
	// counts, labels, versions...); kept as sent.
	Metadata json.RawMessage `json:"metadata,omitempty"`
}

// Heartbeat is the value of a cluster.heartbeat record. Only ClientID is checked
// against the key; Timestamp is the client's clock and is used for skew reporting only.
type Heartbeat struct {
	ClientID  string `json:"client_id"`
	Timestamp string `json:"timestamp"`
}

// RejectError is a record refused at the door, with a short machine-readable
// reason (the metric label) and a sentence for the log.
type RejectError struct {
	Reason string // e.g. "invalid_client_id", "invalid_json", "key_mismatch"
	Detail string
}

func (e *RejectError) Error() string { return e.Reason + ": " + e.Detail }

func reject(reason, format string, args ...any) error {
	return &RejectError{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// RejectReason returns the metric label of a rejection, or "other".
func RejectReason(err error) string {
	var r *RejectError
	if errors.As(err, &r) {
		return r.Reason
	}
	return "other"
}

// maxValueBytes bounds what a registry or heartbeat value may be; a registration is
// a few hundred bytes, so anything near a megabyte is a mistake or an attack.
const maxValueBytes = 64 << 10

// DecodeRegistration validates a cluster.registry record. A nil value is a
// tombstone: it returns (nil, nil) once the key is valid.
func DecodeRegistration(key, value []byte) (*Registration, error) {
	id := string(key)
	if err := clientid.Validate(id); err != nil {
		return nil, reject("invalid_client_id", "registry key: %v", err)
	}
	if value == nil {
		return nil, nil
	}
	if len(value) == 0 {
		return nil, reject("empty_value", "registration of %s has an empty value (a deregistration is a null value, a tombstone)", id)
	}
	if len(value) > maxValueBytes {
		return nil, reject("too_large", "registration of %s is %d bytes, the limit is %d", id, len(value), maxValueBytes)
	}
	var r Registration
	if err := json.Unmarshal(value, &r); err != nil {
		return nil, reject("invalid_json", "registration of %s: %v", id, err)
	}
	if r.ClientID == "" {
		return nil, reject("missing_client_id", "registration of %s has no client_id field", id)
	}
	if r.ClientID != id {
		return nil, reject("key_mismatch", "registration key %q but payload client_id %.80q", id, r.ClientID)
	}
	switch m := bytes.TrimSpace(r.Metadata); {
	case len(m) == 0 || bytes.Equal(m, []byte("null")):
		r.Metadata = nil
	case m[0] != '{':
		return nil, reject("invalid_metadata", "registration of %s: metadata must be a JSON object, got %.40s", id, m)
	default:
		r.Metadata = json.RawMessage(bytes.Clone(m)) // the record's buffer is not ours to keep
	}
	return &r, nil
}

// DecodeHeartbeat validates a cluster.heartbeat record.
func DecodeHeartbeat(key, value []byte) (*Heartbeat, error) {
	id := string(key)
	if err := clientid.Validate(id); err != nil {
		return nil, reject("invalid_client_id", "heartbeat key: %v", err)
	}
	if len(value) == 0 {
		return nil, reject("empty_value", "heartbeat of %s has no value", id)
	}
	if len(value) > maxValueBytes {
		return nil, reject("too_large", "heartbeat of %s is %d bytes, the limit is %d", id, len(value), maxValueBytes)
	}
	var h Heartbeat
	if err := json.Unmarshal(value, &h); err != nil {
		return nil, reject("invalid_json", "heartbeat of %s: %v", id, err)
	}
	if h.ClientID != "" && h.ClientID != id {
		return nil, reject("key_mismatch", "heartbeat key %q but payload client_id %.80q", id, h.ClientID)
	}
	h.ClientID = id
	return &h, nil
}

// SeenAt is when a heartbeat counts as seen: the record's Kafka timestamp, never
// later than when it was received (client clocks are not trusted, and a producer
// may set CreateTime). A zero Kafka timestamp (pre-0.10 record) counts as received.
func SeenAt(recordTS, received time.Time) time.Time {
	if recordTS.IsZero() || recordTS.After(received) {
		return received
	}
	return recordTS
}

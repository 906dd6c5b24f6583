package kafkaio

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/kgrca/kgplane/clientid"
)

// Key types. Raw keys are "<client>::<type>::<id>" or the client id alone;
// normalized keys are "<client>::<id>" where the id itself starts with "evt-"
// or "log-".
const (
	TypeEvent    = "event"    // raw.k8s.events: <client>::event::<uid>
	TypeLog      = "log"      // raw.k8s.logs: <client>::log::<uid>
	TypeTopology = "topology" // state.k8s.topology: <client>::topology::<kind>/<namespace>/<name>

	// TypeNormalizedEvent and TypeNormalizedLog are the types ParseKey reports for
	// normalized keys; their ID carries the prefix ("evt-…", "log-…"), because that
	// whole string is the event's identity downstream.
	TypeNormalizedEvent = "evt"
	TypeNormalizedLog   = "nlog"

	// TypeClient is the type of a key that is the client id alone
	// ("<client>", ID empty): raw events and logs from producers that key by
	// client id so that a stock murmur2 partitioner (Java, librdkafka with
	// partitioner=murmur2_random, ...) puts them on the client's partition.
	// The normalizers then derive the id from the record itself
	// (docs/workers.md, "Keys").
	TypeClient = "client"
)

// Separator splits a key's parts. Client ids cannot contain it, so the first
// occurrence always ends the client part.
const Separator = "::"

// MaxKeyLen bounds a key. Real keys are far shorter (a Kubernetes uid is 36
// bytes, kind/namespace/name at most ~380); anything longer is garbage or abuse.
const MaxKeyLen = 1024

// Normalized id bounds: "evt-"/"log-" followed by lowercase hex. The normalizers
// emit 16 hex digits; up to 64 is accepted so a longer hash is not a breaking change.
const (
	minNormalizedHex = 16
	maxNormalizedHex = 64
)

// Key is a parsed data-topic key.
type Key struct {
	Client string
	Type   string // one of the Type* constants
	ID     string // raw: the uid or "<kind>/<namespace>/<name>"; normalized: "evt-<hex>" / "log-<hex>"
}

// ErrBadKey is wrapped by every ParseKey error, so callers can tell a bad key
// (dead-letter it) from other failures.
var ErrBadKey = errors.New("bad key")

func badKey(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadKey}, args...)...)
}

// ParseKey parses a raw or normalized data-topic key strictly. A key without
// a separator is a client id alone (TypeClient). It rejects empty parts,
// invalid client ids, unknown types and shapes, control characters, invalid
// UTF-8 and keys longer than MaxKeyLen.
func ParseKey(b []byte) (Key, error) {
	if len(b) == 0 {
		return Key{}, badKey("empty key")
	}
	if len(b) > MaxKeyLen {
		return Key{}, badKey("key is %d bytes, the limit is %d", len(b), MaxKeyLen)
	}
	if !utf8.Valid(b) {
		return Key{}, badKey("key is not valid UTF-8")
	}
	s := string(b)
	for i, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return Key{}, badKey("control character %U at offset %d", r, i)
		}
	}
	client, rest, ok := strings.Cut(s, Separator)
	if !ok {
		if err := clientid.Validate(s); err != nil {
			return Key{}, badKey("%q is neither a client id nor <client>%s<type>%s<id>: %v", clip(s), Separator, Separator, err)
		}
		return Key{Client: s, Type: TypeClient}, nil
	}
	if err := clientid.Validate(client); err != nil {
		return Key{}, badKey("%v", err)
	}
	typ, id, ok := strings.Cut(rest, Separator)
	if !ok {
		// Two parts: a normalized key.
		return parseNormalized(client, rest)
	}
	if id == "" {
		return Key{}, badKey("empty id in %q", clip(s))
	}
	if strings.Contains(id, Separator) {
		return Key{}, badKey("id %q contains %q", clip(id), Separator)
	}
	switch typ {
	case TypeEvent, TypeLog:
		if strings.ContainsAny(id, " /") {
			return Key{}, badKey("%s uid %q contains a space or slash", typ, clip(id))
		}
	case TypeTopology:
		if err := checkResourceID(id); err != nil {
			return Key{}, err
		}
	case "":
		return Key{}, badKey("empty type in %q", clip(s))
	default:
		return Key{}, badKey("unknown key type %q (want %s, %s or %s)", clip(typ), TypeEvent, TypeLog, TypeTopology)
	}
	return Key{Client: client, Type: typ, ID: id}, nil
}

func parseNormalized(client, id string) (Key, error) {
	var typ string
	switch {
	case strings.HasPrefix(id, "evt-"):
		typ = TypeNormalizedEvent
	case strings.HasPrefix(id, "log-"):
		typ = TypeNormalizedLog
	case id == "":
		return Key{}, badKey("empty id after client %q", client)
	default:
		return Key{}, badKey("unknown key shape %q (want <client>::<type>::<id> or <client>::evt-<hex> / <client>::log-<hex>)", clip(client+Separator+id))
	}
	hex := id[4:]
	if len(hex) < minNormalizedHex || len(hex) > maxNormalizedHex {
		return Key{}, badKey("normalized id %q: want %d to %d hex digits after the prefix", clip(id), minNormalizedHex, maxNormalizedHex)
	}
	for i := 0; i < len(hex); i++ {
		if c := hex[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return Key{}, badKey("normalized id %q: %q is not a lowercase hex digit", clip(id), c)
		}
	}
	return Key{Client: client, Type: typ, ID: id}, nil
}

// checkResourceID checks "<kind>/<namespace>/<name>". The namespace may be
// empty (cluster-scoped resources such as Nodes: "Node//node-1").
func checkResourceID(id string) error {
	parts := strings.Split(id, "/")
	if len(parts) != 3 {
		return badKey("topology id %q: want <kind>/<namespace>/<name>", clip(id))
	}
	if parts[0] == "" || parts[2] == "" {
		return badKey("topology id %q: empty kind or name", clip(id))
	}
	if strings.ContainsRune(id, ' ') {
		return badKey("topology id %q contains a space", clip(id))
	}
	return nil
}

// String renders the key in its wire form; ParseKey(k.String()) == k for every
// key ParseKey returned.
func (k Key) String() string {
	switch k.Type {
	case TypeClient:
		return k.Client
	case TypeNormalizedEvent, TypeNormalizedLog:
		return k.Client + Separator + k.ID
	default:
		return k.Client + Separator + k.Type + Separator + k.ID
	}
}

// HasClientPrefix reports whether key starts with "<client>::", allocation-free.
func HasClientPrefix(key []byte, client string) bool {
	return len(key) >= len(client)+len(Separator) &&
		string(key[:len(client)]) == client &&
		string(key[len(client):len(client)+len(Separator)]) == Separator
}

// IsClientKey reports whether key belongs to client: "<client>::..." or the
// client id alone. It is the consumer's per-record test, allocation-free.
func IsClientKey(key []byte, client string) bool {
	return string(key) == client || HasClientPrefix(key, client)
}

// clientPart is the part of a key that names its client: everything before
// the first "::", or the whole key when it has none.
func clientPart(key []byte) []byte {
	if i := bytes.Index(key, []byte(Separator)); i >= 0 {
		return key[:i]
	}
	return key
}

// KeyClient returns the client a key routes to: the client id before the
// first "::", or the whole key when it is a client id alone. Only the client
// part is checked (ParseKey checks the rest where the record is processed);
// the error says why a key names no client, for a dead letter's kg-error.
func KeyClient(key []byte) (string, error) {
	if key == nil {
		return "", badKey("no key: key the record with the client id (<client>, or <client>%s<type>%s<id>)", Separator, Separator)
	}
	client := string(clientPart(key))
	if err := clientid.Validate(client); err != nil {
		return "", badKey("key %q does not name a client: %v", clip(string(key)), err)
	}
	return client, nil
}

// clip keeps error messages short when a key is garbage.
func clip(s string) string {
	const n = 80
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

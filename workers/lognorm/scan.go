package lognorm

import (
	json "github.com/goccy/go-json"

	"github.com/kgrca/kgplane/internal/jsondecode"
)

// Records are decoded by internal/jsondecode (goccy/go-json; why: docs/bench-normalizers.md).

// decodeLog decodes a shipper record (*rawLog, *rawLogParsed); raw must be
// one JSON object.
func decodeLog(raw []byte, in any) error {
	return jsondecode.Object("log record", raw, in)
}

// decodeAppLog decodes a JSON-encoded application log line. Keys match
// case-insensitively, as encoding/json's do: loggers disagree on "level"
// vs "Level".
func decodeAppLog(line []byte, a *appLog) error {
	return json.Unmarshal(line, a)
}

// decodeString decodes a JSON string value.
func decodeString(raw []byte, s *string) error {
	return json.Unmarshal(raw, s)
}

// jsonKind is jsondecode.Kind.
func jsonKind(raw []byte) string { return jsondecode.Kind(raw) }

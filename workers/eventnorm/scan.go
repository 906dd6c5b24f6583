package eventnorm

import "github.com/kgrca/kgplane/internal/jsondecode"

// Records are decoded by internal/jsondecode (goccy/go-json; why: docs/bench-normalizers.md).

// decodeEvent decodes raw, which must be one JSON object, into ev.
func decodeEvent(raw []byte, ev *rawEvent) error {
	return jsondecode.Object("event", raw, ev)
}

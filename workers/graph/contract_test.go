package graph

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kgrca/kgplane/workers/kafkaio"
)

// The builder decodes everything the normalizers produce: their golden outputs
// (workers/eventnorm and workers/lognorm testdata) are fed to the decoder.
func TestDecodesTheNormalizersGoldenOutputs(t *testing.T) {
	for _, c := range []struct {
		glob, topic, idField string
	}{
		{"../eventnorm/testdata/events/*.golden", kafkaio.TopicEventsNormalized, "event_id"},
		{"../lognorm/testdata/logs/*.golden", kafkaio.TopicLogsNormalized, "log_id"},
	} {
		files, err := filepath.Glob(c.glob)
		if err != nil {
			t.Fatal(err)
		}
		decoded, lowSignal := 0, 0
		signals := map[string]int{}
		for _, f := range files {
			if strings.HasPrefix(filepath.Base(f), "bad-") {
				continue
			}
			v, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var ids map[string]any
			if json.Unmarshal(v, &ids) != nil {
				continue // a golden error message, not an output
			}
			id, _ := ids[c.idField].(string)
			d, err := decode("acme", DefaultTopics(), kafkaio.Record{Topic: c.topic, Key: []byte("acme::" + id), Value: v})
			switch {
			case errors.Is(err, errLowSignal):
				lowSignal++
			case err != nil:
				t.Errorf("%s: %v", filepath.Base(f), err)
			default:
				decoded++
				signals[d.event.Signal]++
			}
		}
		if decoded == 0 {
			t.Fatalf("no golden output of %s decoded (is the glob right?)", c.glob)
		}
		t.Logf("%s: %d decoded, %d low-signal logs; signals %v", c.glob, decoded, lowSignal, signals)
	}
}

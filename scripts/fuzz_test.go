// Package scripts holds tests of the project's shell scripts.
package scripts

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestFuzzClassifiesGoCoordinatorRace: only Go's fuzztime race (golang/go#75804)
// is rerun; a failing input or a hang must fail make test.
func TestFuzzClassifiesGoCoordinatorRace(t *testing.T) {
	for _, tc := range []struct {
		name, log, want string
	}{
		{"coordinator race", "fuzz: elapsed: 10s, execs: 74170 (6768/sec), new interesting: 0 (total: 55)\n--- FAIL: FuzzInterpolate (10.11s)\n    context deadline exceeded\nFAIL\n", "race"},
		{"failing input", "--- FAIL: FuzzParse (0.20s)\n    --- FAIL: FuzzParse (0.00s)\n        parse_test.go:12: boom\n\n    Failing input written to testdata/fuzz/FuzzParse/582528ddfad69eb5\n", "failure"},
		{"input that hit a deadline of its own", "--- FAIL: FuzzDial (3.00s)\n    --- FAIL: FuzzDial (3.00s)\n        dial_test.go:9: context deadline exceeded\n\n    Failing input written to testdata/fuzz/FuzzDial/0d1e\n", "failure"},
		{"hung worker", "--- FAIL: FuzzLoop (12.00s)\n    fuzzing process hung or terminated unexpectedly: exit status 2\n    Failing input written to testdata/fuzz/FuzzLoop/77aa\n", "failure"},
		{"compile error", "# github.com/x/y\n./y_test.go:3:1: syntax error\nFAIL\tgithub.com/x/y [build failed]\n", "failure"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := filepath.Join(t.TempDir(), "fuzz.log")
			if err := os.WriteFile(log, []byte(tc.log), 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("bash", "fuzz.sh", "--classify", log).CombinedOutput()
			if err != nil {
				t.Fatalf("fuzz.sh --classify: %v\n%s", err, out)
			}
			if got := strings.TrimSpace(string(out)); got != tc.want {
				t.Errorf("classified as %q, want %q", got, tc.want)
			}
		})
	}
}

package statusevents

import (
	"encoding/json"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kgrca/kgplane/workers/eventnorm"
)

// FuzzEvents: whatever a container leaves in its status (its termination
// message is arbitrary program output), the event built from it encodes,
// the normalizer accepts it, and the same status always gives the same uid.
func FuzzEvents(f *testing.F) {
	f.Add("OOMKilled", int32(137), "containerd://a", "memory", int32(3), int64(1764496800))
	f.Add("", int32(1), "", "panic: boom\n\xff\xfe", int32(0), int64(0))
	f.Add("Error", int32(-1), "x", string(make([]byte, 1100)), int32(1<<30), int64(-5))
	f.Fuzz(func(t *testing.T, reason string, exit int32, id, msg string, restarts int32, finished int64) {
		p := pod(restarts, &corev1.ContainerStateTerminated{Reason: reason, ExitCode: exit, ContainerID: id, Message: msg,
			FinishedAt: metav1.NewTime(time.Unix(finished, 0))}, nil)
		a := Events(nil, p, t0)
		b := Events(nil, p.DeepCopy(), t0.Add(time.Hour))
		if len(a) != len(b) {
			t.Fatalf("%d then %d events for one status", len(a), len(b))
		}
		for i, e := range a {
			if e.UID != b[i].UID {
				t.Fatalf("uid %s then %s for one termination", e.UID, b[i].UID)
			}
			raw, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := eventnorm.NormalizeEvent(string(e.UID), raw); err != nil && e.Reason != "" {
				t.Fatalf("the normalizer refuses %s: %v", raw, err)
			}
		}
	})
}

package embedded

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/kgrca/kgplane/internal/testutil"
	"github.com/kgrca/kgplane/nomad"
)

// ephemeralRange is the kernel's range for the local ports of outgoing
// connections.
func ephemeralRange(t *testing.T) (int, int) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		t.Skipf("no ephemeral port range to compare with: %v", err)
	}
	f := strings.Fields(string(b))
	lo, _ := strconv.Atoi(f[0])
	hi, _ := strconv.Atoi(f[1])
	return lo, hi
}

// Found by the soak: dynamic ports were picked with ":0", from the kernel's
// ephemeral range, and released until the task bound them; 150 workers
// starting at once opened connections that took some of those ports, and the
// tasks failed on every restart with "address already in use". A task's
// dynamic port now comes from Nomad's range, below the ephemeral one.
func TestDynamicPortsAvoidTheEphemeralRange(t *testing.T) {
	lo, hi := ephemeralRange(t)
	f := newFixture(t, Config{HostEnv: []string{"PATH=/usr/bin:/bin"}}, "")
	res := f.submit(t, "port-a", nil)
	var pid int
	testutil.Eventually(t, waitLong, "the task to run", func() bool { pid = f.runningPID(res.JobID); return pid > 0 })
	port, err := strconv.Atoi(f.envOf(pid)["NOMAD_PORT_metrics"])
	if err != nil {
		t.Fatal(err)
	}
	if port < minDynamicPort || port > maxDynamicPort || (port >= lo && port <= hi) {
		t.Fatalf("dynamic port %d: want it in %d-%d, outside the ephemeral range %d-%d", port, minDynamicPort, maxDynamicPort, lo, hi)
	}
}

func TestPortPool(t *testing.T) {
	busy := map[int]bool{}
	p := newPortPool()
	p.listen = func(port int) error {
		if busy[port] {
			return errors.New("in use")
		}
		return nil
	}
	labels := []nomad.Port{{Label: "a"}, {Label: "b"}, {Label: "static", Static: 9999}}
	seen := map[int]bool{}
	var held []map[string]int
	for range 200 {
		got, err := p.take(labels)
		if err != nil {
			t.Fatal(err)
		}
		if got["static"] != 9999 {
			t.Fatalf("static port %d", got["static"])
		}
		for _, l := range []string{"a", "b"} {
			port := got[l]
			if port < minDynamicPort || port > maxDynamicPort {
				t.Fatalf("port %d outside %d-%d", port, minDynamicPort, maxDynamicPort)
			}
			if seen[port] {
				t.Fatalf("port %d handed out twice while held", port)
			}
			seen[port] = true
		}
		held = append(held, got)
	}
	for _, h := range held {
		p.release(h)
	}
	if len(p.used) != 0 {
		t.Fatalf("%d ports still held after release", len(p.used))
	}
	// Ports another process listens on are skipped; with none left, take says so.
	for port := minDynamicPort; port <= maxDynamicPort; port++ {
		busy[port] = port != minDynamicPort+7
	}
	got, err := p.take([]nomad.Port{{Label: "a"}})
	if err != nil || got["a"] != minDynamicPort+7 {
		t.Fatalf("took %v, %v; want the one free port", got, err)
	}
	if _, err := p.take([]nomad.Port{{Label: "b"}}); err == nil || !strings.Contains(err.Error(), "no free port") {
		t.Fatalf("took a port with none free: %v", err)
	}
}

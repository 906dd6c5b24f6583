package embedded

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"

	"github.com/kgrca/kgplane/nomad"
)

// Dynamic ports come from Nomad's client defaults (min_dynamic_port,
// max_dynamic_port). The range lies below Linux's ephemeral range
// (32768–60999 by default), where the kernel picks the local port of every
// outgoing connection: a port picked there (":0") and released until the
// task binds it can be taken meanwhile by any process's connection — a
// worker's own Kafka connections, with 150 workers starting at once — and
// the task then fails on every restart with "address already in use" (found
// by the soak, docs/reliability.md).
const (
	minDynamicPort = 20000
	maxDynamicPort = 32000
)

// portPool hands out dynamic ports: never one a live allocation of this
// backend holds, never one another process listens on when it is picked.
type portPool struct {
	mu   sync.Mutex
	used map[int]bool
	// listen checks that nothing listens on a port (net.Listen in
	// production; tests replace it).
	listen func(port int) error
}

func newPortPool() *portPool {
	return &portPool{used: map[int]bool{}, listen: func(port int) error {
		l, err := net.Listen("tcp", ":"+strconv.Itoa(port))
		if err != nil {
			return err
		}
		return l.Close()
	}}
}

// take returns a port for every port label: static ones as written, dynamic
// ones from the range, each one held until release.
func (p *portPool) take(ports []nomad.Port) (map[string]int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int, len(ports))
	var mine []int
	for _, port := range ports {
		if port.Static > 0 {
			out[port.Label] = port.Static
			continue
		}
		n := maxDynamicPort - minDynamicPort + 1
		start := rand.IntN(n)
		found := 0
		for i := range n {
			cand := minDynamicPort + (start+i)%n
			if p.used[cand] || p.listen(cand) != nil {
				continue
			}
			found = cand
			break
		}
		if found == 0 {
			for _, m := range mine {
				delete(p.used, m)
			}
			return nil, fmt.Errorf("no free port for %q in %d-%d", port.Label, minDynamicPort, maxDynamicPort)
		}
		p.used[found] = true
		mine = append(mine, found)
		out[port.Label] = found
	}
	return out, nil
}

// release gives an allocation's dynamic ports back.
func (p *portPool) release(ports map[string]int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, port := range ports {
		if port >= minDynamicPort && port <= maxDynamicPort {
			delete(p.used, port)
		}
	}
}

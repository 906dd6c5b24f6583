package soak

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// Fault kinds.
const (
	faultWorkerKill     = "worker-kill"
	faultLeaderKill     = "leader-kill"
	faultKafkaOutage    = "kafka-outage"
	faultNeo4jOutage    = "neo4j-outage"
	faultHeartbeatPause = "heartbeat-pause"
)

// fault is one scheduled fault, at an offset from the start of the load.
type fault struct {
	At   time.Duration
	Kind string
}

// schedule places the faults in the load's duration, deterministically from
// the seed. The large faults get their own slots so that each one's effect
// can be told apart: a heartbeat pause first, a Kafka outage at 30 %, a
// Neo4j outage at 50 %, leader kills around them; worker kills land at
// random between 5 % and 85 %. The last 15 % are fault-free: the run ends
// with the pipeline recovering under load, and the drain checks it did.
func schedule(cfg Config) []fault {
	d := cfg.Duration
	at := func(f float64) time.Duration { return time.Duration(f * float64(d)) }
	var out []fault
	if cfg.HeartbeatPause {
		out = append(out, fault{at(0.03), faultHeartbeatPause})
	}
	if cfg.KafkaOutage > 0 {
		out = append(out, fault{at(0.30), faultKafkaOutage})
	}
	if cfg.Neo4jOutage > 0 {
		out = append(out, fault{at(0.50), faultNeo4jOutage})
	}
	slots := []float64{0.66, 0.18, 0.40, 0.78, 0.10}
	for i := range min(cfg.LeaderKills, len(slots)) {
		out = append(out, fault{at(slots[i]), faultLeaderKill})
	}
	rnd := rand.New(rand.NewPCG(uint64(cfg.Seed), 0xfa017))
	for range cfg.WorkerKills {
		out = append(out, fault{at(0.05 + 0.80*rnd.Float64()), faultWorkerKill})
	}
	slices.SortStableFunc(out, func(a, b fault) int { return int(a.At - b.At) })
	return out
}

// faultLog is what happened to one fault.
type faultLog struct {
	fault
	Start    time.Time
	Duration time.Duration // how long the fault itself lasted (outages, pauses)
	Detail   string        // what was done
	Outcome  string        // how the system took it
	Failed   string        // non-empty: the system did not take it (a finding)
}

func (f faultLog) String() string {
	s := fmt.Sprintf("%7s %-15s %s", fmtOffset(f.At), f.Kind, f.Detail)
	if f.Outcome != "" {
		s += "; " + f.Outcome
	}
	if f.Failed != "" {
		s += "; FAILED: " + f.Failed
	}
	return s
}

func fmtOffset(d time.Duration) string {
	d = d.Round(time.Second)
	return fmt.Sprintf("%d:%02d", int(d.Minutes()), int(d.Seconds())%60)
}

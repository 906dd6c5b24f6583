// Package soak runs the whole kgplane system — control planes, their
// workers, a real Kafka broker and a real Neo4j, simulated client clusters —
// under load and a schedule of faults, then checks from the sources of truth
// that nothing was lost and nothing leaked: every record a client got
// acknowledged is in its graph, the graph is the one a fault-free run of the
// same records builds, no record is in another client's graph, no node or
// edge is duplicated, every poison record is dead-lettered, no worker
// crash-loops. `make soak` (cmd/kg-soak) runs the full version; the short one
// runs in `make test` (soak_test.go). docs/reliability.md has the results.
//
// The soak starts a private Kafka and Neo4j (scripts/kafka.sh and
// scripts/neo4j.sh on their own ports and run folder): it stops and restarts
// them, which the shared services other tests use must never see.
package soak

import (
	"errors"
	"fmt"
	"time"
)

// Config is one soak run.
type Config struct {
	// Duration of the load with its faults; startup, drain and checks come on top.
	Duration time.Duration
	// Clients is the number of simulated client clusters.
	Clients int
	// Rate is the total records per second all clients publish (events, logs
	// and topology, as the simulator mixes them).
	Rate float64
	// Planes is the number of control planes (one leads).
	Planes int
	// Partitions of every data topic (default 2 × Clients, at least 8).
	Partitions int
	// Backend is "embedded" or "nomad" (needs NomadBin).
	Backend  string
	NomadBin string
	// Seed decides the clients' scenarios, the poison records and the fault times.
	Seed int64

	// Faults.
	WorkerKills     int           // SIGKILLs of a random client's worker
	LeaderKills     int           // SIGKILLs of the leading plane, each followed by a restart
	KafkaOutage     time.Duration // the broker stopped this long once (0: never)
	Neo4jOutage     time.Duration // Neo4j stopped this long once (0: never)
	HeartbeatPause  bool          // one client stops heartbeating for 2.5 thresholds and comes back
	PoisonRate      float64       // poison records per second, every kind in every input topic
	StaleThreshold  time.Duration // the planes' STALE_CLIENT_THRESHOLD
	HeartbeatEvery  time.Duration // the clients' heartbeat interval
	DrainTimeout    time.Duration // how long the pipeline may take to catch up after the load
	RestartDelay    time.Duration // a killed plane is started again after this
	PlaneReadyAfter time.Duration // how long a plane may take to be ready

	// Where things are.
	Root   string // the repository (scripts/, jobspecs/)
	BinDir string // kg-control-plane and kg-worker
	Services
	// Keep leaves the private services and their data in place at the end.
	Keep bool
}

// Full is `make soak`: ten minutes, 50 clients, every fault of the issue.
func Full() Config {
	return Config{
		Duration: 10 * time.Minute, Clients: 50, Rate: 100, Planes: 3, Backend: "embedded", Seed: 1,
		WorkerKills: 20, LeaderKills: 3, KafkaOutage: 45 * time.Second, Neo4jOutage: 30 * time.Second,
		HeartbeatPause: true, PoisonRate: 2,
		StaleThreshold: 30 * time.Second, HeartbeatEvery: 5 * time.Second,
		DrainTimeout: 10 * time.Minute, RestartDelay: 5 * time.Second, PlaneReadyAfter: 3 * time.Minute,
		Services: Services{KafkaPort: DefaultKafkaPort, Neo4jBoltPort: DefaultNeo4jBoltPort, Neo4jHTTPPort: DefaultNeo4jHTTPPort},
	}
}

// Short is the version `make test` runs: a few clients, a few faults,
// 45 s of load, under 3 minutes in all.
func Short() Config {
	c := Full()
	// 45 s of load at 30 records/s: every fault still lands in it (the
	// heartbeat pause of 2.5 thresholds ends by 0:40) and, with the start,
	// drain and checks, the test stays under 3 minutes on a loaded 2-core
	// machine (60 s at 40/s took 3m16s at load average 6-9).
	c.Duration = 45 * time.Second
	c.Clients = 4
	c.Rate = 30
	c.Planes = 2
	c.WorkerKills = 3
	c.LeaderKills = 1
	c.KafkaOutage = 0
	c.Neo4jOutage = 0
	c.PoisonRate = 4
	c.StaleThreshold = 15 * time.Second
	c.HeartbeatEvery = 3 * time.Second
	c.DrainTimeout = 4 * time.Minute
	return c
}

// Validate says what is wrong with c.
func (c *Config) Validate() error {
	var errs []error
	if c.Duration < 30*time.Second {
		errs = append(errs, fmt.Errorf("duration %s: want at least 30s (SOAK_MINUTES)", c.Duration))
	}
	if c.Clients < 1 || c.Clients > 999 {
		errs = append(errs, fmt.Errorf("clients %d: want 1..999 (SOAK_CLIENTS)", c.Clients))
	}
	if c.Rate <= 0 {
		errs = append(errs, fmt.Errorf("rate %v: want > 0 records/s (SOAK_RATE)", c.Rate))
	}
	if c.Planes < 1 || c.Planes > 5 {
		errs = append(errs, fmt.Errorf("planes %d: want 1..5 (SOAK_PLANES)", c.Planes))
	}
	if c.LeaderKills > 0 && c.Planes < 2 {
		errs = append(errs, errors.New("leader kills need at least 2 planes (SOAK_PLANES)"))
	}
	if c.HeartbeatPause && c.Clients < 2 {
		errs = append(errs, errors.New("the heartbeat pause needs at least 2 clients: a lone silent client is taken for a disruption"))
	}
	switch c.Backend {
	case "embedded":
	case "nomad":
		if c.NomadBin == "" {
			errs = append(errs, errors.New("SOAK_BACKEND=nomad needs nomad on PATH"))
		}
	default:
		errs = append(errs, fmt.Errorf("backend %q: want embedded or nomad (SOAK_BACKEND)", c.Backend))
	}
	if c.Partitions == 0 {
		c.Partitions = max(8, 2*c.Clients)
	}
	if c.StaleThreshold < 6*time.Second || c.HeartbeatEvery <= 0 || c.HeartbeatEvery*2 > c.StaleThreshold {
		errs = append(errs, fmt.Errorf("stale threshold %s and heartbeat interval %s: want a threshold of 6s or more, at least two heartbeats long", c.StaleThreshold, c.HeartbeatEvery))
	}
	if c.Root == "" || c.BinDir == "" {
		errs = append(errs, errors.New("the repository root and the binaries' folder must be set"))
	}
	return errors.Join(errs...)
}

// clientID names simulated client i; refID its fault-free reference.
func clientID(i int) string      { return fmt.Sprintf("soak-%03d", i+1) }
func refID(client string) string { return "ref-" + client }

package soak

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Ports of the soak's private Kafka and Neo4j. The soak stops and restarts
// them, so it never uses the shared services (9092, 7687) other tests rely on.
const (
	DefaultKafkaPort      = 18092 // the controller listens on +1
	DefaultNeo4jBoltPort  = 18687
	DefaultNeo4jHTTPPort  = 18474
	serviceCommandTimeout = 5 * time.Minute
)

// Services are the private Kafka broker and Neo4j server, run by the
// project's scripts/kafka.sh and scripts/neo4j.sh with the soak's ports and
// a run folder of its own (their data), reusing the jars in KG_CACHE_DIR.
type Services struct {
	Root                                    string // the repository: scripts/ is found there
	CacheDir                                string // KG_CACHE_DIR: the downloaded jars
	RunDir                                  string // KG_RUN_DIR: the services' data and logs
	KafkaPort, Neo4jBoltPort, Neo4jHTTPPort int

	lock *os.File
}

// setDefaults roots the services in the repository root: the jars in its
// .cache, the data and logs in .cache/soak, unless set.
func (s *Services) setDefaults(root string) {
	s.Root = root
	if s.RunDir == "" {
		s.RunDir = filepath.Join(root, ".cache", "soak")
	}
	if s.CacheDir == "" {
		s.CacheDir = filepath.Join(root, ".cache")
	}
}

// Brokers is the private broker's address list.
func (s *Services) Brokers() []string { return []string{fmt.Sprintf("127.0.0.1:%d", s.KafkaPort)} }

// Neo4jURI is the private Neo4j's Bolt URI.
func (s *Services) Neo4jURI() string { return fmt.Sprintf("bolt://127.0.0.1:%d", s.Neo4jBoltPort) }

// Lock takes the private ports' lock (in the system's temporary folder,
// whatever the run folder), so two soaks — the short test in `make test`
// and a `make soak` — never share the private ports: the second waits.
func (s *Services) Lock(ctx context.Context, progress func(string, ...any)) error {
	if err := os.MkdirAll(s.RunDir, 0o755); err != nil {
		return fmt.Errorf("creating the run folder: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(os.TempDir(), fmt.Sprintf("kg-soak-%d.lock", s.KafkaPort)), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("opening the soak lock: %w", err)
	}
	said := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			s.lock = f
			return nil
		}
		if err != syscall.EWOULDBLOCK {
			f.Close()
			return fmt.Errorf("locking %s: %w", f.Name(), err)
		}
		if !said {
			progress("another soak holds the private ports (%s); waiting for it to finish", f.Name())
			said = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

// Unlock releases Lock.
func (s *Services) Unlock() {
	if s.lock != nil {
		syscall.Flock(int(s.lock.Fd()), syscall.LOCK_UN)
		s.lock.Close()
		s.lock = nil
	}
}

func (s *Services) env() []string {
	return append(os.Environ(),
		"KG_CACHE_DIR="+s.CacheDir, "KG_RUN_DIR="+s.RunDir,
		"KAFKA_PORT="+strconv.Itoa(s.KafkaPort), "KAFKA_CONTROLLER_PORT="+strconv.Itoa(s.KafkaPort+1),
		// No authenticated listeners on this broker, whatever the caller's environment says.
		"KAFKA_SASL_PORT=", "KAFKA_TLS_PORT=", "KAFKA_HEAP=768m",
		"NEO4J_BOLT_PORT="+strconv.Itoa(s.Neo4jBoltPort), "NEO4J_HTTP_PORT="+strconv.Itoa(s.Neo4jHTTPPort),
		"NEO4J_HEAP=768m", "NEO4J_PAGECACHE=256m")
}

// script runs scripts/<name>.sh verb.
func (s *Services) script(ctx context.Context, name, verb string) error {
	ctx, cancel := context.WithTimeout(ctx, serviceCommandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(s.Root, "scripts", name+".sh"), verb)
	cmd.Env = s.env()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("scripts/%s.sh %s (private, %s): %w\n%s", name, verb, s.RunDir, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// StartKafka starts the private broker (formatting it on first use) and
// waits until it answers.
func (s *Services) StartKafka(ctx context.Context) error { return s.script(ctx, "kafka", "start") }

// StopKafka stops the broker with SIGTERM (its data kept).
func (s *Services) StopKafka(ctx context.Context) error { return s.script(ctx, "kafka", "stop") }

// StartNeo4j starts the private Neo4j and waits until Bolt answers.
func (s *Services) StartNeo4j(ctx context.Context) error { return s.script(ctx, "neo4j", "start") }

// StartBoth starts Kafka and Neo4j side by side (each takes seconds to
// answer) and reports both failures when both fail.
func (s *Services) StartBoth(ctx context.Context) error {
	var wg sync.WaitGroup
	var kerr, nerr error
	wg.Add(2)
	go func() { defer wg.Done(); kerr = s.StartKafka(ctx) }()
	go func() { defer wg.Done(); nerr = s.StartNeo4j(ctx) }()
	wg.Wait()
	return errors.Join(kerr, nerr)
}

// StopNeo4j stops Neo4j with SIGTERM (its data kept).
func (s *Services) StopNeo4j(ctx context.Context) error { return s.script(ctx, "neo4j", "stop") }

// Clean stops both and deletes their data; errors are joined, both are tried.
func (s *Services) Clean(ctx context.Context) error {
	e1 := s.script(ctx, "kafka", "clean")
	e2 := s.script(ctx, "neo4j", "clean")
	if e1 != nil {
		return e1
	}
	return e2
}

// CheckPortsFree fails when something else already listens on a private
// port: a leftover of a killed soak (run `make soak-clean`) or another
// program, whose data the soak must not touch.
func (s *Services) CheckPortsFree() error {
	for _, p := range []int{s.KafkaPort, s.KafkaPort + 1, s.Neo4jBoltPort, s.Neo4jHTTPPort} {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", p), time.Second)
		if err == nil {
			c.Close()
			return fmt.Errorf("127.0.0.1:%d is already in use: a soak killed before it could clean up (run `make soak-clean`), or another program; set SOAK_KAFKA_PORT / SOAK_NEO4J_BOLT_PORT / SOAK_NEO4J_HTTP_PORT to free ports", p)
		}
	}
	return nil
}

// pidOf reads a service's pid file (kafka-<port>/kafka.pid, neo4j-<port>/neo4j.pid).
func (s *Services) pidOf(name string) int {
	port := s.KafkaPort
	if name == "neo4j" {
		port = s.Neo4jBoltPort
	}
	b, err := os.ReadFile(filepath.Join(s.RunDir, fmt.Sprintf("%s-%d", name, port), name+".pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

package testinfra

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// PrivateKafka is a Kafka broker of the test's own, started with
// scripts/kafka.sh on the ports of KG_PRIVATE_KAFKA_PORT (default 19092; the
// controller on +1, and with StartSecurePrivateKafka a SASL_PLAINTEXT listener
// on +2 and a SASL_SSL listener on +3), for tests that stop, pause or
// reconfigure a broker: the shared one on 9092 serves every other test and is
// never touched.
type PrivateKafka struct {
	Brokers []string // the PLAINTEXT listener
	// The authenticated listeners, with StartSecurePrivateKafka only.
	SASLAddr string // SASL_PLAINTEXT: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
	TLSAddr  string // SASL_SSL, certificate from the CA in TLSDir/ca.pem
	TLSDir   string // ca.pem, client.pem, client-key.pem
	// User and Password are the SASL credentials the broker accepts.
	User, Password string

	t      testing.TB
	script string
	env    []string
	runDir string
}

// StartPrivateKafka starts the private broker with its PLAINTEXT listener
// only (clean, formatted anew) and cleans it away when the test ends. Tests
// of several packages may want it at once (go test runs packages in
// parallel): a lock file serialises them, so a second test waits until the
// first has cleaned up.
func StartPrivateKafka(t testing.TB) *PrivateKafka {
	t.Helper()
	return startPrivateKafka(t, false)
}

// StartSecurePrivateKafka is StartPrivateKafka with the SASL_PLAINTEXT and
// SASL_SSL listeners too. Making the TLS certificates takes a dozen keytool
// runs (a minute or more on a busy machine): only the security tests want it.
func StartSecurePrivateKafka(t testing.TB) *PrivateKafka {
	t.Helper()
	return startPrivateKafka(t, true)
}

func startPrivateKafka(t testing.TB, secure bool) *PrivateKafka {
	t.Helper()
	KafkaBrokers(t) // the services (and the Kafka jars) are expected: skip or fail like the rest
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	port := 19092
	if v := os.Getenv("KG_PRIVATE_KAFKA_PORT"); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("KG_PRIVATE_KAFKA_PORT=%q: want a port number", v)
		}
		port = p
	}
	cache := env("KG_CACHE_DIR", filepath.Join(root, ".cache"))
	runDir := env("KG_RUN_DIR", filepath.Join(cache, "run"))
	k := &PrivateKafka{
		Brokers:  []string{fmt.Sprintf("127.0.0.1:%d", port)},
		SASLAddr: fmt.Sprintf("127.0.0.1:%d", port+2),
		TLSAddr:  fmt.Sprintf("127.0.0.1:%d", port+3),
		TLSDir:   filepath.Join(runDir, fmt.Sprintf("kafka-%d", port), "tls"),
		User:     "kgplane", Password: "kgplane-secret",
		t:      t,
		script: filepath.Join(root, "scripts", "kafka.sh"),
		runDir: runDir,
		env: append(os.Environ(),
			"KG_CACHE_DIR="+cache, "KG_RUN_DIR="+runDir,
			fmt.Sprintf("KAFKA_PORT=%d", port), fmt.Sprintf("KAFKA_CONTROLLER_PORT=%d", port+1),
			"KAFKA_SASL_USERS=kgplane:kgplane-secret", "KAFKA_HEAP=512m"),
	}
	if secure {
		k.env = append(k.env, fmt.Sprintf("KAFKA_SASL_PORT=%d", port+2), fmt.Sprintf("KAFKA_TLS_PORT=%d", port+3))
	} else {
		// The variables may come from the environment: this broker has none.
		k.env = append(k.env, "KAFKA_SASL_PORT=", "KAFKA_TLS_PORT=")
		k.SASLAddr, k.TLSAddr, k.TLSDir = "", "", ""
	}
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		t.Fatal(err)
	}
	lock, err := os.OpenFile(filepath.Join(runDir, fmt.Sprintf("private-kafka-%d.lock", port)), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatalf("locking the private Kafka: %v", err)
	}
	t.Cleanup(func() {
		k.do("clean")
		syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
		lock.Close()
	})
	k.do("clean") // a broker left over by a killed test run
	k.Start()
	return k
}

// Start starts the broker again after Stop (its data kept).
func (k *PrivateKafka) Start() { k.t.Helper(); k.do("start") }

// Stop stops the broker (SIGTERM, its data kept).
func (k *PrivateKafka) Stop() { k.t.Helper(); k.do("stop") }

// Signal sends sig to the broker process (SIGSTOP pauses it, SIGCONT resumes it).
func (k *PrivateKafka) Signal(sig syscall.Signal) {
	k.t.Helper()
	port := strings.TrimPrefix(k.Brokers[0], "127.0.0.1:")
	b, err := os.ReadFile(filepath.Join(k.runDir, "kafka-"+port, "kafka.pid"))
	if err != nil {
		k.t.Fatalf("reading the private Kafka's pid: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		k.t.Fatalf("private Kafka pid file: %v", err)
	}
	if err := syscall.Kill(pid, sig); err != nil {
		k.t.Fatalf("signalling the private Kafka (%d): %v", pid, err)
	}
}

func (k *PrivateKafka) do(verb string) {
	k.t.Helper()
	cmd := exec.Command(k.script, verb)
	cmd.Env = k.env
	if out, err := cmd.CombinedOutput(); err != nil {
		k.t.Fatalf("scripts/kafka.sh %s (private broker): %v\n%s", verb, err, out)
	}
}

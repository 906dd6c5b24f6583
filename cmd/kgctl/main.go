// Command kgctl is the kgplane operator CLI: validate and render job templates,
// list clients and their jobs, create topics, and publish registry and heartbeat
// records by hand. Run `kgctl help` for the commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const topUsage = `kgctl: operate a kgplane control plane.

Usage:
  kgctl <command> [flags]

Templates:
  validate     check jobspecs/*.nomad.hcl and the operator var-file (file:line:col on errors)
  render       print the HCL and variables the control plane would submit for a client

Clients:
  clients      list clients, their phase, last heartbeat and Nomad jobs (from /v1/clients)
  register     publish a registration to cluster.registry
  heartbeat    publish heartbeats to cluster.heartbeat (once, or every --every, riding out Kafka outages)
  deregister   publish a tombstone to cluster.registry: the client's jobs are purged

Kafka:
  topics ensure   create the contract's topics and the planes' election topic that are missing (idempotent)

Run 'kgctl <command> --help' for a command's flags. Settings come from the same
environment variables as kg-control-plane: KAFKA_BROKERS, KAFKA_SASL_* and
KAFKA_TLS* (Kafka security), KG_REGISTRY_TOPIC, KG_HEARTBEAT_TOPIC, JOBSPECS_DIR,
JOBSPEC_VARS_FILE, KG_HTTP_ADDR, KG_DATA_PARTITIONS.

Examples:
  kgctl validate
  kgctl render --client af-9
  kgctl register --client af-9 --cluster-name production-us-east --k8s-version 1.30
  kgctl heartbeat --client af-9 --every 30s
  kgctl clients
  kgctl deregister --client af-9
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "kgctl:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, topUsage)
		return nil
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "validate":
		return cmdValidate(rest, stdout, stderr)
	case "render":
		return cmdRender(rest, stdout, stderr)
	case "clients":
		return cmdClients(ctx, rest, stdout, stderr)
	case "register":
		return cmdRegister(ctx, rest, stdout, stderr)
	case "heartbeat":
		return cmdHeartbeat(ctx, rest, stdout, stderr)
	case "deregister":
		return cmdDeregister(ctx, rest, stdout, stderr)
	case "topics":
		if len(rest) == 0 || rest[0] != "ensure" {
			return errors.New("usage: kgctl topics ensure [--partitions N]")
		}
		return cmdTopicsEnsure(ctx, rest[1:], stdout, stderr)
	}
	return fmt.Errorf("unknown command %q; run 'kgctl help' for the list", cmd)
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func newFlags(name, summary string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("kgctl "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "kgctl %s: %s\n\nFlags:\n", name, summary)
		fs.PrintDefaults()
	}
	return fs
}

// Command kg-agent is the client side of kgplane: it registers a client
// cluster with the control plane, heartbeats, and publishes the cluster's
// Kubernetes events and topology (kg-agent run), a simulated fault scenario
// (kg-agent simulate) or a recorded scenario file (kg-agent replay).
// Run `kg-agent help` for the commands.
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

const topUsage = `kg-agent: the client side of kgplane.

It registers a client (a Kubernetes cluster) on cluster.registry, heartbeats
every 30 s on cluster.heartbeat, and publishes the client's records to
raw.k8s.events, raw.k8s.logs and state.k8s.topology, every record on the
client's partition with the key <client>::<type>::<id>. The control plane
starts the client's normalizers and graph builder when it registers and stops
them when its heartbeats stop (2 min) or it deregisters.

Usage:
  kg-agent <command> [flags]

Commands:
  run          watch a real cluster (client-go informers) and publish its events and topology
  simulate     generate a realistic fault scenario: publish it live, or write a scenario file
  replay       publish a scenario file in order (checked whole first: a bad file publishes nothing)
  deregister   publish the client's tombstone: the control plane purges its jobs at once

What it does not do: ship container logs. Logs come from the cluster's log
shipper (Vector kubernetes_logs or Fluent Bit with the kubernetes filter)
straight to raw.k8s.logs; docs/normalization.md shows both configurations.
Simulated and replayed scenarios carry logs of their own.

Run 'kg-agent <command> --help' for a command's flags. Settings by
environment: KAFKA_BROKERS (default 127.0.0.1:9092, or 127.0.0.1:$KAFKA_PORT),
KUBECONFIG, KG_REGISTRY_TOPIC, KG_HEARTBEAT_TOPIC, KG_EVENTS_TOPIC, KG_LOGS_TOPIC,
KG_TOPOLOGY_TOPIC (the topic flags exist for tests and renamed deployments).

Examples:
  kg-agent run --client af-9 --cluster-name prod-eu --kubeconfig ~/.kube/config
  kg-agent simulate --list
  kg-agent simulate --client demo-1 --scenario oom-kill-loop --rate 20
  kg-agent simulate --scenario database-down --seed 7 --out /tmp/db.jsonl
  kg-agent simulate --all --variants 5 --seed 1 --out-dir /tmp/eval
  kg-agent replay --client demo-1 --file /tmp/db.jsonl --stay
  kg-agent deregister --client demo-1
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "kg-agent:", err)
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
	case "run":
		return cmdRun(ctx, rest, stdout, stderr)
	case "simulate":
		return cmdSimulate(ctx, rest, stdout, stderr)
	case "replay":
		return cmdReplay(ctx, rest, stdout, stderr)
	case "deregister":
		return cmdDeregister(ctx, rest, stdout, stderr)
	}
	return fmt.Errorf("unknown command %q; run 'kg-agent help' for the list", cmd)
}

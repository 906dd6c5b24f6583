package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kgrca/kgplane/agent/replay"
	"github.com/kgrca/kgplane/agent/simulate"
	"github.com/kgrca/kgplane/scenario"
)

const simulateHelp = `generate a realistic fault scenario of a Kubernetes cluster.

A scenario is what kg-agent run and a log shipper would publish while the
fault happens: Kubernetes Events (core/v1 or events.k8s.io/v1, real kubelet,
scheduler and controller wording), container logs (Vector or Fluent Bit
records, stack traces included), topology records (with ips and uses) and the
agent's container status events, in arrival order, amid background noise.
Its header says what caused it (docs/scenarios.md). Everything follows from
--seed: names, namespaces, nodes, counts, timings, noise.

Three ways to use it:
  publish live (registers the client and heartbeats, like replay):
    kg-agent simulate --client demo-1 --scenario oom-kill-loop [--rate 50] [--loop]
    (live scenarios end now: what is published has just happened, never later)
  write one scenario file:
    kg-agent simulate --scenario node-failure --seed 7 --out node-failure-7.jsonl
  write an evaluation set, one file per (scenario, variant):
    kg-agent simulate --all --variants 5 --seed 1 --out-dir eval/

kg-agent simulate --list shows the scenarios.`

func cmdSimulate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("simulate", simulateHelp, stderr)
	var conn connFlags
	var pres presenceFlags
	conn.add(fs)
	pres.add(fs, "live: after the last record, keep heartbeating until interrupted (with --deregister-on-exit the interrupt also deregisters the client; without it, the client stays active until stale)")
	list := fs.Bool("list", false, "list the scenarios with one line each and exit")
	name := fs.String("scenario", "", "the scenario to generate (see --list)")
	seed := fs.Int64("seed", 0, "seed: the same seed gives the same scenario (0: random for live publishing, 1 for files)")
	noise := fs.Float64("noise", 1, "background noise: 0 none, 1 a typical busy cluster, 2 twice that")
	second := fs.Bool("second-fault", false, "add a second, unrelated incident in another namespace (the header keeps the first)")
	out := fs.String("out", "", "write a scenario file instead of publishing")
	all := fs.Bool("all", false, "write an evaluation set: every scenario (or --scenario a,b,...) x --variants into --out-dir")
	variants := fs.Int("variants", 3, "with --all: variants per scenario (every third has a second fault)")
	outDir := fs.String("out-dir", "", "with --all: the directory to write the set to")
	rate := fs.Float64("rate", 50, "live: records per second (0: as fast as Kafka acknowledges)")
	loop := fs.Bool("loop", false, "live: keep generating and publishing (a new seed each round, each ending now) until interrupted")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags only; see kg-agent simulate --help)", fs.Arg(0))
	}
	if *list {
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		for _, i := range simulate.List() {
			fmt.Fprintf(tw, "%s\t%s\n", i.Name, i.Summary)
		}
		return tw.Flush()
	}
	if *noise < 0 || *rate < 0 {
		return errors.New("--noise and --rate must be >= 0")
	}
	if *all {
		if *outDir == "" {
			return errors.New("--all needs --out-dir (the directory to write the set to)")
		}
		var names []string
		if *name != "" {
			names = strings.Split(*name, ",")
		}
		if *seed == 0 {
			*seed = 1
		}
		return writeSet(names, *variants, *seed, *noise, *outDir, stdout)
	}
	if *name == "" {
		return fmt.Errorf("--scenario is required; one of: %s", strings.Join(simulate.Names(), ", "))
	}
	if *out != "" {
		if *seed == 0 {
			*seed = 1
		}
		f, err := simulate.Generate(*name, simulate.Options{Seed: *seed, Noise: *noise, Second: *second})
		if err != nil {
			return err
		}
		if err := writeScenario(*out, f); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s: %s, %d records, root cause %s, symptom %s\n", *out, f.Header.Scenario, len(f.Records), f.Header.RootCause.RID, f.Header.Symptom.RID)
		return nil
	}
	// Live.
	if err := conn.checkClient(); err != nil {
		return err
	}
	if _, err := simulate.Generate(*name, simulate.Options{Seed: 1, Noise: 0}); err != nil {
		return err // an unknown name, before anything is published
	}
	log, err := conn.logger(stderr)
	if err != nil {
		return err
	}
	s, err := startSession(ctx, &conn, &pres, "kg-agent simulate", map[string]string{"scenario": *name}, log, false)
	if err != nil {
		return err
	}
	defer s.close()
	round := *seed
	if round == 0 {
		round = time.Now().UnixNano() % 1_000_000_007
	}
	for i := 1; ; i++ {
		f, err := simulate.Generate(*name, simulate.Options{Seed: round, Noise: *noise, Second: *second, End: time.Now().UTC().Truncate(time.Second)})
		if err != nil {
			return err
		}
		log.Info("publishing a simulated scenario", "scenario", *name, "seed", round, "records", len(f.Records),
			"root_cause", f.Header.RootCause.RID, "symptom", f.Header.Symptom.RID, "round", i)
		n, err := replay.Records(ctx, s.pub, f.Records, replay.Options{Rate: *rate,
			Progress: replay.Progress(func(format string, a ...any) { log.Info(fmt.Sprintf(format, a...)) }, 5*time.Second)})
		if err != nil {
			if ctx.Err() != nil && *loop {
				return nil
			}
			return err
		}
		fmt.Fprintf(stdout, "published %d records of %s (seed %d) for %s\n", n, *name, round, conn.client)
		if !*loop || ctx.Err() != nil {
			break
		}
		round++
	}
	s.wait(ctx)
	return nil
}

func writeScenario(path string, f *scenario.File) error {
	tmp := path + ".tmp"
	fh, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if err := scenario.Write(fh, f); err != nil {
		fh.Close()
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := fh.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}

func writeSet(names []string, variants int, seed int64, noise float64, dir string, stdout io.Writer) error {
	plan, err := simulate.Set(names, variants, seed, noise)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	start := time.Now()
	for i, v := range plan {
		f, err := simulate.Generate(v.Scenario, v.Options)
		if err != nil {
			return err
		}
		if err := writeScenario(filepath.Join(dir, v.FileName()), f); err != nil {
			return err
		}
		if (i+1)%10 == 0 || i+1 == len(plan) {
			fmt.Fprintf(stdout, "%d/%d files written (%s)\n", i+1, len(plan), time.Since(start).Round(time.Millisecond))
		}
	}
	fmt.Fprintf(stdout, "wrote %d scenario files (%d scenarios x %d variants, seed %d, noise %v) to %s\n", len(plan), len(plan)/variants, variants, seed, noise, dir)
	return nil
}

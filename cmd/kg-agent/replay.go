package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/kgrca/kgplane/agent/replay"
	"github.com/kgrca/kgplane/scenario"
)

const replayHelp = `publish a scenario file (docs/scenarios.md) for a client, in file order.

The whole file is read and checked before anything is sent: a line that is
not JSON, an unknown topic, a bad key or value is refused with its line
number and NOTHING is published. Each record gets its full key
<client>::event::<uid>, <client>::log::<uid> or <client>::topology::<kind>/<ns>/<name>
and goes to the client's partition through an idempotent producer; every
batch is acknowledged before the next. Timestamps inside the records are kept
as written. By default the client is registered first and heartbeats while
the replay runs; --stay keeps it heartbeating afterwards (its workers keep
running), --deregister-on-exit purges its jobs when kg-agent stops.

Examples:
  kg-agent replay --client demo-1 --file scenarios/oom-kill-loop-1.jsonl
  kg-agent replay --client demo-1 --file big.jsonl --rate 200 --stay`

func cmdReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("replay", replayHelp, stderr)
	var conn connFlags
	var pres presenceFlags
	conn.add(fs)
	pres.add(fs, "after the last record, keep heartbeating until interrupted, so the client's workers keep running")
	file := fs.String("file", "", "the scenario file to publish (required)")
	rate := fs.Float64("rate", 0, "records per second (0: as fast as Kafka acknowledges)")
	batch := fs.Int("batch", 500, "records per acknowledged batch at most")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := conn.checkClient(); err != nil {
		return err
	}
	if *file == "" {
		return errors.New("--file is required (a scenario file, docs/scenarios.md)")
	}
	if *rate < 0 || *batch <= 0 {
		return errors.New("--rate must be >= 0 and --batch > 0")
	}
	log, err := conn.logger(stderr)
	if err != nil {
		return err
	}
	// Everything is checked before the first connection: a refused file
	// publishes nothing, not even a registration.
	f, err := scenario.ReadFile(*file)
	if err != nil {
		return fmt.Errorf("refusing the scenario file, nothing was published: %w", err)
	}
	s, err := startSession(ctx, &conn, &pres, "kg-agent replay", map[string]string{"scenario": f.Header.Scenario}, log, false)
	if err != nil {
		return err
	}
	defer s.close()
	log.Info("replaying", "file", *file, "scenario", f.Header.Scenario, "records", len(f.Records), "client", conn.client)
	n, err := replay.Records(ctx, s.pub, f.Records, replay.Options{Rate: *rate, Batch: *batch,
		Progress: replay.Progress(func(format string, a ...any) { log.Info(fmt.Sprintf(format, a...)) }, 2*time.Second)})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "replayed %d records of %s (%s) for %s\n", n, *file, f.Header.Scenario, conn.client)
	s.wait(ctx)
	return nil
}

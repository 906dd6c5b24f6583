// Command kg-rca-eval measures the root-cause ranking on a directory of
// scenario files: A@1, A@3, A@5 and the mean rank per fault type, the
// scenarios it got wrong with its top three, and last one line
//
//	overall: A@1 NN% A@3 NN% A@5 NN% mean-rank R.R scenarios N
//
// `make eval-rca` runs it on scenarios kg-agent simulate generates;
// `EVAL_DIR=path make eval-rca` on any directory. Run with --help.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/kgrca/kgplane/workers/kafkaio"
	"github.com/kgrca/kgplane/workers/rca"
	"github.com/kgrca/kgplane/workers/rca/eval"
)

const usage = `kg-rca-eval: score the root-cause ranking on scenario files.

Every *.jsonl scenario file of --dir (docs/scenarios.md) is replayed into a
fresh client (rca-<run>-<n>) through Kafka and the real pipeline (event and
log normalizers, graph builder, run in this process on the client's
partition; on topics of the run's own unless --contract-topics), then the ranking is asked about the scenario's symptom with the
default window (the 30 minutes ending at the client's newest event) and
scored against the file's header: right at rank k when the k-th candidate has
the root cause's rid (or an also_correct rid) and one of its signals.

The clients' graphs, consumer groups and the run's topics are deleted
afterwards (--keep keeps the graphs). Nothing is tuned to any scenario set: other people's files are
scored the same way.

Usage:
  kg-rca-eval --dir DIR [flags]

Settings: KAFKA_BROKERS, NEO4J_URI, NEO4J_USERNAME, NEO4J_PASSWORD,
NEO4J_SHARED_DATABASE (shared isolation only: every client in one database).

Flags:
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code, err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "kg-rca-eval:", err)
	}
	os.Exit(code)
}

// run returns 0 when every scenario ran (whatever the accuracy, unless
// --min-a1/--min-a3 ask for more), 1 when the targets are missed or a
// scenario failed, 2 on a usage error.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) (int, error) {
	fs := flag.NewFlagSet("kg-rca-eval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	dir := fs.String("dir", "", "directory of scenario files (*.jsonl)")
	direct := fs.Bool("direct", false, "write scenarios straight into the graph (normalizers and builder in-process, no Kafka): fast, for working on the ranking")
	parallel := fs.Int("parallel", 3, "scenarios at a time")
	keep := fs.Bool("keep", false, "keep the clients' graphs in Neo4j afterwards")
	shared := fs.Bool("contract-topics", false, "run the pipeline on the contract's topics (raw.k8s.events, ...) instead of topics of the run's own, created and deleted by it")
	minA1 := fs.Float64("min-a1", 0, "exit 1 when A@1 (percent) is below this")
	minA3 := fs.Float64("min-a3", 0, "exit 1 when A@3 (percent) is below this")
	timeout := fs.Duration("timeout", 3*time.Minute, "bound on one scenario")
	verbose := fs.Bool("v", false, "log the workers")
	if err := fs.Parse(args); err != nil {
		return 2, err
	}
	if *dir == "" || fs.NArg() > 0 {
		fs.Usage()
		return 2, errors.New("--dir is required (and nothing else)")
	}
	n4j, err := rca.ConfigFrom(getenv)
	if err != nil {
		return 2, err
	}
	scenarios, err := eval.ReadDir(*dir)
	if err != nil {
		return 2, err
	}
	logLevel := slog.LevelWarn
	if *verbose {
		logLevel = slog.LevelInfo
	}
	cfg := eval.Config{
		Direct: *direct, Brokers: kafkaio.ParseBrokers(envOr(getenv, "KAFKA_BROKERS", kafkaio.DefaultBrokers(getenv))),
		Neo4j: n4j, Parallel: *parallel, Keep: *keep, Timeout: *timeout, Progress: stderr,
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: logLevel})),
	}
	cfg.RunID = fmt.Sprintf("%x", time.Now().UnixNano()%0xffffffff)
	if !*shared {
		cfg.Topics, cfg.CreateTopics = eval.ContractTopics().WithSuffix(".rca-eval-"+cfg.RunID), true
	}
	mode := "through Kafka and the pipeline"
	if *direct {
		mode = "directly into the graph"
	}
	fmt.Fprintf(stderr, "evaluating %d scenarios of %s %s, %d at a time\n", len(scenarios), *dir, mode, cfg.Parallel)
	began := time.Now()
	results, err := eval.Run(ctx, cfg, scenarios)
	if err != nil && len(results) == 0 {
		return 1, err
	}
	sum := eval.Summarize(results)
	fmt.Fprintf(stderr, "done in %s\n", time.Since(began).Round(time.Second))
	sum.WriteReport(stdout)
	var problems []string
	if sum.Overall.Errors > 0 {
		problems = append(problems, fmt.Sprintf("%d scenarios failed to run", sum.Overall.Errors))
	}
	if a := sum.Overall.A1(); a < *minA1 {
		problems = append(problems, fmt.Sprintf("A@1 %.0f%% is below %.0f%%", a, *minA1))
	}
	if a := sum.Overall.A3(); a < *minA3 {
		problems = append(problems, fmt.Sprintf("A@3 %.0f%% is below %.0f%%", a, *minA3))
	}
	if len(problems) > 0 {
		return 1, errors.New(strings.Join(problems, "; "))
	}
	return 0, err
}

func envOr(getenv func(string) string, k, def string) string {
	if v := getenv(k); v != "" {
		return v
	}
	return def
}

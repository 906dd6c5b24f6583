package soak

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/IBM/sarama"

	"github.com/kgrca/kgplane/internal/fakenomad"
	"github.com/kgrca/kgplane/workers/kafkaio"
)

// RestartConfig is the measurement of a control plane restarted under many
// registered clients.
type RestartConfig struct {
	Clients   int     // registered, heartbeating clients
	NomadRate float64 // the plane's NOMAD_RATE_LIMIT (calls/s)
	Root      string
	BinDir    string
	Services
	Keep bool
}

// RestartPhase is one restart measured.
type RestartPhase struct {
	Name      string
	Ready     time.Duration // SIGKILL → the new plane's /readyz answers 200
	Reconcile time.Duration // SIGKILL → every client active with its jobs in Nomad and the work queue empty
	Submits   int64         // jobs registered in Nomad after the restart
	Purges    int64         // jobs purged after the restart (must be 0: every client is healthy)
	Calls     float64       // the plane's Nomad calls after the restart
	CPU       float64       // the plane's CPU seconds until reconciled
	LoadAvg   string
}

// RestartReport is the result.
type RestartReport struct {
	Config   RestartConfig
	Initial  time.Duration // registration burst → every job in Nomad
	Phases   []RestartPhase
	Problems []string
	LoadAvg  string
}

// Write prints the result.
func (r *RestartReport) Write(w io.Writer) {
	c := r.Config
	fmt.Fprintf(w, "\nkgplane restart: %d clients heartbeating every 30 s, NOMAD_RATE_LIMIT=%g, fake Nomad over HTTP, private Kafka\n", c.Clients, c.NomadRate)
	fmt.Fprintf(w, "machine: %s, %d CPUs, %s; load average %s at the start\n", cpuModel(), runtime.NumCPU(), runtime.Version(), r.LoadAvg)
	fmt.Fprintf(w, "initial registration burst: every client's 3 jobs in Nomad after %s\n", r.Initial.Round(time.Second))
	for _, p := range r.Phases {
		fmt.Fprintf(w, "%s: ready after %s, all %d clients reconciled after %s; Nomad after the restart: %d jobs registered, %d purged, %.0f calls; plane CPU %.1f s; load average %s\n",
			p.Name, p.Ready.Round(100*time.Millisecond), c.Clients, p.Reconcile.Round(100*time.Millisecond), p.Submits, p.Purges, p.Calls, p.CPU, p.LoadAvg)
	}
	for _, p := range r.Problems {
		fmt.Fprintf(w, "PROBLEM: %s\n", p)
	}
}

// Restart measures: clients register and heartbeat; once every job exists
// the plane is SIGKILLed and started again with Nomad keeping the jobs, then
// again with Nomad having lost them.
func Restart(ctx context.Context, cfg RestartConfig, progress io.Writer) (*RestartReport, error) {
	if cfg.Clients < 1 || cfg.NomadRate <= 0 {
		return nil, errors.New("restart: want clients and a positive Nomad rate")
	}
	cfg.Services.setDefaults(cfg.Root)
	begun := time.Now()
	say := func(format string, args ...any) {
		fmt.Fprintf(progress, "[restart %s] %s\n", fmtOffset(time.Since(begun)), fmt.Sprintf(format, args...))
	}
	if err := cfg.Lock(ctx, say); err != nil {
		return nil, err
	}
	defer cfg.Unlock()
	rep := &RestartReport{Config: cfg, LoadAvg: loadAverage()}
	if err := cfg.Clean(ctx); err != nil {
		return nil, err
	}
	if err := cfg.CheckPortsFree(); err != nil {
		return nil, err
	}
	if err := cfg.StartKafka(ctx); err != nil {
		return nil, err
	}
	defer func() {
		if !cfg.Keep {
			cfg.Clean(context.Background())
		}
	}()
	sc := Config{Planes: 1, Partitions: 8, Backend: "nomad", StaleThreshold: 2 * time.Minute, Root: cfg.Root, BinDir: cfg.BinDir, Services: cfg.Services}
	r := &runner{cfg: sc, log: slog.New(slog.NewTextHandler(io.Discard, nil)), marker: fmt.Sprintf("restart-%d", os.Getpid())}
	if err := r.createTopics(); err != nil {
		return nil, err
	}
	fake := fakenomad.New()
	defer fake.Close()
	fake.SetRecording(false)
	var registers, purges atomic.Int64
	fake.SetObserver(func(op, _ string, _ time.Time) {
		if op == "register" {
			registers.Add(1)
		} else {
			purges.Add(1)
		}
	})
	var err error
	if r.planes, err = newPlanes(sc, r.marker, cfg.RunDir, fake.URL); err != nil {
		return nil, err
	}
	r.planes.env = append(r.planes.env, fmt.Sprintf("NOMAD_RATE_LIMIT=%g", cfg.NomadRate), "LOG_LEVEL=warn", "KG_COVER_STRAYS=false",
		"HEARTBEAT_CHECK_INTERVAL_SECONDS=30", "KG_RECONCILE_WORKERS=8")
	p := r.planes.list[0]
	defer r.planes.stopAll()
	if err := r.planes.start(p); err != nil {
		return nil, err
	}
	if _, _, err := r.planes.waitLeader(ctx, 3*time.Minute); err != nil {
		return nil, err
	}
	ids := make([]string, cfg.Clients)
	for i := range ids {
		ids[i] = fmt.Sprintf("bench-%05d", i)
	}
	hb, err := newHeartbeats(cfg.Brokers(), ids)
	if err != nil {
		return nil, err
	}
	defer hb.close()
	start := time.Now()
	if err := hb.registerAll(); err != nil {
		return nil, err
	}
	hbCtx, stopHB := context.WithCancel(ctx)
	defer stopHB()
	go hb.run(hbCtx, 30*time.Second)
	want := int64(3 * cfg.Clients)
	say("%d clients registered; waiting for their %d jobs", cfg.Clients, want)
	for int64(len(fake.JobIDs())) < want {
		if time.Since(start) > time.Hour || ctx.Err() != nil {
			return rep, fmt.Errorf("only %d of %d jobs after %s", len(fake.JobIDs()), want, time.Since(start).Round(time.Second))
		}
		sleepCtx(ctx, time.Second)
	}
	rep.Initial = time.Since(start)
	say("every job submitted after %s", rep.Initial.Round(time.Second))

	for _, phase := range []struct {
		name string
		lose bool
	}{{"restart, Nomad keeps every job", false}, {"restart, Nomad lost every job", true}} {
		registers.Store(0)
		purges.Store(0)
		if err := r.planes.signal(p, syscall.SIGKILL, time.Minute); err != nil {
			return rep, err
		}
		killed := time.Now()
		if phase.lose {
			for _, id := range fake.JobIDs() {
				fake.Remove(id)
			}
		}
		if err := r.planes.start(p); err != nil {
			return rep, err
		}
		ph := RestartPhase{Name: phase.name}
		for ph.Ready == 0 && time.Since(killed) < 10*time.Minute {
			if resp, err := httpClient.Get("http://" + p.addr + "/readyz"); err == nil {
				if resp.StatusCode == http.StatusOK {
					ph.Ready = time.Since(killed)
				}
				resp.Body.Close()
			}
			sleepCtx(ctx, 100*time.Millisecond)
		}
		quiet := 0
		for time.Since(killed) < time.Hour && ctx.Err() == nil {
			m, err := scrapeMetrics(p.addr)
			if err == nil && int64(len(fake.JobIDs())) == want && m["kgplane_workqueue_depth"] == 0 && m[`kgplane_clients{phase="active"}`] == float64(cfg.Clients) {
				if quiet++; quiet == 2 {
					ph.Reconcile = time.Since(killed)
					ph.Calls = sumMetric(m, "kgplane_nomad_calls_total")
					ph.CPU = m["process_cpu_seconds_total"]
					break
				}
			} else {
				quiet = 0
			}
			sleepCtx(ctx, 500*time.Millisecond)
		}
		ph.Submits, ph.Purges, ph.LoadAvg = registers.Load(), purges.Load(), loadAverage()
		if ph.Reconcile == 0 {
			rep.Problems = append(rep.Problems, phase.name+": not reconciled within an hour")
		}
		if ph.Purges > 0 {
			rep.Problems = append(rep.Problems, fmt.Sprintf("%s: %d jobs of healthy clients purged", phase.name, ph.Purges))
		}
		if !phase.lose && ph.Submits > 0 {
			rep.Problems = append(rep.Problems, fmt.Sprintf("%s: %d jobs registered again although Nomad had them", phase.name, ph.Submits))
		}
		rep.Phases = append(rep.Phases, ph)
		say("%s: ready after %s, reconciled after %s (%d registered, %d purged)", ph.Name, ph.Ready.Round(100*time.Millisecond), ph.Reconcile.Round(100*time.Millisecond), ph.Submits, ph.Purges)
	}
	return rep, nil
}

// heartbeats registers many clients and heartbeats them, spread evenly,
// from one asynchronous producer (as 10,000 agents would, without 10,000
// connections).
type heartbeats struct {
	prod sarama.AsyncProducer
	ids  []string
	errs atomic.Int64
	wg   sync.WaitGroup
}

func newHeartbeats(brokers []string, ids []string) (*heartbeats, error) {
	sc := kafkaio.NewSaramaConfig(kafkaio.Security{}, "kg-soak-heartbeats")
	sc.Producer.Partitioner = func(topic string) sarama.Partitioner { return kafkaio.NewClientPartitioner(topic) }
	sc.Producer.Return.Errors = true
	sc.Producer.Flush.Frequency = 20 * time.Millisecond
	p, err := sarama.NewAsyncProducer(brokers, sc)
	if err != nil {
		return nil, fmt.Errorf("the heartbeat producer: %w", err)
	}
	h := &heartbeats{prod: p, ids: ids}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		for range p.Errors() {
			h.errs.Add(1)
		}
	}()
	return h, nil
}

func (h *heartbeats) send(topic, id string, v any) {
	b, _ := json.Marshal(v)
	h.prod.Input() <- &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(id), Value: sarama.ByteEncoder(b)}
}

func (h *heartbeats) registerAll() error {
	for _, id := range h.ids {
		h.send(kafkaio.TopicRegistry, id, map[string]any{"client_id": id, "cluster_name": "restart-bench"})
		h.send(kafkaio.TopicHeartbeat, id, map[string]any{"client_id": id, "timestamp": time.Now().UTC()})
	}
	return nil
}

// run heartbeats every client once per every, spread over the interval.
func (h *heartbeats) run(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	per := max(1, len(h.ids)/int(every/(100*time.Millisecond)))
	for i := 0; ; {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for range per {
			id := h.ids[i%len(h.ids)]
			i++
			h.send(kafkaio.TopicHeartbeat, id, map[string]any{"client_id": id, "timestamp": time.Now().UTC()})
		}
	}
}

func (h *heartbeats) close() {
	h.prod.AsyncClose()
	h.wg.Wait()
}

// scrapeMetrics reads a plane's /metrics as name{labels} → value.
func scrapeMetrics(addr string) (map[string]float64, error) {
	resp, err := httpClient.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if f, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = f
		}
	}
	return out, sc.Err()
}

func sumMetric(m map[string]float64, prefix string) float64 {
	var s float64
	for k, v := range m {
		if k == prefix || strings.HasPrefix(k, prefix+"{") {
			s += v
		}
	}
	return s
}

package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kgrca/kgplane/scheduler"
	"github.com/kgrca/kgplane/strays"
	"github.com/kgrca/kgplane/workers/kafkaio"
)

// runStrays covers the data-topic partitions no live client owns (package
// strays) once the controller is ready, telling the stray consumer the live
// clients every second. Only the leading control plane forwards: standbys
// follow the same topics but would only add duplicate reads and forwards, so
// the consumer runs while this plane leads and stops when it does not (its
// committed offsets hand the partitions over to the next leader). It returns
// when ctx ends.
func runStrays(ctx context.Context, cfg config, ctrl *scheduler.Controller, reg prometheus.Registerer, log *slog.Logger) {
	sc, err := strays.New(strays.Config{
		Brokers: cfg.brokerList, Topics: strays.DefaultTopics(cfg.topicSuffix), Logger: log, Registerer: reg,
		Sarama: kafkaio.NewSaramaConfig(cfg.kafkaSecurity, ""),
	})
	if err != nil {
		log.Error("stray consumer not started", "error", err)
		return
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var run *leaderRun
	defer func() { run.halt() }()
	for {
		// Until the registry is caught up the live set is incomplete: covering
		// partitions then would only re-read what workers read.
		leading := ctrl.Ready() && ctrl.Leadership().Leading
		if leading {
			sc.SetLiveClients(liveClients(ctrl.Clients()))
		}
		switch {
		case leading && run == nil:
			run = startLeaderRun(ctx, sc.Run)
			log.Info("stray consumer started: this plane leads")
		case !leading && run != nil:
			run.halt()
			run = nil
			log.Info("stray consumer stopped: this plane no longer leads")
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// leaderRun is a function running for as long as this plane leads.
type leaderRun struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func startLeaderRun(ctx context.Context, f func(context.Context)) *leaderRun {
	ctx, cancel := context.WithCancel(ctx)
	r := &leaderRun{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		f(ctx)
	}()
	return r
}

// halt stops the run and waits for it; a nil run is not running.
func (r *leaderRun) halt() {
	if r != nil {
		r.cancel()
		<-r.done
	}
}

// liveClients are the ids of the clients whose jobs are wanted.
func liveClients(all []scheduler.ClientStatus) []string {
	ids := make([]string, 0, len(all))
	for _, c := range all {
		if c.Phase.Live() {
			ids = append(ids, c.ID)
		}
	}
	return ids
}

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
// clients every second. Only the leading control plane must run it: under
// leader election, start it with the leadership's context, like the
// reconcile loop. It returns when ctx ends.
func runStrays(ctx context.Context, cfg config, ctrl *scheduler.Controller, reg prometheus.Registerer, log *slog.Logger) {
	sc, err := strays.New(strays.Config{
		Brokers: cfg.brokerList, Topics: strays.DefaultTopics(cfg.topicSuffix), Logger: log, Registerer: reg,
		Sarama: kafkaio.NewSaramaConfig(cfg.kafkaSecurity, ""),
	})
	if err != nil {
		log.Error("stray consumer not started", "error", err)
		return
	}
	// Until the registry is caught up the live set is incomplete: covering
	// partitions then would only re-read what workers read.
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for !ctrl.Ready() {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
	go func() {
		for {
			sc.SetLiveClients(liveClients(ctrl.Clients()))
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	sc.Run(ctx)
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

package main

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kgrca/kgplane/workers/graph"
)

// runGraphBuilder runs the graph-builder role (package workers/graph). Its
// settings beyond CLIENT_ID/KAFKA_BROKERS are read by graph.ConfigFrom through
// the same getenv as the rest of the worker's settings.
func runGraphBuilder(ctx context.Context, s settings, getenv func(string) string, reg prometheus.Registerer, log *slog.Logger) error {
	cfg, err := graph.ConfigFrom(getenv)
	if err != nil {
		return &configError{err}
	}
	cfg.KafkaBrokers = s.brokers
	if s.topicSuffix != "" {
		cfg.Topics.Events += s.topicSuffix
		cfg.Topics.Logs += s.topicSuffix
		cfg.Topics.Topology += s.topicSuffix
		cfg.Topics.DeadLetter += s.topicSuffix
	}
	return graph.Run(ctx, cfg, reg, log)
}

package graph

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics of one builder; registered on the registry the caller passes in.
type metrics struct {
	records       *prometheus.CounterVec // by topic and outcome
	nodesCreated  prometheus.Counter     // resources and events
	edgesCreated  *prometheus.CounterVec // by relationship type
	batchSize     prometheus.Histogram   // records per Neo4j transaction
	batchDuration prometheus.Histogram   // seconds per committed batch, retries included
	retries       *prometheus.CounterVec // batch attempts that failed, by kind
	deadLetters   *prometheus.CounterVec // by source topic
	lag           prometheus.Gauge       // now − Kafka timestamp of the newest committed record
	endToEnd      prometheus.Histogram   // Kafka timestamp → graph commit, per record
	collectors    []prometheus.Collector
}

func newMetrics(reg prometheus.Registerer, client string) (*metrics, error) {
	labels := prometheus.Labels{"client": client}
	m := &metrics{
		records: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kg_graph_records_total",
			Help: "Input records by topic and outcome (written, dead_letter, low_signal, other_client).", ConstLabels: labels},
			[]string{"topic", "outcome"}),
		nodesCreated: prometheus.NewCounter(prometheus.CounterOpts{Name: "kg_graph_nodes_created_total",
			Help: "Nodes (resources and events) the builder created in Neo4j.", ConstLabels: labels}),
		edgesCreated: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kg_graph_edges_created_total",
			Help: "Relationships the builder created in Neo4j, by type.", ConstLabels: labels}, []string{"type"}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "kg_graph_batch_records",
			Help: "Records per Neo4j write transaction.", ConstLabels: labels,
			Buckets: prometheus.ExponentialBuckets(1, 2, 14)}),
		batchDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "kg_graph_batch_duration_seconds",
			Help: "Time to commit one batch to Neo4j, retries included.", ConstLabels: labels,
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kg_graph_write_retries_total",
			Help:        "Failed batch write attempts that were retried (unavailable: Neo4j down or transient) or split (rejected: a record Neo4j refused).",
			ConstLabels: labels}, []string{"kind"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kg_graph_dead_letters_total",
			Help: "Records sent to dlq.normalized, by source topic.", ConstLabels: labels}, []string{"topic"}),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{Name: "kg_graph_lag_seconds",
			Help: "Now minus the Kafka timestamp of the newest record in the last committed batch.", ConstLabels: labels}),
		endToEnd: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "kg_graph_end_to_end_seconds",
			Help: "From a record's Kafka timestamp to the commit of its graph transaction.", ConstLabels: labels,
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14)}),
	}
	m.collectors = []prometheus.Collector{m.records, m.nodesCreated, m.edgesCreated, m.batchSize, m.batchDuration,
		m.retries, m.deadLetters, m.lag, m.endToEnd}
	for _, c := range m.collectors {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering graph builder metrics: %w", err)
		}
	}
	return m, nil
}

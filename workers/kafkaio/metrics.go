package kafkaio

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are a worker's Kafka metrics. Every series carries a constant
// label role=<role>. A nil *Metrics is valid and records nothing.
type Metrics struct {
	// RecordsIn counts this client's records handed to the handler, by topic.
	RecordsIn *prometheus.CounterVec
	// RecordsSkipped counts other clients' records read from the shared
	// partition and skipped, by topic. (RecordsIn+RecordsSkipped)/RecordsIn is
	// this worker's read amplification.
	RecordsSkipped *prometheus.CounterVec
	// Strays counts records read but not processed because they are not on
	// their client's partition or name no client, by topic, kind and action
	// (docs/workers.md, "Strays").
	Strays *prometheus.CounterVec
	// RecordsOut counts records produced and acknowledged, by topic.
	RecordsOut *prometheus.CounterVec
	// DeadLettered counts records written to a dead-letter topic, by that topic.
	DeadLettered *prometheus.CounterVec
	// Lag is high watermark - next offset to read, by topic and partition.
	Lag *prometheus.GaugeVec
	// BatchSize is the number of this client's records per handler call.
	BatchSize prometheus.Histogram
	// Commits counts synchronous offset commits after a successful batch.
	Commits prometheus.Counter
	// Errors counts errors reported by the consumer group (fetch, commit,
	// heartbeat), by kind.
	Errors *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them with reg (nil: not
// registered, e.g. in tests that read them directly).
func NewMetrics(reg prometheus.Registerer, role string) *Metrics {
	cl := prometheus.Labels{"role": role}
	m := &Metrics{
		RecordsIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kg_worker_records_in_total", Help: "This client's records handed to the worker, by input topic.", ConstLabels: cl,
		}, []string{"topic"}),
		RecordsSkipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kg_worker_records_skipped_total", Help: "Other clients' records read from the shared partition and skipped, by input topic.", ConstLabels: cl,
		}, []string{"topic"}),
		Strays: NewStrayCounter("kg_worker_stray_records_total", cl),
		RecordsOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kg_worker_records_out_total", Help: "Records produced and acknowledged, by output topic.", ConstLabels: cl,
		}, []string{"topic"}),
		DeadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kg_worker_records_dead_lettered_total", Help: "Records written to a dead-letter topic, by that topic.", ConstLabels: cl,
		}, []string{"topic"}),
		Lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kg_worker_consumer_lag", Help: "High watermark minus the next offset to read, by topic and partition.", ConstLabels: cl,
		}, []string{"topic", "partition"}),
		BatchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "kg_worker_batch_size", Help: "This client's records per handler call.", ConstLabels: cl,
			Buckets: []float64{1, 5, 10, 50, 100, 250, 500, 1000, 5000},
		}),
		Commits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kg_worker_offset_commits_total", Help: "Synchronous offset commits after a processed batch.", ConstLabels: cl,
		}),
		Errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kg_worker_kafka_errors_total", Help: "Errors reported by the Kafka consumer group or producer, by kind.", ConstLabels: cl,
		}, []string{"kind"}),
	}
	if reg != nil {
		reg.MustRegister(m.RecordsIn, m.RecordsSkipped, m.Strays, m.RecordsOut, m.DeadLettered, m.Lag, m.BatchSize, m.Commits, m.Errors)
	}
	return m
}

func (m *Metrics) in(topic string, n int) {
	if m != nil && n > 0 {
		m.RecordsIn.WithLabelValues(topic).Add(float64(n))
	}
}

func (m *Metrics) skipped(topic string, n int) {
	if m != nil && n > 0 {
		m.RecordsSkipped.WithLabelValues(topic).Add(float64(n))
	}
}

func (m *Metrics) strays() *prometheus.CounterVec {
	if m == nil {
		return nil
	}
	return m.Strays
}

func (m *Metrics) out(topic string) {
	if m != nil {
		m.RecordsOut.WithLabelValues(topic).Inc()
	}
}

func (m *Metrics) deadLettered(topic string) {
	if m != nil {
		m.DeadLettered.WithLabelValues(topic).Inc()
	}
}

func (m *Metrics) lag(topic string, partition int32, lag int64) {
	if m != nil {
		if lag < 0 {
			lag = 0
		}
		m.Lag.WithLabelValues(topic, strconv.Itoa(int(partition))).Set(float64(lag))
	}
}

func (m *Metrics) batch(n int) {
	if m != nil {
		m.BatchSize.Observe(float64(n))
	}
}

func (m *Metrics) commit() {
	if m != nil {
		m.Commits.Inc()
	}
}

func (m *Metrics) error(kind string) {
	if m != nil {
		m.Errors.WithLabelValues(kind).Inc()
	}
}

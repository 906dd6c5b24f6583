package strays

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kgrca/kgplane/workers/kafkaio"
)

type metrics struct {
	strays      *prometheus.CounterVec
	read        *prometheus.CounterVec
	partitions  *prometheus.GaugeVec
	topicErrors *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		strays: kafkaio.NewStrayCounter("kgplane_stray_records_total", nil),
		read: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kgplane_stray_records_read_total",
			Help: "Records read from the data-topic partitions no live client owns, by topic (0 in the steady state: add it to the workers' reads for the read amplification).",
		}, []string{"topic"}),
		partitions: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kgplane_stray_partitions",
			Help: "Data-topic partitions no live client owns, which the control plane reads, by topic.",
		}, []string{"topic"}),
		topicErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kgplane_stray_topic_errors_total",
			Help: "Failures to read a data topic's partition count (missing topic, Kafka unreachable), by topic.",
		}, []string{"topic"}),
	}
	if reg != nil {
		reg.MustRegister(m.strays, m.read, m.partitions, m.topicErrors)
	}
	return m
}

func (m *metrics) topicError(topic string) { m.topicErrors.WithLabelValues(topic).Inc() }

package scheduler

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the control plane's Prometheus series. Client phases and heartbeat
// ages are computed at scrape time from the registry, so they are never stale and
// cost nothing between scrapes.
type Metrics struct {
	records        *prometheus.CounterVec
	rejected       *prometheus.CounterVec
	ignored        *prometheus.CounterVec
	anomalies      *prometheus.CounterVec
	reconciles     *prometheus.CounterVec
	reconcileDur   prometheus.Histogram
	nomadCalls     *prometheus.CounterVec
	nomadErrors    *prometheus.CounterVec
	nomadDur       *prometheus.HistogramVec
	jobs           *prometheus.CounterVec
	templateLoads  *prometheus.CounterVec
	queueDepth     prometheus.GaugeFunc
	transitions    *prometheus.CounterVec
	stalePurgeLate prometheus.Histogram
	fenced         prometheus.Counter
	terms          prometheus.Counter
	disruptions    *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, c *Controller) *Metrics {
	m := &Metrics{
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kgplane_records_total", Help: "Registry and heartbeat records read, by topic.",
		}, []string{"topic"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kgplane_records_rejected_total", Help: "Records refused as malformed, by topic and reason.",
		}, []string{"topic", "reason"}),
		ignored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kgplane_records_ignored_total", Help: "Well-formed records that changed nothing (unknown client, duplicate, replayed), by topic and reason.",
		}, []string{"topic", "reason"}),
		anomalies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kgplane_heartbeat_anomalies_total", Help: "Heartbeats applied despite something odd: the client's clock is off, the record's time is in the future, or it is older than the threshold.",
		}, []string{"kind"}),
		reconciles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kgplane_reconcile_runs_total", Help: "Per-client reconcile runs, by result.",
		}, []string{"result"}),
		reconcileDur: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "kgplane_reconcile_duration_seconds", Help: "Duration of one client's reconcile run.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
		}),
		nomadCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kgplane_nomad_calls_total", Help: "Nomad API operations, by operation.",
		}, []string{"op"}),
		nomadErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kgplane_nomad_errors_total", Help: "Failed Nomad API operations, by operation and kind.",
		}, []string{"op", "kind"}),
		nomadDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "kgplane_nomad_call_duration_seconds", Help: "Duration of Nomad API operations.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
		}, []string{"op"}),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kgplane_jobs_total", Help: "Job actions: submitted (registered), unchanged (plan showed no diff), purged.",
		}, []string{"action"}),
		templateLoads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kgplane_template_loads_total", Help: "Template set loads, by result (ok, error).",
		}, []string{"result"}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kgplane_client_transitions_total", Help: "Client phase changes, by the phase entered.",
		}, []string{"to"}),
		stalePurgeLate: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "kgplane_stale_purge_delay_seconds",
			Help:    "Time from a client's stale deadline to all of its jobs being purged.",
			Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60},
		}),
	}
	m.fenced = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "kgplane_fenced_writes_total", Help: "Nomad writes refused because this plane could not prove it leads.",
	})
	m.terms = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "kgplane_leader_terms_total", Help: "Leadership terms this plane has started.",
	})
	m.disruptions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kgplane_disruptions_total", Help: "Disruptions entered (purges held), by reason: ingest_stalled, mass_silence.",
	}, []string{"reason"})
	m.queueDepth = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "kgplane_workqueue_depth", Help: "Clients waiting to be reconciled.",
	}, func() float64 { return float64(c.queue.Load().Len()) })
	if reg != nil {
		reg.MustRegister(m.records, m.rejected, m.ignored, m.anomalies, m.reconciles, m.reconcileDur, m.nomadCalls,
			m.nomadErrors, m.nomadDur, m.jobs, m.templateLoads, m.queueDepth, m.transitions, m.stalePurgeLate,
			m.fenced, m.terms, m.disruptions, &stateCollector{c: c})
	}
	return m
}

// stateCollector reports client phases and heartbeat ages from the registry.
type stateCollector struct{ c *Controller }

var (
	clientsDesc = prometheus.NewDesc("kgplane_clients", "Clients by phase.", []string{"phase"}, nil)
	ageDesc     = prometheus.NewDesc("kgplane_heartbeat_age_seconds",
		"Age of live clients' last sign of life (heartbeat, or registration when none yet).", nil, nil)
	readyDesc      = prometheus.NewDesc("kgplane_ready", "1 when the registry is caught up and, when leading, Nomad's jobs were listed.", nil, nil)
	leaderDesc     = prometheus.NewDesc("kgplane_leader", "1 while this plane leads (and may write to Nomad).", nil, nil)
	disruptionDesc = prometheus.NewDesc("kgplane_disruption", "1 while purges are held, by reason (ingest_stalled, mass_silence).", []string{"reason"}, nil)
	readLagDesc    = prometheus.NewDesc("kgplane_heartbeat_read_lag_seconds", "How far behind now the heartbeats are confirmed read (0 before the ingest reports).", nil, nil)
)

func (s *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- clientsDesc
	ch <- ageDesc
	ch <- readyDesc
	ch <- leaderDesc
	ch <- disruptionDesc
	ch <- readLagDesc
}

func (s *stateCollector) Collect(ch chan<- prometheus.Metric) {
	c := s.c
	now := c.clock.Now()
	counts := make(map[Phase]int, 4)
	ageBounds := []float64{5, 15, 30, 45, 60, 90, 120, 180, 300, 600}
	buckets := make(map[float64]uint64, len(ageBounds))
	var n uint64
	var sum float64
	c.mu.Lock()
	for _, cl := range c.reg.clients {
		counts[cl.Phase]++
		if !cl.Phase.Live() {
			continue
		}
		age := now.Sub(cl.lastSign()).Seconds()
		n++
		sum += age
		for _, b := range ageBounds {
			if age <= b {
				buckets[b]++
			}
		}
	}
	ready := c.ready.Load()
	disruption, horizon := c.deadlines.disruption, c.deadlines.horizon
	c.mu.Unlock()
	for _, p := range Phases() {
		ch <- prometheus.MustNewConstMetric(clientsDesc, prometheus.GaugeValue, float64(counts[p]), string(p))
	}
	ch <- prometheus.MustNewConstHistogram(ageDesc, n, sum, buckets)
	r := 0.0
	if ready {
		r = 1
	}
	ch <- prometheus.MustNewConstMetric(readyDesc, prometheus.GaugeValue, r)
	leading := 0.0
	if c.term.Load() != 0 {
		leading = 1
	}
	ch <- prometheus.MustNewConstMetric(leaderDesc, prometheus.GaugeValue, leading)
	for _, reason := range []string{DisruptionIngestStalled, DisruptionMassSilence} {
		v := 0.0
		if disruption == reason {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(disruptionDesc, prometheus.GaugeValue, v, reason)
	}
	lag := 0.0
	if !horizon.IsZero() {
		lag = max(0, now.Sub(horizon).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(readLagDesc, prometheus.GaugeValue, lag)
}

func (m *Metrics) observeNomad(op string, start time.Time, err error) {
	m.nomadCalls.WithLabelValues(op).Inc()
	m.nomadDur.WithLabelValues(op).Observe(time.Since(start).Seconds())
	if err != nil {
		m.nomadErrors.WithLabelValues(op, nomadErrorKind(err)).Inc()
	}
}

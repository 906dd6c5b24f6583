// Command kafkabench measures, against a real broker, the normalizer
// pipeline's end-to-end throughput (raw.k8s.events -> event-normalizer ->
// events.normalized) and the read amplification of per-client workers: ours
// (each worker reads only its client's partition, the control plane's stray
// consumer the partitions no client owns) against the seed's model (one
// consumer group per client subscribed to the whole topic); then the cost of
// a wave in which a share of the records is published as Kafka's default
// partitioner places "<client>::event::<uid>" keys (strays, forwarded).
//
//	go run ./cmd/kafkabench -clients 1,10,100 -events 20000
//
// Every run uses fresh topics with a random suffix and deletes them after;
// each phase is bounded by -timeout. Results go to stdout as Markdown tables.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/kgrca/kgplane/strays"
	"github.com/kgrca/kgplane/workers/eventnorm"
	"github.com/kgrca/kgplane/workers/kafkaio"
	"github.com/kgrca/kgplane/workers/normalizer"
)

type options struct {
	brokers        []string
	clients        []int
	events         int
	partitions     int
	perClient      int
	strayPercent   int
	plane          bool
	seed           bool
	seedMaxClients int
	timeout        time.Duration
}

func main() {
	var o options
	var brokers, clients string
	flag.StringVar(&brokers, "brokers", envOr("KAFKA_BROKERS", kafkaio.DefaultBrokers(os.Getenv)), "Kafka brokers (KAFKA_BROKERS)")
	flag.StringVar(&clients, "clients", "1,10,100", "client counts to run, comma-separated")
	flag.IntVar(&o.events, "events", 20000, "raw events per run, spread evenly over the clients")
	flag.IntVar(&o.partitions, "partitions", 0, "partitions of the data topics; 0 = max(12, clients × -partitions-per-client)")
	flag.IntVar(&o.perClient, "partitions-per-client", 10, "partitions per client when -partitions is 0 (10: read amplification ≤ 1.1, docs/workers.md)")
	flag.BoolVar(&o.plane, "plane", true, "run the control plane's stray consumer beside the workers (false: workers alone, no stray wave; for its steady-state cost)")
	flag.IntVar(&o.strayPercent, "stray-percent", 10, "share of the last wave published as Kafka's default partitioner places \"<client>::event::<uid>\" (0: no stray wave)")
	flag.BoolVar(&o.seed, "seed", true, "also measure the seed's model (a whole-topic group per client)")
	flag.IntVar(&o.seedMaxClients, "seed-max-clients", 10, "measure the seed's model only up to this many clients (it reads clients × records: 100 clients on 1000 partitions outlast the machine)")
	flag.DurationVar(&o.timeout, "timeout", 90*time.Second, "bound of each phase")
	expected := flag.String("expected", "", "no broker: print the read amplification murmur2 gives for -clients over these partition counts (comma-separated), averaged over 200 random client-id sets")
	flag.Parse()
	o.brokers = strings.Split(brokers, ",")
	if _, err := kafkaio.SecurityFromEnv(os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "kafkabench:", err)
		os.Exit(2)
	}
	for _, c := range strings.Split(clients, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "kafkabench: -clients %q: want positive integers\n", clients)
			os.Exit(2)
		}
		o.clients = append(o.clients, n)
	}
	if *expected != "" {
		printExpected(o.clients, *expected)
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Println("| clients | partitions | events/wave | produce ev/s | backlog drain ev/s (cold start) | first output after | live end-to-end ev/s | read amp. ours (workers + control plane) | read amp. expected (this placement) | read amp. mean of 200 placements | read amp. seed | seed fetch time |")
	fmt.Println("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	var strayRows []string
	for _, n := range o.clients {
		r, err := runOne(ctx, o, n)
		if err != nil {
			fmt.Fprintf(os.Stderr, "kafkabench: %d clients: %v\n", n, err)
			os.Exit(1)
		}
		seedAmp, seedTime := "-", "-"
		if r.seedRan {
			seedAmp, seedTime = fmt.Sprintf("%.2f", r.seedAmp), r.seedTime.Round(10*time.Millisecond).String()
		}
		meanAmp, _ := placementAmp(n, r.partitions)
		fmt.Printf("| %d | %d | %d | %.0f | %.0f | %s | %.0f | %.3f | %.3f | %.3f | %s | %s |\n",
			n, r.partitions, r.events, r.produceRate, r.backlogRate, r.firstOutput.Round(10*time.Millisecond), r.liveRate, r.oursAmp, r.expectedAmp, meanAmp, seedAmp, seedTime)
		if o.plane && o.strayPercent > 0 {
			s := r.stray
			strayRows = append(strayRows, fmt.Sprintf("| %d | %d | %d | %d | %.0f | %.0f | %.3f | %.3f | %d | %d | %d | %d | %s |",
				n, r.partitions, r.events, s.strays, r.liveRate, s.rate, r.oursAmp, s.amp, s.forwardedByPlane, s.forwardedByWorkers,
				s.forwardedByWorkers+s.forwardedByPlane-s.strays, s.planeRead, r.planeReady.Round(10*time.Millisecond)))
		}
	}
	if len(strayRows) > 0 {
		fmt.Printf("\nWave with %d %% strays (keys <client>::event::<uid> placed by murmur2 of the whole key, as Kafka's default partitioner does):\n\n", o.strayPercent)
		fmt.Println("| clients | partitions | events/wave | strays | live ev/s, routed | live ev/s, with strays | read amp., routed | read amp., with strays | forwarded by control plane | forwarded by workers | duplicate forwards | control-plane reads | control plane covering all uncovered partitions after |")
		fmt.Println("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
		for _, row := range strayRows {
			fmt.Println(row)
		}
	}
}

type result struct {
	partitions           int
	events               int
	produceRate          float64
	backlogRate          float64 // cold start: join, then drain the backlog
	liveRate             float64 // workers running: produce and drain
	oursAmp, expectedAmp float64 // workers' and control plane's reads / records, routed waves
	seedRan              bool
	seedAmp              float64
	seedTime             time.Duration
	firstOutput          time.Duration // group joins and the first batch
	planeReady           time.Duration // the control plane reads every partition no client owns
	stray                strayResult
}

// strayResult is the wave in which some records are strays.
type strayResult struct {
	strays             int     // records of the wave not on their client's partition
	rate               float64 // live end-to-end ev/s of the wave
	amp                float64 // records read by workers and control plane / records of the wave
	forwardedByPlane   int
	forwardedByWorkers int
	planeRead          int // records the control plane read during the wave
}

func runOne(ctx context.Context, o options, clients int) (result, error) {
	var r result
	p := o.partitions
	if p == 0 {
		p = max(12, clients*o.perClient)
	}
	r.partitions = p
	perClient := o.events / clients
	r.events = perClient * clients
	sfx := suffix()
	in, out, dlq := kafkaio.TopicRawEvents+sfx, kafkaio.TopicEventsNormalized+sfx, kafkaio.TopicDLQRaw+sfx
	admin, err := sarama.NewClusterAdmin(o.brokers, saramaConfig())
	if err != nil {
		return r, fmt.Errorf("admin: %w", err)
	}
	defer admin.Close()
	for _, t := range []struct {
		name string
		p    int32
	}{{in, int32(p)}, {out, int32(p)}, {dlq, 1}} {
		if err := admin.CreateTopic(t.name, &sarama.TopicDetail{NumPartitions: t.p, ReplicationFactor: 1}, false); err != nil {
			return r, fmt.Errorf("creating %s: %w", t.name, err)
		}
		defer admin.DeleteTopic(t.name)
	}
	if err := waitLeaders(ctx, o, []string{in, out}, p); err != nil {
		return r, err
	}
	ids := make([]string, clients)
	perPartition := map[int32]int{}
	for i := range ids {
		ids[i] = fmt.Sprintf("bench-%03d%s", i, strings.ReplaceAll(sfx, ".", "-"))
		perPartition[kafkaio.PartitionFor(ids[i], int32(p))]++
	}
	// Expected amplification with equal traffic per client: each worker reads
	// every client of its partition.
	for _, id := range ids {
		r.expectedAmp += float64(perPartition[kafkaio.PartitionFor(id, int32(p))])
	}
	r.expectedAmp /= float64(clients)

	// Wave 0 is a backlog produced before the workers start (a client's
	// first minutes, or a worker back from an outage); wave 1 is produced
	// while they run.
	// Every wave is placed explicitly (the manual partitioner): by the
	// client partitioner, or, for the strayPercent of wave 2, by murmur2 of
	// the whole key as Kafka's default partitioner places it.
	strayCount := 0
	wave := func(w, strayPercent int) []*sarama.ProducerMessage {
		msgs := make([]*sarama.ProducerMessage, 0, r.events)
		for i := range perClient {
			for j, id := range ids {
				uid := fmt.Sprintf("%s-%d-%07d", id, w, i)
				key := id + "::event::" + uid
				part := kafkaio.PartitionFor(id, int32(p))
				if (i*len(ids)+j)%100 < strayPercent {
					if part2 := kafkaio.PartitionFor(key, int32(p)); part2 != part {
						part = part2
						strayCount++
					}
				}
				msgs = append(msgs, &sarama.ProducerMessage{Topic: in, Partition: part, Key: sarama.StringEncoder(key), Value: sarama.ByteEncoder(rawEvent(uid, i))})
			}
		}
		return msgs
	}
	start := time.Now()
	if err := produce(o.brokers, wave(0, 0)); err != nil {
		return r, err
	}
	r.produceRate = float64(r.events) / time.Since(start).Seconds()

	// Ours: one normalizer per client, in this process.
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	mets := make([]*kafkaio.Metrics, clients)
	errc := make(chan error, clients)
	outputs := func() float64 {
		var n float64
		for _, m := range mets {
			n += sum(m.RecordsOut)
		}
		return n
	}
	// The control plane's stray consumer covers the partitions no client owns.
	planeReg := prometheus.NewRegistry()
	plane, err := strays.New(strays.Config{Brokers: o.brokers, GroupID: "kg-control-plane-strays" + sfx, Logger: log, Registerer: planeReg,
		Topics: []strays.Topic{{Name: in, Role: kafkaio.RoleEventNormalizer, DeadLetter: dlq}}})
	if err != nil {
		return r, err
	}
	plane.SetLiveClients(ids)
	uncovered := p
	for part := range perPartition {
		if perPartition[part] > 0 {
			uncovered--
		}
	}
	var planeReady atomic.Int64 // ns from start until every uncovered partition is read
	if o.plane {
		begin := time.Now()
		wg.Go(func() { plane.Run(runCtx) })
		wg.Go(func() {
			_ = waitFor(runCtx, o.timeout, func() bool { return len(plane.Covered()[in]) == uncovered }, nil)
			planeReady.Store(int64(time.Since(begin)))
		})
	}
	planeCount := func(name string) float64 { return gathered(planeReg, name) }
	start = time.Now()
	for i, id := range ids {
		mets[i] = kafkaio.NewMetrics(nil, kafkaio.RoleEventNormalizer)
		wg.Go(func() {
			err := normalizer.Run(runCtx, normalizer.Config{
				Role: kafkaio.RoleEventNormalizer, Brokers: o.brokers, ClientID: id, Normalize: eventnorm.Normalize,
				InputTopic: in, OutputTopic: out, DLQTopic: dlq, Logger: log, Metrics: mets[i],
				KafkaSecurity: saramaConfigSecurity(),
			})
			if err != nil {
				errc <- err
			}
		})
	}
	err = waitFor(ctx, o.timeout, func() bool {
		n := outputs()
		if n > 0 && r.firstOutput == 0 {
			r.firstOutput = time.Since(start)
		}
		return n >= float64(r.events)
	}, errc)
	if err != nil {
		return r, fmt.Errorf("ours, backlog: %w", err)
	}
	r.backlogRate = float64(r.events) / time.Since(start).Seconds()

	start = time.Now()
	if err := produce(o.brokers, wave(1, 0)); err != nil {
		return r, err
	}
	err = waitFor(ctx, o.timeout, func() bool { return outputs() >= float64(2*r.events) }, errc)
	if err != nil {
		return r, fmt.Errorf("ours, live: %w", err)
	}
	r.liveRate = float64(r.events) / time.Since(start).Seconds()
	// Skipped counts are flushed on the linger after the last batch.
	_ = waitFor(ctx, 5*time.Second, func() bool { return fetched(mets) >= r.expectedAmp*float64(2*r.events)-0.5 }, nil)
	if o.plane {
		// The stray wave measures forwarding, not the plane's start-up.
		_ = waitFor(ctx, o.timeout, func() bool { return planeReady.Load() > 0 }, nil)
		r.planeReady = time.Duration(planeReady.Load())
	}
	readBefore := fetched(mets) + planeCount("kgplane_stray_records_read_total")
	r.oursAmp = readBefore / float64(2*r.events)

	if o.plane && o.strayPercent > 0 {
		msgs := wave(2, o.strayPercent)
		s := &r.stray
		s.strays = strayCount
		forwarded := func() float64 {
			n := planeCount("kgplane_stray_records_total")
			for _, m := range mets {
				n += sum(m.Strays)
			}
			return n
		}
		start = time.Now()
		if err := produce(o.brokers, msgs); err != nil {
			return r, err
		}
		// Every stray forwarded at least once, and an output for every
		// record and every forward (a duplicate forward is a duplicate
		// output, the graph merges it).
		last := time.Now()
		err = waitFor(ctx, o.timeout, func() bool {
			f := forwarded()
			if time.Since(last) > 2*time.Second {
				last = time.Now()
				fmt.Fprintf(os.Stderr, "kafkabench: %d clients, stray wave after %s: outputs %.0f of %.0f, forwarded %.0f (control plane %.0f) of %d strays\n",
					clients, time.Since(start).Round(time.Second), outputs()-float64(2*r.events), float64(r.events-s.strays)+f, f, planeCount("kgplane_stray_records_total"), s.strays)
			}
			return f >= float64(s.strays) && outputs() >= float64(3*r.events-s.strays)+f
		}, errc)
		if err != nil {
			return r, fmt.Errorf("ours, strays: %w", err)
		}
		s.rate = float64(r.events) / time.Since(start).Seconds()
		_ = waitFor(ctx, 5*time.Second, func() bool {
			return fetched(mets)+planeCount("kgplane_stray_records_read_total")-readBefore >= r.expectedAmp*float64(r.events)+float64(s.strays)-0.5
		}, nil)
		s.amp = (fetched(mets) + planeCount("kgplane_stray_records_read_total") - readBefore) / float64(r.events)
		s.forwardedByPlane = int(planeCount("kgplane_stray_records_total"))
		s.forwardedByWorkers = int(forwarded()) - s.forwardedByPlane
		s.planeRead = int(planeCount("kgplane_stray_records_read_total"))
	}
	cancel()
	wg.Wait()

	if o.seed && clients <= o.seedMaxClients {
		r.seedRan = true
		// Every record the topic holds: the waves and the forwarded copies.
		total, err := recordsIn(o, in)
		if err != nil {
			return r, err
		}
		r.seedAmp, r.seedTime, err = seedModel(ctx, o, in, ids, int(total))
		if err != nil {
			return r, fmt.Errorf("seed model: %w", err)
		}
	}
	return r, nil
}

// seedModel runs one group per client subscribed to the whole topic with
// sarama's range assignor, as the seed describes, and counts what they fetch.
func seedModel(ctx context.Context, o options, topic string, ids []string, total int) (float64, time.Duration, error) {
	var fetchedN atomic.Int64
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, len(ids))
	start := time.Now()
	for _, id := range ids {
		cfg := saramaConfig()
		cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
		cfg.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRange()}
		g, err := sarama.NewConsumerGroup(o.brokers, "seed-event-normalizer-"+id, cfg)
		if err != nil {
			return 0, 0, err
		}
		h := &countHandler{n: &fetchedN}
		wg.Go(func() {
			defer g.Close()
			for runCtx.Err() == nil {
				if err := g.Consume(runCtx, []string{topic}, h); err != nil && runCtx.Err() == nil {
					errc <- err
					return
				}
			}
		})
	}
	want := int64(total * len(ids))
	err := waitFor(ctx, o.timeout, func() bool { return fetchedN.Load() >= want }, errc)
	elapsed := time.Since(start)
	cancel()
	wg.Wait()
	return float64(fetchedN.Load()) / float64(total), elapsed, err
}

type countHandler struct{ n *atomic.Int64 }

func (h *countHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *countHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h *countHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		h.n.Add(1)
		s.MarkMessage(m, "")
	}
	return nil
}

// fetched is what the workers read: their records, other clients' records
// they skipped, and strays they forwarded or dead-lettered.
func fetched(mets []*kafkaio.Metrics) float64 {
	var n float64
	for _, m := range mets {
		n += sum(m.RecordsIn) + sum(m.RecordsSkipped) + sum(m.Strays)
	}
	return n
}

// gathered sums every series of the counter name in reg.
func gathered(reg *prometheus.Registry, name string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		return 0
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return n
}

func waitFor(ctx context.Context, timeout time.Duration, cond func() bool, errc <-chan error) error {
	deadline := time.After(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
			return errors.New("timed out")
		case err := <-errc:
			return err
		case <-tick.C:
		}
	}
	return nil
}

func produce(brokers []string, msgs []*sarama.ProducerMessage) error {
	cfg := saramaConfig()
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Compression = sarama.CompressionLZ4
	cfg.Producer.Flush.Frequency = 5 * time.Millisecond
	cfg.Producer.Partitioner = sarama.NewManualPartitioner // each wave places its records
	p, err := sarama.NewSyncProducer(brokers, cfg)
	if err != nil {
		return fmt.Errorf("producer: %w", err)
	}
	defer p.Close()
	if err := p.SendMessages(msgs); err != nil {
		return fmt.Errorf("producing %d raw events: %w", len(msgs), err)
	}
	return nil
}

func saramaConfigSecurity() kafkaio.Security {
	sec, _ := kafkaio.SecurityFromEnv(os.Getenv)
	return sec
}

// saramaConfig is the shared base config with the environment's Kafka
// security; main has already refused a bad KAFKA_SASL_*/KAFKA_TLS* setting.
func saramaConfig() *sarama.Config {
	return kafkaio.NewSaramaConfig(saramaConfigSecurity(), "kafkabench")
}

func sum(c prometheus.Collector) float64 {
	ch := make(chan prometheus.Metric, 16)
	go func() { c.Collect(ch); close(ch) }()
	var total float64
	for m := range ch {
		var pb dto.Metric
		if m.Write(&pb) == nil && pb.Counter != nil {
			total += pb.Counter.GetValue()
		}
	}
	return total
}

func suffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return ".bench-" + hex.EncodeToString(b)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// rawEvent is a realistic core/v1 Event (~600 bytes).
func rawEvent(uid string, i int) []byte {
	return fmt.Appendf(nil, `{"apiVersion":"v1","kind":"Event","metadata":{"name":"web-%d.%x","namespace":"shop","uid":%q,"creationTimestamp":"2026-11-20T10:00:00Z"},`+
		`"involvedObject":{"kind":"Pod","namespace":"shop","name":"web-%d","uid":"5b0e1f7a-2c3d-4e5f-8a9b-%012d","apiVersion":"v1"},`+
		`"reason":"BackOff","message":"Back-off restarting failed container app in pod web-%d_shop","source":{"component":"kubelet","host":"node-%d"},`+
		`"firstTimestamp":"2026-11-20T10:00:00Z","lastTimestamp":"2026-11-20T10:%02d:%02dZ","count":%d,"type":"Warning"}`,
		i%50, i, uid, i%50, i%50, i%50, i%3, (i/60)%60, i%60, 1+i%5)
}

// recordsIn is the number of records in topic: the sum of its partitions'
// high watermarks (a fresh topic, nothing deleted).
func recordsIn(o options, topic string) (int64, error) {
	client, err := sarama.NewClient(o.brokers, saramaConfig())
	if err != nil {
		return 0, fmt.Errorf("client: %w", err)
	}
	defer client.Close()
	parts, err := client.Partitions(topic)
	if err != nil {
		return 0, fmt.Errorf("partitions of %s: %w", topic, err)
	}
	var n int64
	for _, p := range parts {
		hwm, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			return 0, fmt.Errorf("high watermark of %s/%d: %w", topic, p, err)
		}
		n += hwm
	}
	return n, nil
}

// waitLeaders waits until every partition of the new topics has a leader, so
// the produce rate does not measure topic creation.
func waitLeaders(ctx context.Context, o options, topics []string, partitions int) error {
	client, err := sarama.NewClient(o.brokers, saramaConfig())
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	defer client.Close()
	// A leader in the metadata is not enough: under load the broker may
	// still be creating the partition's log and answer "not the leader" for
	// a while. It serves the partition once it answers ListOffsets for it.
	ready := map[string]bool{}
	return waitFor(ctx, o.timeout, func() bool {
		if client.RefreshMetadata(topics...) != nil {
			return false
		}
		for _, t := range topics {
			for p := range partitions {
				k := fmt.Sprintf("%s/%d", t, p)
				if ready[k] {
					continue
				}
				if _, err := client.GetOffset(t, int32(p), sarama.OffsetNewest); err != nil {
					return false
				}
				ready[k] = true
			}
		}
		return true
	}, nil)
}

// printExpected tabulates mean and worst read amplification of our model for
// equal traffic per client: a worker reads every client hashed to its
// partition, so amplification = sum over clients of |clients on its
// partition| / clients (about 1 + (clients-1)/partitions on average).
func printExpected(clients []int, partitions string) {
	fmt.Println("| clients | partitions | read amp. mean | read amp. worst of 200 | seed |")
	fmt.Println("|---:|---:|---:|---:|---:|")
	for _, n := range clients {
		for _, ps := range strings.Split(partitions, ",") {
			p, err := strconv.Atoi(strings.TrimSpace(ps))
			if err != nil || p < 1 {
				fmt.Fprintf(os.Stderr, "kafkabench: -expected %q: want positive integers\n", partitions)
				os.Exit(2)
			}
			mean, worst := placementAmp(n, p)
			fmt.Printf("| %d | %d | %.2f | %.2f | %d |\n", n, p, mean, worst, n)
		}
	}
}

// placementAmp is the mean and worst read amplification of n clients with
// random ids on p partitions, over 200 id sets, equal traffic per client.
func placementAmp(n, p int) (mean, worst float64) {
	const sets = 200
	var total float64
	for range sets {
		sfx := suffix()
		count := map[int32]int{}
		parts := make([]int32, n)
		for i := range n {
			parts[i] = kafkaio.PartitionFor(fmt.Sprintf("c%03d%s", i, strings.ReplaceAll(sfx, ".", "-")), int32(p))
			count[parts[i]]++
		}
		var amp float64
		for _, q := range parts {
			amp += float64(count[q])
		}
		amp /= float64(n)
		total += amp
		worst = max(worst, amp)
	}
	return total / sets, worst
}

package normalizer_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/kgrca/kgplane/internal/testutil"
	"github.com/kgrca/kgplane/workers/eventnorm"
	"github.com/kgrca/kgplane/workers/kafkaio"
	"github.com/kgrca/kgplane/workers/kafkaio/kafkatest"
	"github.com/kgrca/kgplane/workers/normalizer"
)

// produceLarge sends msgs with a producer that allows 4 MiB messages and
// compresses them, as a misconfigured agent can: a compressible 2 MiB value
// fits the broker's 1 MiB limit once compressed, so it does arrive.
func produceLarge(t *testing.T, brokers []string, msgs []*sarama.ProducerMessage) {
	t.Helper()
	sc := kafkatest.Config()
	sc.Producer.MaxMessageBytes = 4 << 20
	sc.Producer.Compression = sarama.CompressionLZ4
	p, err := sarama.NewSyncProducer(brokers, sc)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.SendMessages(msgs); err != nil {
		t.Fatalf("producing: %v", err)
	}
}

// Found by the soak (make soak): a 2 MiB event made the normalizer fail on
// its dead letter (the producer refuses messages over 1 MiB before
// compressing them), exit, restart and fail again on the same record
// forever, its client's partition blocked. The dead letter now carries the
// value's first MaxDeadLetterValue bytes with the original's length and
// SHA-256, and the records after it flow.
func TestNormalizerDeadLettersARecordTooLargeToCopy(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	tp := newTopics(t, brokers, 1)
	client := "big" + strings.ReplaceAll(kafkatest.Suffix(), ".", "-")
	huge := []byte(`{"apiVersion":"v1","kind":"Event","message":"` + strings.Repeat("x", 2<<20) + `"}`)
	good := kafkatest.RawEvent("u2", 2)
	produceLarge(t, brokers, []*sarama.ProducerMessage{
		rawMsg(tp.in, kafkatest.Key(client, "event", "u1"), huge),
		rawMsg(tp.in, kafkatest.Key(client, "event", "u2"), good),
	})
	m := kafkaio.NewMetrics(nil, kafkaio.RoleEventNormalizer)
	stop := kafkatest.Run(t, func(ctx context.Context) error {
		return normalizer.Run(ctx, normalizer.Config{
			Role: kafkaio.RoleEventNormalizer, Brokers: brokers, ClientID: client, Normalize: eventnorm.Normalize,
			InputTopic: tp.in, OutputTopic: tp.out, DLQTopic: tp.dlq,
			MaxBatch: 64, Linger: 10 * time.Millisecond, SessionTimeout: 6 * time.Second, Metrics: m,
		})
	})
	testutil.Eventually(t, 60*time.Second, "the good record normalized after the huge one", func() bool {
		return kafkatest.Sum(m.RecordsOut) >= 1
	})
	if err := stop(); err != nil {
		t.Fatalf("the normalizer failed: %v", err)
	}
	dl := kafkatest.ReadAll(t, brokers, tp.dlq)
	if len(dl) != 1 {
		t.Fatalf("%d dead letters, want 1", len(dl))
	}
	h := kafkatest.Headers(dl[0].Headers)
	sum := sha256.Sum256(huge)
	if len(dl[0].Value) != kafkaio.MaxDeadLetterValue || string(dl[0].Value) != string(huge[:kafkaio.MaxDeadLetterValue]) ||
		h[kafkaio.HeaderValueTruncated] != fmt.Sprint(len(huge)) || h[kafkaio.HeaderValueSHA256] != hex.EncodeToString(sum[:]) ||
		!strings.Contains(h[kafkaio.HeaderError], "over the 1048576-byte limit") || h[kafkaio.HeaderSourceOffset] != "0" {
		t.Fatalf("dead letter of %d bytes with headers %v; want the first %d bytes, the length %d and its SHA-256", len(dl[0].Value), h, kafkaio.MaxDeadLetterValue, len(huge))
	}
}

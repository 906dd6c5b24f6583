package main

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/kgrca/kgplane/internal/fakenomad"
	"github.com/kgrca/kgplane/internal/testutil"
	"github.com/kgrca/kgplane/workers/kafkaio"
	"github.com/kgrca/kgplane/workers/kafkaio/kafkatest"
)

func TestCoverStraysSetting(t *testing.T) {
	for env, want := range map[string]bool{"": true, "true": true, "false": false, "0": false} {
		t.Setenv("KG_COVER_STRAYS", env)
		c, err := parseConfig(nil, &bytes.Buffer{})
		if err != nil || c.coverStrays != want {
			t.Errorf("KG_COVER_STRAYS=%q: coverStrays %v, %v; want %v", env, c.coverStrays, err, want)
		}
	}
	t.Setenv("KG_COVER_STRAYS", "sometimes")
	if _, err := parseConfig(nil, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "KG_COVER_STRAYS") {
		t.Errorf("KG_COVER_STRAYS=sometimes: err = %v, want one naming the setting", err)
	}
}

// TestControlPlaneForwardsStrays: the real binary, once ready, reads the
// partitions of the data topics no live client owns and forwards a live
// client's record published on one of them to the client's partition.
func TestControlPlaneForwardsStrays(t *testing.T) {
	if testing.Short() {
		t.Skip("process test: builds the binary and uses the real Kafka")
	}
	e := newKafkaEnv(t)
	sfx := kafkatest.Suffix()
	const n = 6
	events := kafkaio.TopicRawEvents + sfx
	kafkatest.CreateTopics(t, e.brokers, n, events)
	kafkatest.CreateTopics(t, e.brokers, 1, kafkaio.TopicDLQRaw+sfx)
	id := kafkatest.ClientOn(t, "strays-"+strings.TrimPrefix(sfx, "."), 0, n)
	fake := fakenomad.New()
	defer fake.Close()
	bin := buildBinary(t)
	p := startPlane(t, bin, e, fake.URL, "1", "KG_TOPIC_SUFFIX="+sfx)
	testutil.Eventually(t, 60*time.Second, "the first plane to lead", p.leading)
	// A standby of the same plane follows the same topics but must not read
	// the uncovered partitions: it would only duplicate the leader's forwards.
	standby := startPlane(t, bin, e, fake.URL, "1", "KG_TOPIC_SUFFIX="+sfx)
	e.register(t, id)
	testutil.Eventually(t, 30*time.Second, "the client's jobs", func() bool { return jobsOf(fake, id) == 3 })

	forwarded := func(uid string) []*sarama.ConsumerMessage {
		var got []*sarama.ConsumerMessage
		for _, r := range kafkatest.ReadAll(t, e.brokers, events) {
			if r.Partition == 0 && string(r.Key) == id+"::event::"+uid {
				got = append(got, r)
			}
		}
		return got
	}
	kafkatest.ProduceTo(t, e.brokers, []*sarama.ProducerMessage{
		{Topic: events, Partition: 3, Key: sarama.StringEncoder(id + "::event::u-1"), Value: sarama.StringEncoder("{}")},
	})
	var got []*sarama.ConsumerMessage
	testutil.Eventually(t, 60*time.Second, "the forwarded record on the client's partition", func() bool {
		got = forwarded("u-1")
		return len(got) > 0
	})
	h := kafkatest.Headers(got[0].Headers)
	if h[kafkaio.HeaderForwardedBy] != "kg-control-plane" || h[kafkaio.HeaderForwardedFrom] != fmt.Sprintf("%s/3@0", events) {
		t.Fatalf("forwarded record headers %v", h)
	}
	want := fmt.Sprintf(`kgplane_stray_records_total{action="forwarded",kind="wrong_partition",topic=%q} 1`, events)
	if body := p.get("/metrics"); !strings.Contains(body, want) {
		t.Fatalf("/metrics lacks %s", want)
	}
	covered := regexp.MustCompile(`(?m)^kgplane_stray_partitions\{[^}]*\} [1-9]`)
	if body := standby.get("/metrics"); covered.MatchString(body) || strings.Contains(body, `action="forwarded"`) {
		t.Fatalf("the standby reads uncovered partitions or forwards:\n%s", grepLines(body, "kgplane_stray"))
	}

	// The leader dies: the standby takes over the uncovered partitions from
	// the committed offsets and forwards what arrives next.
	p.kill(t)
	testutil.Eventually(t, 60*time.Second, "the standby to lead", standby.leading)
	kafkatest.ProduceTo(t, e.brokers, []*sarama.ProducerMessage{
		{Topic: events, Partition: 3, Key: sarama.StringEncoder(id + "::event::u-2"), Value: sarama.StringEncoder("{}")},
	})
	testutil.Eventually(t, 60*time.Second, "the new leader forwarding the next stray", func() bool { return len(forwarded("u-2")) > 0 })
}

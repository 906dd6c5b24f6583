package replay

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/kgrca/kgplane/scenario"
)

type sink struct {
	mu      sync.Mutex
	batches [][]scenario.Record
	failAt  int // fail the batch containing record index failAt (-1: never)
	seen    int
}

func (s *sink) Publish(ctx context.Context, recs []scenario.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failAt >= 0 && s.seen <= s.failAt && s.failAt < s.seen+len(recs) {
		return errors.New("kafka: broker not available")
	}
	s.seen += len(recs)
	s.batches = append(s.batches, append([]scenario.Record(nil), recs...))
	return nil
}

func records(n int) []scenario.Record {
	out := make([]scenario.Record, n)
	for i := range out {
		out[i] = scenario.Record{Topic: scenario.TopicEvents, Key: fmt.Sprintf("u-%d", i), Value: []byte(`{}`), Line: i + 2}
	}
	return out
}

func TestRecordsInOrderInBatches(t *testing.T) {
	cases := []struct {
		name      string
		n         int
		opt       Options
		wantBatch int
	}{
		{"default batch", 1234, Options{}, 500},
		{"small batch", 10, Options{Batch: 3}, 3},
		{"rate caps the batch at a tenth of a second", 25, Options{Rate: 50}, 5},
		{"a high rate keeps the default batch", 3, Options{Rate: 1000000}, 500},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := &sink{failAt: -1}
			var progress []int
			c.opt.Progress = func(done, total int) {
				if total != c.n {
					t.Errorf("total %d, want %d", total, c.n)
				}
				progress = append(progress, done)
			}
			n, err := Records(context.Background(), s, records(c.n), c.opt)
			if err != nil || n != c.n {
				t.Fatalf("Records = %d, %v", n, err)
			}
			i := 0
			for _, b := range s.batches {
				if len(b) > c.wantBatch {
					t.Errorf("batch of %d, want at most %d", len(b), c.wantBatch)
				}
				for _, r := range b {
					if r.Key != fmt.Sprintf("u-%d", i) {
						t.Fatalf("record %d is %s: order lost", i, r.Key)
					}
					i++
				}
			}
			if len(progress) != len(s.batches) || progress[len(progress)-1] != c.n {
				t.Errorf("progress %v over %d batches", progress, len(s.batches))
			}
		})
	}
}

func TestRecordsStopsAtAFailedBatchAndSaysWhere(t *testing.T) {
	s := &sink{failAt: 7}
	n, err := Records(context.Background(), s, records(20), Options{Batch: 5})
	if n != 5 || err == nil {
		t.Fatalf("Records = %d, %v; want 5 acknowledged and an error", n, err)
	}
	for _, want := range []string{"after 5 of 20", "line 7", "broker not available"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestRecordsStopsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s := &sink{failAt: -1}
	n, err := Records(ctx, s, records(100), Options{Rate: 10})
	if n != 0 || !errors.Is(err, context.Canceled) {
		t.Fatalf("Records = %d, %v; want 0 and context.Canceled", n, err)
	}
}

func TestProgressReportsEndAndThrottles(t *testing.T) {
	var lines []string
	p := Progress(func(f string, a ...any) { lines = append(lines, fmt.Sprintf(f, a...)) }, 1<<62)
	for i := 1; i <= 100; i++ {
		p(i, 100)
	}
	if len(lines) != 2 || !strings.HasPrefix(lines[1], "replayed 100/100 records (100%)") {
		t.Errorf("progress lines %q: want the first and the last", lines)
	}
}

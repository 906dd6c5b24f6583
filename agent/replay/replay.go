// Package replay publishes a scenario file's records in file order, at a
// given rate, reporting progress. The file is read and checked whole before
// the first record is sent (scenario.ReadFile), so a broken file publishes
// nothing.
package replay

import (
	"context"
	"fmt"
	"math"
	"time"

	"golang.org/x/time/rate"

	"github.com/kgrca/kgplane/agent/publish"
	"github.com/kgrca/kgplane/scenario"
)

// Options tune a replay.
type Options struct {
	// Rate is records per second; 0 means as fast as Kafka acknowledges.
	Rate float64
	// Batch is how many records one acknowledged send carries at most
	// (default 500; with a Rate, at most a tenth of a second's worth, so the
	// pace is smooth).
	Batch int
	// Progress, when set, is called after each acknowledged batch with the
	// records sent so far and the total.
	Progress func(done, total int)
}

// Records publishes recs to sink in order: batch after batch, each one
// acknowledged before the next is sent, so a failure stops the replay at a
// known record. It returns how many records were acknowledged.
func Records(ctx context.Context, sink publish.Sink, recs []scenario.Record, opt Options) (int, error) {
	batch := opt.Batch
	if batch <= 0 {
		batch = 500
	}
	var lim *rate.Limiter
	if opt.Rate > 0 {
		batch = max(1, min(batch, int(math.Ceil(opt.Rate/10))))
		lim = rate.NewLimiter(rate.Limit(opt.Rate), batch)
	}
	done := 0
	for done < len(recs) {
		n := min(batch, len(recs)-done)
		if lim != nil {
			if err := lim.WaitN(ctx, n); err != nil {
				return done, fmt.Errorf("replay stopped after %d of %d records: %w", done, len(recs), ctxErr(ctx, err))
			}
		}
		if err := sink.Publish(ctx, recs[done:done+n]); err != nil {
			first := recs[done]
			where := ""
			if first.Line > 0 {
				where = fmt.Sprintf(" (the batch starting at line %d)", first.Line)
			}
			return done, fmt.Errorf("replay stopped after %d of %d records%s: %w", done, len(recs), where, err)
		}
		done += n
		if opt.Progress != nil {
			opt.Progress(done, len(recs))
		}
	}
	return done, nil
}

// ctxErr prefers the context's error: rate.Limiter reports a deadline it
// cannot meet before the context is actually done.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// Progress prints a replay's progress through logf at most every interval
// (and always at the end), with the rate so far.
func Progress(logf func(format string, args ...any), every time.Duration) func(done, total int) {
	start := time.Now()
	var last time.Time
	return func(done, total int) {
		now := time.Now()
		if done < total && now.Sub(last) < every {
			return
		}
		last = now
		el := now.Sub(start).Seconds()
		perSec := 0.0
		if el > 0 {
			perSec = float64(done) / el
		}
		logf("replayed %d/%d records (%.0f%%), %.0f records/s", done, total, 100*float64(done)/float64(max(total, 1)), perSec)
	}
}

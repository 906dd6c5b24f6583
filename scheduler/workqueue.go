package scheduler

import (
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// workQueue is a de-duplicating queue of client ids in the style of client-go's
// workqueue: a key added while queued is queued once; a key added while being
// processed is queued again only after Done, so one client is never reconciled by
// two workers at once; failures back off per key on an injectable clock
// (k8s.io/utils/clock, as client-go's do).
//
// It is written by hand because client-go's workqueue has no priority: it is
// one FIFO lane (and its rate-limited AddRateLimited puts a retried key at the
// back of it), while purges of stale and deregistered clients must never wait
// behind a burst of registrations or a template re-apply of 10,000 clients,
// and a failed purge must come back ahead of them too. Two client-go queues
// (urgent, normal) would not do: a key in both could be reconciled by two
// workers at once, which is exactly what the dirty/processing sets of a single
// queue prevent. Everything else follows client-go's semantics.
type workQueue struct {
	mu   sync.Mutex
	cond *sync.Cond
	// Two lanes: purges (stale, deregistered) go first, so a burst of
	// registrations or a template re-apply never delays taking a dead
	// client's jobs away. A key may sit in a lane's slice more than once;
	// dirty says which lane serves it, and other entries are skipped.
	urgent, normal []string
	dirty          map[string]lane
	processing     map[string]lane // the lane each key in progress was served from
	failures       map[string]int
	timers         map[string]clock.Timer
	shutdown       bool

	baseDelay, maxDelay time.Duration
	clock               clock.WithDelayedExecution
}

type lane int

const (
	laneNormal lane = iota
	laneUrgent
)

func newWorkQueue(baseDelay, maxDelay time.Duration, clk clock.WithDelayedExecution) *workQueue {
	q := &workQueue{
		dirty:      make(map[string]lane),
		processing: make(map[string]lane),
		failures:   make(map[string]int),
		timers:     make(map[string]clock.Timer),
		baseDelay:  baseDelay,
		maxDelay:   maxDelay,
		clock:      clk,
	}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// Add queues key unless it is already waiting.
func (q *workQueue) Add(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.addLocked(key, laneNormal)
}

// AddUrgent queues key ahead of every normally queued key (promoting it if it
// is already waiting in the normal lane).
func (q *workQueue) AddUrgent(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.addLocked(key, laneUrgent)
}

func (q *workQueue) addLocked(key string, l lane) {
	if q.shutdown {
		return
	}
	if cur, ok := q.dirty[key]; ok && cur >= l {
		return
	}
	q.dirty[key] = l
	if _, busy := q.processing[key]; busy {
		return // Done re-queues it
	}
	q.push(key, l)
}

func (q *workQueue) push(key string, l lane) {
	if l == laneUrgent {
		q.urgent = append(q.urgent, key)
	} else {
		q.normal = append(q.normal, key)
	}
	q.cond.Signal()
}

// Retry queues key after an exponential per-key backoff and returns the delay.
// A key being processed from the urgent lane (a purge) is retried in the
// urgent lane: a failed purge must not queue behind registrations.
func (q *workQueue) Retry(key string) time.Duration {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := q.failures[key]
	q.failures[key] = n + 1
	d := q.baseDelay << min(n, 30)
	if d > q.maxDelay || d <= 0 {
		d = q.maxDelay
	}
	l := laneNormal
	if q.processing[key] == laneUrgent {
		l = laneUrgent
	}
	if t, ok := q.timers[key]; ok {
		t.Stop()
	}
	var t clock.Timer
	// On its own goroutine: a fake clock runs the function under its lock,
	// and Retry holds q.mu while it arms timers.
	t = q.clock.AfterFunc(d, func() {
		go func() {
			q.mu.Lock()
			defer q.mu.Unlock()
			if q.timers[key] != t {
				return // replaced or stopped meanwhile
			}
			delete(q.timers, key)
			q.addLocked(key, l)
		}()
	})
	q.timers[key] = t
	return d
}

// Forget clears key's failure count after a success.
func (q *workQueue) Forget(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.failures, key)
}

// Get blocks until a key is available or the queue is shut down.
func (q *workQueue) Get() (string, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		for len(q.urgent) == 0 && len(q.normal) == 0 && !q.shutdown {
			q.cond.Wait()
		}
		if q.shutdown {
			return "", false
		}
		var key string
		var from lane
		if len(q.urgent) > 0 {
			key, q.urgent = q.urgent[0], q.urgent[1:]
			from = laneUrgent
		} else {
			key, q.normal = q.normal[0], q.normal[1:]
			from = laneNormal
		}
		if l, ok := q.dirty[key]; !ok || l != from {
			continue // served already from the other lane
		}
		if _, busy := q.processing[key]; busy {
			continue // Done will re-queue it
		}
		delete(q.dirty, key)
		q.processing[key] = from
		return key, true
	}
}

// Done marks key processed, re-queueing it if it was added meanwhile.
func (q *workQueue) Done(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.processing, key)
	if l, again := q.dirty[key]; again && !q.shutdown {
		q.push(key, l)
	}
}

// Len is the number of keys waiting (not those being processed).
func (q *workQueue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for k := range q.dirty {
		if _, busy := q.processing[k]; !busy {
			n++
		}
	}
	return n
}

// Idle reports whether the queue is drained: nothing waiting, nothing being
// processed, no retry pending. Len()==0 is not that: a key in progress or in
// backoff is not counted there.
func (q *workQueue) Idle() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.dirty) == 0 && len(q.processing) == 0 && len(q.timers) == 0
}

// ShutDown wakes every Get, which then returns false, and stops retry timers.
func (q *workQueue) ShutDown() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.shutdown = true
	for k, t := range q.timers {
		t.Stop()
		delete(q.timers, k)
	}
	q.cond.Broadcast()
}

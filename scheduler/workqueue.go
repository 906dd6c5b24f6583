package scheduler

import (
	"sync"
	"time"
)

// workQueue is a de-duplicating queue of client ids in the style of client-go's
// workqueue: a key added while queued is queued once; a key added while being
// processed is queued again only after Done, so one client is never reconciled by
// two workers at once. client-go's package would pull Kubernetes' apimachinery
// into a binary that has nothing to do with Kubernetes APIs, so this is the small
// part we need, written out.
type workQueue struct {
	mu         sync.Mutex
	cond       *sync.Cond
	queue      []string
	dirty      map[string]struct{}
	processing map[string]struct{}
	failures   map[string]int
	timers     map[string]*time.Timer
	shutdown   bool

	baseDelay, maxDelay time.Duration
}

func newWorkQueue(baseDelay, maxDelay time.Duration) *workQueue {
	q := &workQueue{
		dirty:      make(map[string]struct{}),
		processing: make(map[string]struct{}),
		failures:   make(map[string]int),
		timers:     make(map[string]*time.Timer),
		baseDelay:  baseDelay,
		maxDelay:   maxDelay,
	}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// Add queues key unless it is already waiting.
func (q *workQueue) Add(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.addLocked(key)
}

func (q *workQueue) addLocked(key string) {
	if q.shutdown {
		return
	}
	if _, ok := q.dirty[key]; ok {
		return
	}
	q.dirty[key] = struct{}{}
	if _, busy := q.processing[key]; busy {
		return // Done re-queues it
	}
	q.queue = append(q.queue, key)
	q.cond.Signal()
}

// Retry queues key after an exponential per-key backoff and returns the delay.
func (q *workQueue) Retry(key string) time.Duration {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := q.failures[key]
	q.failures[key] = n + 1
	d := q.baseDelay << min(n, 30)
	if d > q.maxDelay || d <= 0 {
		d = q.maxDelay
	}
	if t, ok := q.timers[key]; ok {
		t.Stop()
	}
	q.timers[key] = time.AfterFunc(d, func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		delete(q.timers, key)
		q.addLocked(key)
	})
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
	for len(q.queue) == 0 && !q.shutdown {
		q.cond.Wait()
	}
	if len(q.queue) == 0 {
		return "", false
	}
	key := q.queue[0]
	q.queue[0] = ""
	q.queue = q.queue[1:]
	q.processing[key] = struct{}{}
	delete(q.dirty, key)
	return key, true
}

// Done marks key processed, re-queueing it if it was added meanwhile.
func (q *workQueue) Done(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.processing, key)
	if _, again := q.dirty[key]; again && !q.shutdown {
		q.queue = append(q.queue, key)
		q.cond.Signal()
	}
}

// Len is the number of keys waiting.
func (q *workQueue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.queue)
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

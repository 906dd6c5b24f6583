// Package watch is kg-agent run: it watches a Kubernetes cluster with
// client-go informers and publishes what the graph needs.
//
//   - Events of both APIs (core/v1 and events.k8s.io/v1; they are two views
//     of the same objects, so each (uid, resourceVersion) is published once,
//     whichever view arrives first), as JSON with their kind and apiVersion,
//     without managedFields.
//   - Topology records (agent/topology) of Pods, Nodes, Services (their
//     EndpointSlices resolved to the pods they select), ReplicaSets,
//     Deployments, StatefulSets, DaemonSets and Jobs, each time one changes,
//     and a tombstone when one is deleted.
//   - The container terminations that Kubernetes records only in pod status
//     (OOMKilled, error exits, restarts) as events (agent/statusevents).
//
// Topology keys go through client-go's rate-limited workqueue: a burst of
// updates to one object is published once with its latest state, and a
// failed publish is retried with backoff. Everything reaches the Sink in
// one ordered stream; while Kafka is down the stream waits and retries, so
// nothing is dropped.
package watch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/kgrca/kgplane/agent/publish"
	"github.com/kgrca/kgplane/agent/statusevents"
	"github.com/kgrca/kgplane/agent/topology"
	"github.com/kgrca/kgplane/scenario"
)

// Config configures a Watcher.
type Config struct {
	Client kubernetes.Interface
	Sink   publish.Sink
	Log    *slog.Logger
	// Resync is the informers' resync period (0: none). A resync republishes
	// nothing that did not change.
	Resync time.Duration
	// CoreEvents and EventsV1 choose the Event APIs watched (both when
	// neither is set).
	CoreEvents, EventsV1 bool
	// Workers process topology keys (default 2).
	Workers int
	// Batch and Linger shape the stream to the Sink (default 500 records,
	// 100 ms).
	Batch  int
	Linger time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// ref names one topology object in the workqueue.
type ref struct{ kind, namespace, name string }

func (r ref) key() string { return topology.Key(r.kind, r.namespace, r.name) }

// Watcher watches one cluster.
type Watcher struct {
	cfg     Config
	log     *slog.Logger
	factory informers.SharedInformerFactory
	queue   workqueue.TypedRateLimitingInterface[ref]
	out     chan scenario.Record
	stopped chan struct{} // closed when Run ends: emit stops waiting
	// published is the hash of what was last published per topology key,
	// so a resync or a status-only update republishes nothing.
	mu        sync.Mutex
	published map[string]uint64
	// seenEvents maps an Event uid to the resourceVersion last published,
	// across both Event APIs.
	seenEvents map[string]string
	listers    listers
}

type listers struct {
	pods        func(ns, name string) (*corev1.Pod, error)
	nodes       func(name string) (*corev1.Node, error)
	services    func(ns, name string) (*corev1.Service, error)
	slices      func(ns string, sel labels.Selector) ([]*discoveryv1.EndpointSlice, error)
	meta        map[string]func(ns, name string) (*metav1.ObjectMeta, error)
	hasSyncedFn []cache.InformerSynced
}

// New builds a Watcher; Run starts it.
func New(cfg Config) (*Watcher, error) {
	if cfg.Client == nil || cfg.Sink == nil {
		return nil, errors.New("watch: a Kubernetes client and a sink are required")
	}
	if !cfg.CoreEvents && !cfg.EventsV1 {
		cfg.CoreEvents, cfg.EventsV1 = true, true
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 2
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 500
	}
	if cfg.Linger <= 0 {
		cfg.Linger = 100 * time.Millisecond
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	w := &Watcher{cfg: cfg, log: log,
		factory:    informers.NewSharedInformerFactory(cfg.Client, cfg.Resync),
		queue:      workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[ref](), workqueue.TypedRateLimitingQueueConfig[ref]{Name: "kg-agent-topology"}),
		out:        make(chan scenario.Record, 4096),
		stopped:    make(chan struct{}),
		published:  map[string]uint64{},
		seenEvents: map[string]string{},
	}
	if err := w.register(); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *Watcher) register() error {
	f := w.factory
	core, apps, batch := f.Core().V1(), f.Apps().V1(), f.Batch().V1()
	pods, nodes, svcs, eps := core.Pods(), core.Nodes(), core.Services(), f.Discovery().V1().EndpointSlices()
	w.listers = listers{
		pods:     func(ns, n string) (*corev1.Pod, error) { return pods.Lister().Pods(ns).Get(n) },
		nodes:    func(n string) (*corev1.Node, error) { return nodes.Lister().Get(n) },
		services: func(ns, n string) (*corev1.Service, error) { return svcs.Lister().Services(ns).Get(n) },
		slices: func(ns string, sel labels.Selector) ([]*discoveryv1.EndpointSlice, error) {
			return eps.Lister().EndpointSlices(ns).List(sel)
		},
		meta: map[string]func(ns, name string) (*metav1.ObjectMeta, error){
			"ReplicaSet": func(ns, n string) (*metav1.ObjectMeta, error) {
				o, err := apps.ReplicaSets().Lister().ReplicaSets(ns).Get(n)
				return metaOf(o, err)
			},
			"Deployment": func(ns, n string) (*metav1.ObjectMeta, error) {
				o, err := apps.Deployments().Lister().Deployments(ns).Get(n)
				return metaOf(o, err)
			},
			"StatefulSet": func(ns, n string) (*metav1.ObjectMeta, error) {
				o, err := apps.StatefulSets().Lister().StatefulSets(ns).Get(n)
				return metaOf(o, err)
			},
			"DaemonSet": func(ns, n string) (*metav1.ObjectMeta, error) {
				o, err := apps.DaemonSets().Lister().DaemonSets(ns).Get(n)
				return metaOf(o, err)
			},
			"Job": func(ns, n string) (*metav1.ObjectMeta, error) {
				o, err := batch.Jobs().Lister().Jobs(ns).Get(n)
				return metaOf(o, err)
			},
		},
	}
	type informer struct {
		kind string
		inf  cache.SharedIndexInformer
	}
	topo := []informer{
		{"Node", nodes.Informer()}, {"Service", svcs.Informer()},
		{"ReplicaSet", apps.ReplicaSets().Informer()}, {"Deployment", apps.Deployments().Informer()},
		{"StatefulSet", apps.StatefulSets().Informer()}, {"DaemonSet", apps.DaemonSets().Informer()},
		{"Job", batch.Jobs().Informer()},
	}
	for _, i := range topo {
		kind := i.kind
		if _, err := i.inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { w.enqueue(kind, obj) },
			UpdateFunc: func(_, obj any) { w.enqueue(kind, obj) },
			DeleteFunc: func(obj any) { w.enqueue(kind, obj) },
		}); err != nil {
			return fmt.Errorf("watching %ss: %w", kind, err)
		}
		w.listers.hasSyncedFn = append(w.listers.hasSyncedFn, i.inf.HasSynced)
	}
	// Pods: topology and status events.
	if _, err := pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			w.enqueue("Pod", obj)
			if p, ok := obj.(*corev1.Pod); ok {
				w.statusEvents(nil, p)
			}
		},
		UpdateFunc: func(old, obj any) {
			w.enqueue("Pod", obj)
			op, ok1 := old.(*corev1.Pod)
			np, ok2 := obj.(*corev1.Pod)
			if ok1 && ok2 && op.ResourceVersion != np.ResourceVersion {
				w.statusEvents(op, np)
			}
		},
		DeleteFunc: func(obj any) { w.enqueue("Pod", obj) },
	}); err != nil {
		return fmt.Errorf("watching pods: %w", err)
	}
	w.listers.hasSyncedFn = append(w.listers.hasSyncedFn, pods.Informer().HasSynced)
	// EndpointSlices change their Service's selects.
	sliceToService := func(obj any) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		if es, ok := obj.(*discoveryv1.EndpointSlice); ok {
			if svc := es.Labels[topology.ServiceNameLabel]; svc != "" {
				w.queue.Add(ref{"Service", es.Namespace, svc})
			}
		}
	}
	if _, err := eps.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: sliceToService, UpdateFunc: func(_, obj any) { sliceToService(obj) }, DeleteFunc: sliceToService,
	}); err != nil {
		return fmt.Errorf("watching endpointslices: %w", err)
	}
	w.listers.hasSyncedFn = append(w.listers.hasSyncedFn, eps.Informer().HasSynced)
	// Events.
	if w.cfg.CoreEvents {
		inf := core.Events().Informer()
		if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc: w.coreEvent, UpdateFunc: func(_, obj any) { w.coreEvent(obj) }, DeleteFunc: w.forgetEvent,
		}); err != nil {
			return fmt.Errorf("watching core/v1 events: %w", err)
		}
		w.listers.hasSyncedFn = append(w.listers.hasSyncedFn, inf.HasSynced)
	}
	if w.cfg.EventsV1 {
		inf := f.Events().V1().Events().Informer()
		if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc: w.eventsV1Event, UpdateFunc: func(_, obj any) { w.eventsV1Event(obj) }, DeleteFunc: w.forgetEvent,
		}); err != nil {
			return fmt.Errorf("watching events.k8s.io/v1 events: %w", err)
		}
		w.listers.hasSyncedFn = append(w.listers.hasSyncedFn, inf.HasSynced)
	}
	return nil
}

func metaOf[T interface{ GetObjectMeta() metav1.Object }](o T, err error) (*metav1.ObjectMeta, error) {
	if err != nil {
		return nil, err
	}
	m, ok := o.GetObjectMeta().(*metav1.ObjectMeta)
	if !ok {
		return nil, fmt.Errorf("unexpected object meta %T", o.GetObjectMeta())
	}
	return m, nil
}

func (w *Watcher) enqueue(kind string, obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	m, ok := obj.(metav1.Object)
	if !ok {
		return
	}
	ns := m.GetNamespace()
	if kind == "Node" {
		ns = ""
	}
	w.queue.Add(ref{kind, ns, m.GetName()})
}

// Run starts the informers and publishes until ctx ends. It returns an
// error only when the caches cannot sync (e.g. the agent may not list
// what it watches: see the RBAC rules in docs/agent.md).
func (w *Watcher) Run(ctx context.Context) error {
	defer w.queue.ShutDown()
	go func() { <-ctx.Done(); close(w.stopped) }()
	pubDone := make(chan struct{})
	go func() { defer close(pubDone); w.publishLoop(ctx) }()
	w.factory.Start(ctx.Done())
	defer w.factory.Shutdown()
	w.log.Info("waiting for the informers' caches to sync")
	if !cache.WaitForCacheSync(ctx.Done(), w.listers.hasSyncedFn...) {
		if ctx.Err() != nil {
			<-pubDone
			return nil
		}
		return errors.New("the informers' caches did not sync: can the agent list and watch pods, nodes, services, endpointslices, replicasets, deployments, statefulsets, daemonsets, jobs and events? (docs/agent.md, RBAC)")
	}
	w.log.Info("caches synced; publishing changes", "topology_keys", w.queue.Len())
	var wg sync.WaitGroup
	for range w.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for w.processNext(ctx) {
			}
		}()
	}
	<-ctx.Done()
	w.queue.ShutDown()
	wg.Wait()
	<-pubDone
	return nil
}

func (w *Watcher) processNext(ctx context.Context) bool {
	r, quit := w.queue.Get()
	if quit {
		return false
	}
	defer w.queue.Done(r)
	rec, err := w.topologyRecord(r)
	if err != nil {
		w.log.Warn("building a topology record; retrying", "key", r.key(), "err", err)
		w.queue.AddRateLimited(r)
		return true
	}
	w.queue.Forget(r)
	if w.changed(rec) {
		select {
		case w.out <- rec:
		case <-ctx.Done():
		}
	}
	return true
}

// topologyRecord is the current record of r from the caches, or its
// tombstone when the object is gone.
func (w *Watcher) topologyRecord(r ref) (scenario.Record, error) {
	var rec topology.Record
	var err error
	switch r.kind {
	case "Pod":
		var p *corev1.Pod
		if p, err = w.listers.pods(r.namespace, r.name); err == nil {
			rec = topology.Pod(p)
		}
	case "Node":
		var n *corev1.Node
		if n, err = w.listers.nodes(r.name); err == nil {
			rec = topology.Node(n)
		}
	case "Service":
		var s *corev1.Service
		if s, err = w.listers.services(r.namespace, r.name); err == nil {
			var es []*discoveryv1.EndpointSlice
			es, err = w.listers.slices(r.namespace, labels.SelectorFromSet(labels.Set{topology.ServiceNameLabel: r.name}))
			rec = topology.Service(s, es)
		}
	default:
		get, ok := w.listers.meta[r.kind]
		if !ok {
			return scenario.Record{}, fmt.Errorf("unknown kind %s", r.kind)
		}
		var m *metav1.ObjectMeta
		if m, err = get(r.namespace, r.name); err == nil {
			rec = topology.Workload(r.kind, m)
		}
	}
	if apierrors.IsNotFound(err) {
		return topology.Tombstone(r.kind, r.namespace, r.name), nil
	}
	if err != nil {
		return scenario.Record{}, err
	}
	return rec.Scenario(), nil
}

// changed reports whether rec differs from what was last published for its
// key, and remembers it.
func (w *Watcher) changed(rec scenario.Record) bool {
	h := fnv.New64a()
	h.Write(rec.Value)
	sum := h.Sum64()
	if rec.Tombstone() {
		sum = 0
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	prev, seen := w.published[rec.Key]
	if rec.Tombstone() {
		if !seen {
			return false // never published: nothing to delete downstream
		}
		delete(w.published, rec.Key)
		return true
	}
	if seen && prev == sum {
		return false
	}
	w.published[rec.Key] = sum
	return true
}

func (w *Watcher) statusEvents(old, cur *corev1.Pod) {
	for _, e := range statusevents.Events(old, cur, w.cfg.Now()) {
		v, err := json.Marshal(e)
		if err != nil {
			w.log.Error("encoding a status event", "err", err)
			continue
		}
		w.emit(scenario.Record{Topic: scenario.TopicEvents, Key: string(e.UID), Value: v})
	}
}

func (w *Watcher) coreEvent(obj any) {
	e, ok := obj.(*corev1.Event)
	if !ok || !w.firstView(string(e.UID), e.ResourceVersion) {
		return
	}
	c := e.DeepCopy()
	c.TypeMeta = metav1.TypeMeta{Kind: "Event", APIVersion: "v1"}
	c.ManagedFields = nil
	w.emitEvent(string(c.UID), c)
}

func (w *Watcher) eventsV1Event(obj any) {
	e, ok := obj.(*eventsv1.Event)
	if !ok || !w.firstView(string(e.UID), e.ResourceVersion) {
		return
	}
	c := e.DeepCopy()
	c.TypeMeta = metav1.TypeMeta{Kind: "Event", APIVersion: "events.k8s.io/v1"}
	c.ManagedFields = nil
	w.emitEvent(string(c.UID), c)
}

func (w *Watcher) emitEvent(uid string, v any) {
	if uid == "" {
		return // the normalizer needs an id; an API object always has one
	}
	b, err := json.Marshal(v)
	if err != nil {
		w.log.Error("encoding an event", "err", err)
		return
	}
	w.emit(scenario.Record{Topic: scenario.TopicEvents, Key: uid, Value: b})
}

// firstView: the (uid, resourceVersion) was not published yet through
// either Event API (nor by a resync).
func (w *Watcher) firstView(uid, rv string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.seenEvents[uid] == rv {
		return false
	}
	w.seenEvents[uid] = rv
	return true
}

func (w *Watcher) forgetEvent(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	if m, ok := obj.(metav1.Object); ok {
		w.mu.Lock()
		delete(w.seenEvents, string(m.GetUID()))
		w.mu.Unlock()
	}
}

// emit queues a record for the publisher; it blocks while the stream is
// full (Kafka down), which holds the informers back instead of dropping.
func (w *Watcher) emit(r scenario.Record) {
	select {
	case w.out <- r:
	case <-w.stopped:
	}
}

// publishLoop sends the stream to the Sink in batches, retrying a failed
// batch with backoff until it is acknowledged or ctx ends.
func (w *Watcher) publishLoop(ctx context.Context) {
	var batch []scenario.Record
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	flush := func() {
		backoff := 500 * time.Millisecond
		for attempt := 1; len(batch) > 0; attempt++ {
			err := w.cfg.Sink.Publish(ctx, batch)
			if err == nil {
				batch = batch[:0]
				return
			}
			if ctx.Err() != nil {
				return
			}
			w.log.Warn("publishing failed; retrying", "records", len(batch), "attempt", attempt, "retry_in", backoff, "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 30*time.Second)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case r := <-w.out:
			if len(batch) == 0 {
				timer.Reset(w.cfg.Linger)
			}
			batch = append(batch, r)
			if len(batch) >= w.cfg.Batch {
				timer.Stop()
				flush()
			}
		case <-timer.C:
			flush()
		}
	}
}

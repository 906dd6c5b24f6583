package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kgrca/kgplane/agent/watch"
)

const runHelp = `watch a Kubernetes cluster and publish what kgplane needs, until interrupted.

What it publishes, for the client given by --client:
  raw.k8s.events      every Event of both APIs (core/v1 and events.k8s.io/v1,
                      each object once), and an event for every container
                      termination that only shows in pod status (OOMKilled, an
                      error exit, a restart), reason = the termination reason
  state.k8s.topology  Pods, Nodes, Services (EndpointSlices resolved to the pods
                      they select), ReplicaSets, Deployments, StatefulSets,
                      DaemonSets, Jobs: their node, owners, selected pods, IPs
                      and the claims, ConfigMaps and Secrets a pod uses; a
                      tombstone when one is deleted

What it does not publish: container logs. Ship them with Vector
(kubernetes_logs source) or Fluent Bit (tail + kubernetes filter) straight to
raw.k8s.logs with the key <client>::log::<uid>; docs/normalization.md has both
configurations.

It registers the client first (cluster name and Kubernetes version from the
cluster), heartbeats every 30 s, and waits and retries while Kafka is down
(nothing is dropped; the heartbeats resume as soon as Kafka answers). The
cluster comes from --kubeconfig, else KUBECONFIG, else ~/.kube/config, else the
in-cluster service account. It needs get/list/watch on the kinds above and on
events (docs/agent.md has the ClusterRole).

Example:
  kg-agent run --client af-9 --kubeconfig ~/.kube/config --deregister-on-exit`

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("run", runHelp, stderr)
	var conn connFlags
	var pres presenceFlags
	conn.add(fs)
	pres.add(fs, "")
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig file (default: KUBECONFIG, ~/.kube/config, then in-cluster)")
	kubeContext := fs.String("context", "", "kubeconfig context (default: its current context)")
	resync := fs.Duration("resync", 30*time.Minute, "informer resync period; a resync republishes only what changed")
	eventAPIs := fs.String("event-apis", "core,events", "Event APIs to watch: core (core/v1), events (events.k8s.io/v1) or both")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := conn.checkClient(); err != nil {
		return err
	}
	var coreEv, v1Ev bool
	for _, a := range strings.Split(*eventAPIs, ",") {
		switch strings.TrimSpace(a) {
		case "core":
			coreEv = true
		case "events":
			v1Ev = true
		default:
			return fmt.Errorf("--event-apis %q: want core, events or core,events", *eventAPIs)
		}
	}
	log, err := conn.logger(stderr)
	if err != nil {
		return err
	}
	cfg, clusterName, err := kubeConfig(*kubeconfig, *kubeContext)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("building the Kubernetes client: %w", err)
	}
	version := pres.k8sVersion
	if version == "" {
		v, err := client.Discovery().ServerVersion()
		if err != nil {
			return fmt.Errorf("asking the cluster at %s for its version (is the kubeconfig right, is the cluster up?): %w", cfg.Host, err)
		}
		version = v.GitVersion
		pres.k8sVersion = version
	}
	if pres.clusterName == "" {
		pres.clusterName = clusterName
	}
	log.Info("watching cluster", "server", cfg.Host, "cluster", pres.clusterName, "version", version)
	s, err := startSession(ctx, &conn, &pres, "kg-agent run", map[string]string{"server": cfg.Host}, log, true)
	if err != nil {
		return err
	}
	defer s.close()
	w, err := watch.New(watch.Config{Client: client, Sink: s.pub, Log: log, Resync: *resync, CoreEvents: coreEv, EventsV1: v1Ev})
	if err != nil {
		return err
	}
	if err := w.Run(ctx); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// kubeConfig loads the REST config: an explicit file, KUBECONFIG,
// ~/.kube/config, or the in-cluster service account. It returns the
// cluster's name from the kubeconfig context ("in-cluster" otherwise).
func kubeConfig(path, context string) (*rest.Config, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if path != "" {
		if _, err := os.Stat(path); err != nil {
			return nil, "", fmt.Errorf("--kubeconfig: %w", err)
		}
		rules.ExplicitPath = path
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: context})
	cfg, err := cc.ClientConfig()
	if err != nil {
		if clientcmd.IsEmptyConfig(err) {
			return nil, "", errors.New("no Kubernetes cluster configured: pass --kubeconfig, set KUBECONFIG, or run kg-agent inside the cluster")
		}
		return nil, "", fmt.Errorf("loading the kubeconfig: %w", err)
	}
	name := "in-cluster"
	if raw, err := cc.RawConfig(); err == nil {
		ctxName := raw.CurrentContext
		if context != "" {
			ctxName = context
		}
		if c, ok := raw.Contexts[ctxName]; ok && c.Cluster != "" {
			name = c.Cluster
		}
	}
	cfg.UserAgent = "kg-agent"
	return cfg, name, nil
}

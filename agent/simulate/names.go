package simulate

import (
	"fmt"
	"strings"
)

// The pools the simulated clusters draw their names from: what real
// clusters are full of, so a ranking cannot lean on one naming scheme.

var namespacePool = []string{
	"shop", "checkout", "payments", "orders", "catalog", "storefront", "web", "api", "backend",
	"platform", "identity", "accounts", "search", "media", "notifications", "billing", "inventory",
	"logistics", "analytics", "reporting", "booking", "crm", "marketplace", "prod", "production",
	"apps", "services", "core", "commerce", "team-a", "team-payments", "data", "streaming",
}

// appSpec is one kind of service a namespace can run.
type appSpec struct {
	name  string
	lang  string // go, java, python, node, nginx
	port  int
	front bool // user-facing (an operator would ask about it)
}

var frontPool = []appSpec{
	{"frontend", "node", 8080, true}, {"web", "node", 3000, true}, {"storefront", "java", 8080, true},
	{"api-gateway", "go", 8080, true}, {"webapp", "python", 8000, true}, {"portal", "java", 8080, true},
	{"mobile-bff", "node", 8080, true}, {"public-api", "go", 8080, true}, {"checkout-ui", "node", 3000, true},
	{"edge-proxy", "nginx", 80, true}, {"admin-console", "python", 8000, true}, {"graphql", "node", 4000, true},
}

var backendPool = []appSpec{
	{"cart", "go", 8080, false}, {"checkout", "java", 8080, false}, {"payment", "java", 8443, false},
	{"payment-gateway", "go", 8080, false}, {"inventory", "python", 8000, false}, {"catalog", "java", 8080, false},
	{"recommendation", "python", 8080, false}, {"search-api", "go", 9200, false}, {"user-service", "java", 8080, false},
	{"auth", "go", 8080, false}, {"orders", "java", 8080, false}, {"order-service", "go", 8080, false},
	{"shipping", "go", 50051, false}, {"pricing", "python", 8000, false}, {"reviews", "node", 3000, false},
	{"currency", "node", 7000, false}, {"ad-service", "java", 9555, false}, {"notification", "python", 8080, false},
	{"email-sender", "python", 8080, false}, {"accounts", "java", 8080, false}, {"billing", "go", 8080, false},
	{"quote", "python", 8090, false}, {"product-catalog", "go", 3550, false}, {"loyalty", "java", 8080, false},
	{"session", "go", 8080, false}, {"profile", "node", 8080, false}, {"invoice", "java", 8080, false},
	{"fraud-check", "python", 8080, false}, {"media-transcoder", "go", 8080, false}, {"geo", "go", 8080, false},
}

// storeSpec is a datastore: a StatefulSet with a volume and a Service.
type storeSpec struct {
	name  string
	kind  string // postgres, mysql, redis, mongodb, rabbitmq, elasticsearch
	port  int
	image string
}

var storePool = []storeSpec{
	{"postgres", "postgres", 5432, "postgres:16.4"}, {"orders-db", "postgres", 5432, "postgres:15.8"},
	{"pg-main", "postgres", 5432, "bitnami/postgresql:16.4.0"}, {"mysql", "mysql", 3306, "mysql:8.0.39"},
	{"catalog-db", "mysql", 3306, "mysql:8.4.2"}, {"redis", "redis", 6379, "redis:7.2.5"},
	{"session-cache", "redis", 6379, "redis:7.4.0"}, {"cache", "redis", 6379, "bitnami/redis:7.2.5"},
	{"mongodb", "mongodb", 27017, "mongo:7.0.12"}, {"rabbitmq", "rabbitmq", 5672, "rabbitmq:3.13-management"},
	{"elasticsearch", "elasticsearch", 9200, "docker.elastic.co/elasticsearch/elasticsearch:8.15.0"},
}

var jobPool = []string{"db-migrate", "nightly-report", "cleanup-orphans", "reindex-search", "export-invoices",
	"sync-inventory", "backup-verify", "send-digest", "rebuild-cache", "data-import"}

var registryPool = []string{"registry.example.com", "ghcr.io/acme", "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
	"europe-docker.pkg.dev/acme-prod/apps", "quay.io/acme", "harbor.internal.acme.io/prod", "acmeprod.azurecr.io"}

// clusterStyle is how a provider names nodes and which address ranges it uses.
type clusterStyle struct {
	name       string
	podCIDR    [2]int // first two octets of pod IPs
	svcPrefix  string // service IPs: prefix + "x.y"
	dnsIP      string
	cpNode     string
	nodeName   func(g *rng, i int, cluster string) string
	instances  []string
	zones      []string
	k8sVersion []string
}

var styles = []clusterStyle{
	{name: "eks", podCIDR: [2]int{10, 0}, svcPrefix: "172.20.", dnsIP: "172.20.0.10", cpNode: "",
		nodeName: func(g *rng, i int, _ string) string {
			return fmt.Sprintf("ip-10-0-%d-%d.eu-west-1.compute.internal", g.between(1, 190), g.between(2, 254))
		},
		instances: []string{"m5.xlarge", "m6i.2xlarge", "c6i.xlarge", "r6i.large"}, zones: []string{"eu-west-1a", "eu-west-1b", "eu-west-1c"},
		k8sVersion: []string{"v1.30.4-eks-a737599", "v1.31.2-eks-7f9249a", "v1.29.8-eks-a737599"}},
	{name: "gke", podCIDR: [2]int{10, 28}, svcPrefix: "34.118.", dnsIP: "34.118.224.10", cpNode: "",
		nodeName: func(g *rng, i int, cluster string) string {
			return fmt.Sprintf("gke-%s-default-pool-%s-%s", cluster, g.hex(8), g.suffix(4))
		},
		instances: []string{"e2-standard-4", "n2-standard-8", "e2-highmem-4"}, zones: []string{"europe-west4-a", "europe-west4-b"},
		k8sVersion: []string{"v1.30.5-gke.1014001", "v1.31.1-gke.1678000"}},
	{name: "aks", podCIDR: [2]int{10, 244}, svcPrefix: "10.0.", dnsIP: "10.0.0.10", cpNode: "",
		nodeName: func(g *rng, i int, _ string) string {
			return fmt.Sprintf("aks-nodepool1-%d-vmss%06d", 10000000+g.intn(89999999), i)
		},
		instances: []string{"Standard_D4s_v5", "Standard_D8s_v5"}, zones: []string{"westeurope-1", "westeurope-2", "westeurope-3"},
		k8sVersion: []string{"v1.30.4", "v1.29.9"}},
	{name: "kubeadm", podCIDR: [2]int{10, 244}, svcPrefix: "10.96.", dnsIP: "10.96.0.10", cpNode: "k8s-master-1",
		nodeName: func(g *rng, i int, _ string) string {
			return fmt.Sprintf("%s-%02d", pick(g, []string{"k8s-worker", "worker", "node", "k8s-node"}), i+1)
		},
		instances: []string{"bare-metal"}, zones: []string{"dc1"},
		k8sVersion: []string{"v1.31.3", "v1.30.7", "v1.28.15"}},
}

// clusterNames name the cluster in GKE node names and the registration.
var clusterNames = []string{"prod", "prod-eu", "main", "shop-prod", "platform", "live", "primary", "blue"}

func imageName(g *rng, registry, app string) string {
	return fmt.Sprintf("%s/%s:%d.%d.%d", registry, app, g.between(1, 4), g.between(0, 30), g.between(0, 12))
}

// bumpVersion returns the image with a later tag (a rollout).
func bumpVersion(g *rng, image string) string {
	i := strings.LastIndexByte(image, ':')
	return fmt.Sprintf("%s:%d.%d.%d", image[:i], g.between(2, 5), g.between(0, 30), g.between(0, 12))
}

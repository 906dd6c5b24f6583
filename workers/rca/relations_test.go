package rca

import (
	"slices"
	"strings"
	"testing"
)

func TestRelations(t *testing.T) {
	links := []Link{
		{"Pod/web/front-1", "RUNS_ON", "Node//n1"},
		{"Pod/web/front-1", "OWNED_BY", "ReplicaSet/web/front-7d"},
		{"Pod/web/front-2", "OWNED_BY", "ReplicaSet/web/front-7d"},
		{"ReplicaSet/web/front-7d", "OWNED_BY", "Deployment/web/front"},
		{"Pod/web/front-1", "USES", "Secret/web/tls"},
		{"Pod/web/front-1", "CALLS", "Service/shop/cart"},
		{"Service/shop/cart", "SELECTS", "Pod/shop/cart-1"},
		{"Service/web/front", "SELECTS", "Pod/web/front-1"},
		{"Service/web/front", "SELECTS", "Pod/web/front-2"},
		{"Pod/web/front-1", "RUNS_ON", "Node//n1"}, // twice: once
	}
	var got []string
	for _, r := range Relations(links) {
		got = append(got, r.From+" -"+string(r.Kind)+"-> "+r.To)
	}
	slices.Sort(got)
	want := []string{
		"Deployment/web/front -owner-> Pod/web/front-1",
		"Deployment/web/front -owner-> Pod/web/front-2",
		"Deployment/web/front -owner-> ReplicaSet/web/front-7d",
		"Node//n1 -node-> Pod/web/front-1",
		"Pod/shop/cart-1 -backend-> Service/shop/cart",
		"Pod/shop/cart-1 -calls-> Pod/web/front-1",
		"Pod/web/front-1 -backend-> Service/web/front",
		"Pod/web/front-1 -peer-> Pod/web/front-2",
		"Pod/web/front-1 -sibling-> Pod/web/front-2",
		"Pod/web/front-2 -backend-> Service/web/front",
		"Pod/web/front-2 -peer-> Pod/web/front-1",
		"Pod/web/front-2 -sibling-> Pod/web/front-1",
		"ReplicaSet/web/front-7d -owner-> Pod/web/front-1",
		"ReplicaSet/web/front-7d -owner-> Pod/web/front-2",
		"Secret/web/tls -uses-> Pod/web/front-1",
		"Service/shop/cart -calls-> Pod/web/front-1",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("relations:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(want, "\n     "))
	}
}

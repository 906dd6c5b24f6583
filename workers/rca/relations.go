package rca

// Link is one relationship between two resources as the graph stores it:
// (From)-[Type]->(To), Type one of RUNS_ON, OWNED_BY, USES, CALLS, SELECTS.
type Link struct {
	From, Type, To string
}

// Relations turns the graph's relationships into what they mean for
// causality: which resource's events may cause which resource's events, and
// through what. (Kubernetes knowledge: a Node affects the pods that run on
// it; an owner — a controller — the resources it owns, and through them their
// siblings; a PersistentVolumeClaim, ConfigMap or Secret the pods that use
// it; a called Service and the pods it selects their callers; a Service's
// pods the Service; pods behind one Service each other, weakly.)
func Relations(links []Link) []Relation {
	var out []Relation
	seen := map[Relation]bool{}
	add := func(from, to string, k RelKind) {
		r := Relation{From: from, To: to, Kind: k}
		if from != to && !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	owners := map[string][]string{}  // owned → owners
	owned := map[string][]string{}   // owner → owned
	selects := map[string][]string{} // Service → selected
	selectedBy := map[string][]string{}
	var calls []Link
	uniq := map[Link]bool{}
	for _, l := range links {
		if uniq[l] {
			continue
		}
		uniq[l] = true
		switch l.Type {
		case "RUNS_ON":
			add(l.To, l.From, RelNode)
		case "OWNED_BY":
			add(l.To, l.From, RelOwner)
			owners[l.From] = append(owners[l.From], l.To)
			owned[l.To] = append(owned[l.To], l.From)
		case "USES":
			add(l.To, l.From, RelUses)
		case "CALLS":
			add(l.To, l.From, RelCalls)
			calls = append(calls, l)
		case "SELECTS":
			add(l.To, l.From, RelBackend)
			selects[l.From] = append(selects[l.From], l.To)
			selectedBy[l.To] = append(selectedBy[l.To], l.From)
		}
	}
	// Through one intermediate: the owner's owner (Deployment → ReplicaSet →
	// Pod), siblings, the pods behind a called Service, peers behind a Service.
	for child, os := range owners {
		for _, o := range os {
			for _, grand := range owners[o] {
				add(grand, child, RelOwner)
			}
			for _, sib := range owned[o] {
				add(sib, child, RelSibling)
			}
		}
	}
	for _, c := range calls {
		for _, p := range selects[c.To] {
			add(p, c.From, RelCalls)
		}
	}
	for pod, svcs := range selectedBy {
		for _, s := range svcs {
			for _, peer := range selects[s] {
				add(peer, pod, RelPeer)
			}
		}
	}
	return out
}

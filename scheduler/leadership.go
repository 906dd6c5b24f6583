package scheduler

import (
	"context"
	"errors"
)

// Leader is how the controller learns whether it may act. With several planes
// for one registry, exactly one leads; the others follow the same topics and
// keep their state, ready to take over (package scheduler/election elects
// through Kafka group membership, which works with every backend). A nil
// Leader in Config means this plane is the only one and always leads.
type Leader interface {
	// Acquire blocks until this plane leads (or ctx ends) and returns the
	// term: its number, which grows with every new leader, and a context
	// that ends when the term does.
	Acquire(ctx context.Context) (Term, error)
	// Held reports whether the term can still be proven at this instant; the
	// controller checks it right before every Nomad write, so a paused
	// leader that resumes after another has taken over writes nothing.
	Held(term int64) bool
	// Status says who leads, for /readyz and /v1/clients.
	Status() LeaderStatus
}

// Term is one period of leadership.
type Term struct {
	ID  int64
	Ctx context.Context
}

// LeaderStatus is the election as one plane sees it.
type LeaderStatus struct {
	Self    string `json:"self"`              // this plane instance
	Leading bool   `json:"leading"`           // this instance leads now
	Term    int64  `json:"term,omitempty"`    // the term this instance leads in
	Leader  string `json:"leader,omitempty"`  // the instance that leads, as far as known
	Members int    `json:"members,omitempty"` // planes in the election
}

// ErrNotLeader is returned instead of a Nomad write when this plane cannot
// prove that it leads.
var ErrNotLeader = errors.New("this control plane does not hold the leadership (another plane leads, or its lease could not be renewed)")

// soloLeader is the single plane: it always leads, in term 1.
type soloLeader struct{ self string }

func (s soloLeader) Acquire(ctx context.Context) (Term, error) { return Term{ID: 1, Ctx: ctx}, nil }
func (s soloLeader) Held(int64) bool                           { return true }
func (s soloLeader) Status() LeaderStatus {
	return LeaderStatus{Self: s.self, Leading: true, Term: 1, Leader: s.self, Members: 1}
}

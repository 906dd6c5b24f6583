// Package clientid validates kgplane client ids.
//
// A client id is used unchanged as a Neo4j database name, a Nomad job id suffix,
// part of a Kafka consumer group id and a DNS label, so it is checked once where it
// enters (registry, CLI, worker env) and trusted everywhere after.
package clientid

import (
	"fmt"
	"regexp"
)

// Pattern is the contract's client id grammar: 3–63 characters, lowercase letters,
// digits and hyphens, starting with a letter and not ending with a hyphen.
const Pattern = `^[a-z][a-z0-9-]{1,61}[a-z0-9]$`

var re = regexp.MustCompile(Pattern)

// Validate returns nil when id is a valid client id, and otherwise an error that
// says which rule it breaks.
func Validate(id string) error {
	if re.MatchString(id) {
		return nil
	}
	return &InvalidError{ID: id, Reason: reason(id)}
}

// InvalidError reports a rejected client id and why.
type InvalidError struct {
	ID     string
	Reason string
}

func (e *InvalidError) Error() string {
	return fmt.Sprintf("invalid client id %q: %s (want %s)", truncate(e.ID, 80), e.Reason, Pattern)
}

func reason(id string) string {
	switch {
	case id == "":
		return "empty"
	case len(id) < 3:
		return "shorter than 3 characters"
	case len(id) > 63:
		return fmt.Sprintf("%d bytes long, the limit is 63", len(id))
	case id[0] < 'a' || id[0] > 'z':
		return "must start with a lowercase letter"
	case id[len(id)-1] == '-':
		return "must not end with a hyphen"
	}
	for i, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return fmt.Sprintf("character %q at offset %d is not a lowercase letter, digit or hyphen", r, i)
		}
	}
	return "does not match the pattern"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

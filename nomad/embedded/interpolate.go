package embedded

import (
	"regexp"
	"strings"
)

// runtimeRef matches a runtime interpolation left in a job by its HCL
// evaluation: ${NOMAD_PORT_http}, ${node.unique.name}, ${attr.kernel.name},
// ${meta.rack}. The same pattern Nomad's client uses (helper/args).
var runtimeRef = regexp.MustCompile(`\$\{[a-zA-Z0-9_\-\.]+\}`)

// interpolate fills in the runtime references of s from vars (the task's
// environment and the node's attributes). Like Nomad, a reference it cannot
// resolve is left as it is.
func interpolate(s string, vars map[string]string) string {
	if !strings.Contains(s, "${") {
		return s
	}
	return runtimeRef.ReplaceAllStringFunc(s, func(ref string) string {
		if v, ok := vars[ref[2:len(ref)-1]]; ok {
			return v
		}
		return ref
	})
}

package config

import (
	"regexp"
	"slices"
	"strings"
)

// TestEnvPrefix starts the environment variables of the integration tests'
// harness (MIMC_BRIDGE_IT_BROKERS, MIMC_BRIDGE_IT_KAFKA, ...): they choose
// the tests' broker and are read by the tests, never by the bridge, so they
// are not settings and UnknownEnv passes over every name that starts with it.
// No setting's name starts with IT_ (a test keeps it so).
const TestEnvPrefix = EnvPrefix + "IT_"

// serviceLink matches the variables Kubernetes adds to every container for
// each Service of its namespace (service links, on unless the pod sets
// enableServiceLinks: false). The Service of deploy/kubernetes is named
// mimc-bridge, so its links start with MIMC_BRIDGE_: SERVICE_HOST,
// SERVICE_PORT, SERVICE_PORT_HTTP, PORT, PORT_8080_TCP, PORT_8080_TCP_PROTO,
// PORT_8080_TCP_PORT and PORT_8080_TCP_ADDR. No setting's name starts with
// SERVICE_ or PORT (a test keeps it so).
var serviceLink = regexp.MustCompile(`^(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?|PORT|PORT_[0-9]+_(TCP|UDP|SCTP)(_(PROTO|PORT|ADDR))?)$`)

// Unknown is an environment variable that looks like a setting's (its name
// starts with MIMC_BRIDGE_, in any case) but is not one, so it is ignored:
// a typo (MIMC_BRIDGE_KAFKA_TOPIC) or a wrong case (MIMC_BRIDGE_RATE_P2p)
// that leaves the default in force.
type Unknown struct {
	Var     string // the variable as set, e.g. "MIMC_BRIDGE_KAFKA_TOPIC"
	Closest string // the environment variable of the closest setting, e.g. "MIMC_BRIDGE_KAFKA_TOPICS"
}

// String says what is wrong in one line; the variable's value is never
// shown (it may be a secret given under a wrong name).
func (u Unknown) String() string {
	return u.Var + " is not a setting and is ignored: did you mean " + u.Closest + "?"
}

// UnknownEnv returns the unknown variables of environ (as os.Environ gives
// it: "NAME=value" items), each once, sorted by name. Variables set to the
// empty string are passed over, as an empty setting counts as unset; so are
// the integration tests' variables (TestEnvPrefix) and Kubernetes service
// links of a Service named mimc-bridge (see serviceLink). The names are
// compared in upper case, so MIMC_BRIDGE_RATE_P2p is unknown (the bridge
// reads only MIMC_BRIDGE_RATE_P2P) and its closest setting is RATE_P2P.
func UnknownEnv(environ []string) []Unknown {
	var out []Unknown
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		upper := strings.ToUpper(name)
		if value == "" || !strings.HasPrefix(upper, EnvPrefix) || strings.HasPrefix(upper, TestEnvPrefix) {
			continue
		}
		rest := upper[len(EnvPrefix):]
		if serviceLink.MatchString(rest) && name == upper {
			continue
		}
		if name == upper && slices.ContainsFunc(table, func(s setting) bool { return s.name == rest }) {
			continue
		}
		if slices.ContainsFunc(out, func(u Unknown) bool { return u.Var == name }) {
			continue
		}
		out = append(out, Unknown{Var: name, Closest: EnvPrefix + closestSetting(rest)})
	}
	slices.SortFunc(out, func(a, b Unknown) int { return strings.Compare(a.Var, b.Var) })
	return out
}

// closestSetting returns the name of the setting at the least edit distance
// from name (upper case, without the prefix); the first in table order on a
// tie.
func closestSetting(name string) string {
	best, bestDist := "", -1
	for _, s := range table {
		if d := levenshtein(name, s.name); bestDist < 0 || d < bestDist {
			best, bestDist = s.name, d
		}
	}
	return best
}

// levenshtein returns the edit distance (insertions, deletions and
// substitutions of one byte) between a and b.
func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

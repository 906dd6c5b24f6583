#!/usr/bin/env bash
# Runs every Go fuzz target of the module for FUZZTIME each (default 10s).
#   scripts/fuzz.sh                                  # all targets, 10 s each
#   FUZZ_SKIP='MatchesStdlib$' scripts/fuzz.sh       # what `make test` does
#   FUZZTIME=5m scripts/fuzz.sh                      # what `make fuzz` does
#   FUZZTIME=200000x scripts/fuzz.sh                 # a count of inputs instead of a time
# FUZZ_SKIP is a regular expression of target names to leave out.
#
# Go 1.26's fuzz coordinator has a race at the end of a duration -fuzztime
# (golang/go#75804, fixed in Go 1.27): the target fails with a bare
# "context deadline exceeded" although no input failed. That signature (that
# message, and no "Failing input written" line) reruns the target, up to
# FUZZ_RACE_RETRIES times (default 2); every other failure fails the run at once.
# `scripts/fuzz.sh --classify LOG` prints "race" or "failure" for a saved log.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
FUZZTIME=${FUZZTIME:-10s}
FUZZ_SKIP=${FUZZ_SKIP:-}
FUZZ_RACE_RETRIES=${FUZZ_RACE_RETRIES:-2}
log=$(mktemp -t kg-fuzz.XXXXXX)
trap 'rm -f "$log"' EXIT

# coordinator_race LOG: true when LOG is golang/go#75804 and not a failing input.
coordinator_race() {
  grep -q '^    context deadline exceeded$' "$1" && ! grep -q 'Failing input written' "$1"
}

if [ "${1:-}" = --classify ]; then
  if coordinator_race "$2"; then echo race; else echo failure; fi
  exit 0
fi

n=0
for pkg in $(go list ./...); do
  # A package that does not compile must fail the run, not contribute no targets.
  list=$(go test -list '^Fuzz' "$pkg") || { echo "fuzz: cannot list the fuzz targets of $pkg"; exit 1; }
  for target in $(printf '%s\n' "$list" | grep '^Fuzz' || true); do
    if [ -n "$FUZZ_SKIP" ] && printf '%s' "$target" | grep -Eq "$FUZZ_SKIP"; then
      echo "fuzz: $pkg $target skipped here (FUZZ_SKIP); its seed corpus ran with go test"
      continue
    fi
    attempt=0
    while :; do
      echo "fuzz: $pkg $target ($FUZZTIME)"
      if go test -run='^$' -fuzz="^${target}\$" -fuzztime="$FUZZTIME" "$pkg" >"$log" 2>&1; then
        break
      fi
      if coordinator_race "$log" && [ "$attempt" -lt "$FUZZ_RACE_RETRIES" ]; then
        attempt=$((attempt + 1))
        echo "fuzz: $target stopped with Go's fuzztime race (golang/go#75804: no failing input); running it again ($attempt/$FUZZ_RACE_RETRIES)"
        continue
      fi
      cat "$log"
      echo "fuzz: $target found a failure (see testdata/fuzz in $pkg)"
      exit 1
    done
    n=$((n + 1))
  done
done
echo "fuzz: $n targets ran for $FUZZTIME each, no failures"

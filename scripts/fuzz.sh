#!/usr/bin/env bash
# Runs every Go fuzz target of the module for FUZZTIME each (default 10s).
#   scripts/fuzz.sh                                  # all targets, 10 s each
#   FUZZ_SKIP='MatchesStdlib$' scripts/fuzz.sh       # what `make test` does
#   FUZZTIME=5m scripts/fuzz.sh                      # what `make fuzz` does
# FUZZ_SKIP is a regular expression of target names to leave out.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
FUZZTIME=${FUZZTIME:-10s}
FUZZ_SKIP=${FUZZ_SKIP:-}
n=0
for pkg in $(go list ./...); do
  # A package that does not compile must fail the run, not contribute no targets.
  list=$(go test -list '^Fuzz' "$pkg") || { echo "fuzz: cannot list the fuzz targets of $pkg"; exit 1; }
  for target in $(printf '%s\n' "$list" | grep '^Fuzz' || true); do
    if [ -n "$FUZZ_SKIP" ] && printf '%s' "$target" | grep -Eq "$FUZZ_SKIP"; then
      echo "fuzz: $pkg $target skipped here (FUZZ_SKIP); its seed corpus ran with go test"
      continue
    fi
    echo "fuzz: $pkg $target ($FUZZTIME)"
    go test -run='^$' -fuzz="^${target}\$" -fuzztime="$FUZZTIME" "$pkg" >/tmp/kg-fuzz.$$ 2>&1 \
      || { cat /tmp/kg-fuzz.$$; rm -f /tmp/kg-fuzz.$$; echo "fuzz: $target found a failure (see testdata/fuzz in $pkg)"; exit 1; }
    n=$((n + 1))
  done
done
rm -f /tmp/kg-fuzz.$$
echo "fuzz: $n targets ran for $FUZZTIME each, no failures"

#!/usr/bin/env bash
# Runs every Go fuzz target of the module for FUZZTIME each (default 10s).
#   scripts/fuzz.sh            # all targets, 10 s each (what `make test` does)
#   FUZZTIME=5m scripts/fuzz.sh  # longer (what `make fuzz` does)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
FUZZTIME=${FUZZTIME:-10s}
n=0
for pkg in $(go list ./...); do
  # A package that does not compile must fail the run, not contribute no targets.
  list=$(go test -list '^Fuzz' "$pkg") || { echo "fuzz: cannot list the fuzz targets of $pkg"; exit 1; }
  for target in $(printf '%s\n' "$list" | grep '^Fuzz' || true); do
    echo "fuzz: $pkg $target ($FUZZTIME)"
    go test -run='^$' -fuzz="^${target}\$" -fuzztime="$FUZZTIME" "$pkg" >/tmp/kg-fuzz.$$ 2>&1 \
      || { cat /tmp/kg-fuzz.$$; rm -f /tmp/kg-fuzz.$$; echo "fuzz: $target found a failure (see testdata/fuzz in $pkg)"; exit 1; }
    n=$((n + 1))
  done
done
rm -f /tmp/kg-fuzz.$$
echo "fuzz: $n targets ran for $FUZZTIME each, no failures"

#!/usr/bin/env bash
# Command-line tools some tests drive, installed when missing.
#
#   scripts/tools.sh ensure   install what is missing (make test runs it)
#   scripts/tools.sh status   say what is there
#
# kcat (Debian package "kcat", librdkafka's CLI): the tests publish with it as
# Vector and Fluent Bit do (librdkafka, partitioner=murmur2_random). It is
# installed with apt-get when it is missing and we are root (or have
# passwordless sudo); otherwise this says how to install it and the kcat tests
# skip with the same message. The Kafka console producer needs nothing: it
# comes with the Kafka that scripts/kafka.sh downloads.
set -euo pipefail

log() { printf '[tools] %s\n' "$*" >&2; }

apt_install() {
  local pkg=$1 sudo=""
  command -v apt-get >/dev/null 2>&1 || { log "no apt-get here: install $pkg yourself (its tests skip until then)"; return 0; }
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; else
      log "not root and no passwordless sudo: run 'apt-get install $pkg' as root (its tests skip until then)"; return 0
    fi
  fi
  log "installing $pkg with apt-get ..."
  # The package lists may be missing on a fresh image: update once if needed.
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "$pkg" >/dev/null 2>&1 \
    || { $sudo apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "$pkg" >/dev/null; } \
    || { log "apt-get could not install $pkg: its tests skip (see the output of 'apt-get install $pkg')"; return 0; }
  log "$pkg installed: $(command -v "$pkg")"
}

case "${1:-}" in
  ensure)
    if command -v kcat >/dev/null 2>&1; then log "kcat: $(command -v kcat)"; else apt_install kcat; fi ;;
  status)
    if command -v kcat >/dev/null 2>&1; then echo "kcat: $(kcat -V 2>&1 | sed -n 4p)"; else echo "kcat: missing (scripts/tools.sh ensure)"; exit 1; fi ;;
  *) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac

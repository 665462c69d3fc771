#!/usr/bin/env bash
# `make demo`: runs greyprint's whole pipeline (p0f, Postfix, greyprint,
# SpamAssassin, rspamd) in private network namespaces and prints a timeline.
# Needs root (namespaces, p0f's capture) and `make install` (node_modules).
# Everything it starts is recorded in a state file and removed on exit,
# also on Ctrl-C or kill.
set -u
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"

if [[ $(id -u) -ne 0 ]]; then
  echo "greyprint demo: must run as root (network namespaces, packet capture)" >&2
  exit 2
fi
for tool in p0f swaks spamassassin rspamd ip /usr/lib/postfix/sbin/master; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "greyprint demo: missing $tool; run 'make install' (it installs the Debian packages)" >&2
    exit 2
  fi
done

state="$(mktemp -t greyprint-demo.XXXXXX)"
export GREYPRINT_DEMO_STATE="$state"
driver=""

cleanup() {
  trap - EXIT INT TERM
  if [[ -n "$driver" ]] && kill -0 "$driver" 2>/dev/null; then
    kill -TERM "$driver" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$driver" 2>/dev/null || break; sleep 0.1; done
  fi
  # Whatever the driver could not clean up: its processes by PID, then its namespaces.
  while read -r kind value; do
    [[ "$kind" == pid ]] && kill -TERM "$value" 2>/dev/null
  done <"$state"
  sleep 0.5
  while read -r kind value; do
    [[ "$kind" == pid ]] && kill -KILL "$value" 2>/dev/null
    [[ "$kind" == netns ]] && ip netns delete "$value" 2>/dev/null
  done <"$state"
  rm -f "$state"
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

cd "$root"
node --import tsx "$here/run.ts" &
driver=$!
wait "$driver"
status=$?
exit "$status"

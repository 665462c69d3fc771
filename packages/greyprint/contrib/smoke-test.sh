#!/bin/sh
# Is it greyprint that answers on the policy port? Asks the one question only greyprint
# answers: the DATA stage, where greyprint prepends X-P0f-OS. postgrey (or anything else on
# 127.0.0.1:10023) answers DUNNO there, so this fails instead of passing for the wrong daemon.
#   contrib/smoke-test.sh [HOST:PORT|unix:/PATH]        (default 127.0.0.1:10023)
# GREYPRINT overrides the command (default: node on this checkout's bin/greyprint.js).
set -u
server=${1:-127.0.0.1:10023}
here=$(cd "$(dirname "$0")/.." && pwd)
greyprint=${GREYPRINT:-node $here/bin/greyprint.js}
# 192.0.2.7 (TEST-NET-1) is a client no real p0f has seen: its label is "unknown", which is fine.
answer=$($greyprint check --server "$server" --state DATA --client-address 192.0.2.7 --instance "smoke.$$") || {
  echo "smoke test: FAILED: nothing answers on $server" >&2
  exit 1
}
case $answer in
'PREPEND X-P0f-OS: '*)
  echo "smoke test: ok, greyprint answers on $server ($answer)"
  ;;
*)
  echo "smoke test: FAILED: $server answered \"$answer\", not greyprint's X-P0f-OS header; is postgrey (or another policy daemon) on the port? ss -ltnp 'sport = :${server##*:}'" >&2
  exit 1
  ;;
esac

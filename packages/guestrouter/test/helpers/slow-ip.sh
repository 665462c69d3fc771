#!/bin/bash
# An `ip` for crash tests: runs -batch one line at a time, slowly, and kills its whole process
# group (the CLI that started it included, as systemd or the OOM killer would) right after line
# $GR_KILL_AFTER (1-based). Everything else goes to the real ip.
batch=0; pre=()
for a in "$@"; do case "$a" in -batch) batch=1;; -force|-) ;; *) pre+=("$a");; esac; done
[ "$batch" = 1 ] || exec /usr/sbin/ip "$@"
n=0; rc=0
while IFS= read -r line; do
  n=$((n+1)); read -ra words <<< "$line"
  /usr/sbin/ip "${pre[@]}" "${words[@]}" || { echo "Command failed -:$n" >&2; rc=1; }
  [ "$n" = "${GR_KILL_AFTER:-0}" ] && kill -KILL 0
  sleep 0.01
done
exit $rc

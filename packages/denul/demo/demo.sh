#!/usr/bin/env bash
# Shows denul on a small generated log: count, check, clean in place, check again.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
denul() { node "$here/bin/denul.js" "$@"; }
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
log="$dir/app.log"

# A log that a copytruncate left with a hole at the start, and a disk-full hole in the middle.
head -c 8192 /dev/zero > "$log"
for i in $(seq 1 200); do echo "2012-08-14T10:00:$((i % 60)) mx1 postfix/smtpd[$i]: connect from unknown[192.0.2.$i]"; done >> "$log"
head -c 3000 /dev/zero >> "$log"
for i in $(seq 201 300); do echo "2012-08-14T10:05:$((i % 60)) mx1 postfix/smtpd[$i]: disconnect from unknown[192.0.2.$i]"; done >> "$log"
chmod 640 "$log"
touch -d '2012-08-14 10:05:00' "$log"

run() { echo "\$ denul $*"; set +e; denul "$@"; echo "(exit $?)"; set -e; echo; }
echo "== a log with NUL holes: $(stat -c '%s bytes, mode %a, mtime %y' "$log")"
echo "\$ grep disconnect app.log | head -n 1"; (cd "$dir" && grep disconnect app.log | head -n 1); echo
cd "$dir"
run --count app.log
run --check app.log
run --count --leading-only app.log
run -i --count app.log
run --check app.log
echo "== after: $(stat -c '%s bytes, mode %a, mtime %y' "$log")"
echo "\$ grep disconnect app.log | head -n 1"; grep disconnect app.log | head -n 1

#!/usr/bin/env bash
# Installs the Debian packages the tests, benchmarks and demo drive, only those missing.
# Runs as root (CI and developer machines are root); prints one line when nothing is to do.
set -euo pipefail

packages=(
  postfix p0f spamassassin rspamd redis-server postgrey swaks python3-scapy
  dnsmasq nftables haproxy keepalived iproute2 iputils-ping iputils-arping curl procps time util-linux acl coreutils udhcpc
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "debian packages: all present"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "debian packages missing: ${missing[*]} (run as root, or install them with apt-get)" >&2
  exit 2
fi
echo "debian packages: installing ${missing[*]}"
# Postfix asks which mail setup to write; the tests write their own configuration.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -q "${missing[@]}" >/tmp/ensure-debs.log 2>&1 || {
  tail -30 /tmp/ensure-debs.log >&2
  exit 1
}
echo "debian packages: installed"

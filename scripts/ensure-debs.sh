#!/usr/bin/env bash
# Installs the Debian packages of one or more purposes, only those missing:
#   scripts/ensure-debs.sh runtime            what the products need on a production host
#   scripts/ensure-debs.sh runtime test       plus what `make test` drives (also demo, bench)
#   scripts/ensure-debs.sh --list test        prints a purpose's packages, installs nothing
# Runs as root (CI and developer machines are root); prints one line when nothing is to do.
set -euo pipefail

# One list per purpose: add a package to the purpose that needs it, nowhere else.
# runtime: greyprint asks p0f or captures SYNs with tcpdump (setcap from libcap2-bin gives the helper
# CAP_NET_RAW); guestrouter runs ip(8), dnsmasq, dhcp_release from dnsmasq-utils (drops a removed NIC's
# lease), arping (gratuitous ARP for a new gateway), nft (NAT and firewall) and haproxy (load balancing).
# `make install` builds on the host: gcc and libc6-dev compile guestrouter's netlink addon (the meta data
# identity check; without it /proc/net/arp is read, slow at thousands of neighbours) and denul's lseek addon.
runtime_packages=(p0f tcpdump libcap2-bin iproute2 dnsmasq-base dnsmasq-utils iputils-arping nftables haproxy coreutils gcc libc6-dev)
# test: the real servers the tests start, and the tools they drive them with.
test_packages=(
  postfix spamassassin rspamd redis-server postgrey swaks python3-scapy
  dnsmasq nftables keepalived conntrackd iputils-ping curl procps time util-linux acl udhcpc
  # the status page tests load the pages in a real browser (headless)
  chromium
  # guestrouter's meta data tests run Debian's cloud-init datasource (unpacked, not installed) as the guest
  python3-requests python3-configobj python3-yaml python3-jinja2 wget
)
# demo and bench start the same servers as the tests (postgrey is the benchmark's anchor).
demo_packages=("${test_packages[@]}")
# apache2 with the Virtual Router's layout is the meta data benchmark's anchor.
bench_packages=("${test_packages[@]}" apache2)

list_only=0
if [ "${1:-}" = --list ]; then
  list_only=1
  shift
fi
purposes=("$@")
((${#purposes[@]} > 0)) || purposes=(runtime test)
packages=()
for purpose in "${purposes[@]}"; do
  case "$purpose" in
    runtime) packages+=("${runtime_packages[@]}") ;;
    test) packages+=("${test_packages[@]}") ;;
    demo) packages+=("${demo_packages[@]}") ;;
    bench) packages+=("${bench_packages[@]}") ;;
    *)
      echo "ensure-debs: unknown purpose \"$purpose\" (runtime, test, demo, bench)" >&2
      exit 2
      ;;
  esac
done
mapfile -t packages < <(printf '%s\n' "${packages[@]}" | awk '!seen[$0]++')
if ((list_only)); then
  printf '%s\n' "${packages[@]}"
  exit 0
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "debian packages (${purposes[*]}): all present"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "debian packages missing: ${missing[*]} (run as root, or install them with apt-get)" >&2
  exit 2
fi
echo "debian packages (${purposes[*]}): installing ${missing[*]}"
# Postfix asks which mail setup to write; the tests write their own configuration.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -q "${missing[@]}" >/tmp/ensure-debs.log 2>&1 || {
  tail -30 /tmp/ensure-debs.log >&2
  exit 1
}
echo "debian packages: installed"

#!/usr/bin/env bash
# guestrouter demo (under a minute): a router namespace with a trunk and an
# uplink, a hypervisor namespace with CloudStack-style VXLAN bridges and one VM
# namespace per network, the API simulator with 3 networks / 3 VMs; then
# plan, apply, a second apply (no-op), status, and `run` with DHCP: a VM that
# boots without an address gets CloudStack's from dnsmasq. Cleans up on exit.
# Run from the repository root: make -C packages/guestrouter demo
set -euo pipefail

P="gr$$d"
R="$P-rtr"; H="$P-hv"
NAMESPACES=()
SIM_PID=""
RUN_PID=""
WORK="$(mktemp -d)"
# dnsmasq reads its hosts file as its own unprivileged user: the state dir must be traversable.
chmod 755 "$WORK"

cleanup() {
  # SIGTERM to run stops its dnsmasq too
  if [ -n "$RUN_PID" ]; then kill "$RUN_PID" 2>/dev/null || true; wait "$RUN_PID" 2>/dev/null || true; fi
  [ -n "$SIM_PID" ] && kill "$SIM_PID" 2>/dev/null || true
  for ns in "${NAMESPACES[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

addns() { ip netns add "$1"; NAMESPACES+=("$1"); ip -n "$1" link set lo up; }
gr() { node --import tsx packages/guestrouter/src/cli.ts "$@" --netns "$R" --trunk trunk --uplink uplink --config "$WORK/config.json"; }
say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

echo '{ "stateDir": "'"$WORK"'/state", "cloudstack": { "retries": 1 } }' > "$WORK/config.json"

addns "$R"; addns "$H"
ip -n "$R" link add trunk type veth peer name trunk netns "$H"
ip -n "$R" link add uplink type veth peer name uplinkp
for dev in trunk uplink uplinkp; do ip -n "$R" link set dev "$dev" up; done
ip -n "$H" link set dev trunk up
ip -n "$R" addr add 10.255.0.1/24 dev trunk
ip -n "$H" addr add 10.255.0.2/24 dev trunk

node --import tsx packages/guestrouter/test/simulator/main.ts --networks 3 --vms 3 >"$WORK/sim.env" 2>"$WORK/sim.log" &
SIM_PID=$!
for _ in $(seq 50); do [ "$(wc -l <"$WORK/sim.env")" -ge 3 ] && break; sleep 0.2; done
# shellcheck disable=SC1091
. "$WORK/sim.env"
cat "$WORK/sim.log"

# The hypervisor side CloudStack's modifyvxlan.sh would build: vxlan<VNI> in a bridge, one VM each.
for n in 1 2 3; do
  vni=$((5000 + n)); group="239.0.$((vni >> 8 & 255)).$((vni & 255))"
  prefix=$(case $n in 1) echo 192.0.2;; 2) echo 198.51.100;; 3) echo 203.0.113;; esac)
  ip -n "$H" link add "vxlan$vni" type vxlan id "$vni" group "$group" dstport 8472 dev trunk
  ip -n "$H" link add "br$vni" type bridge
  ip -n "$H" link set "vxlan$vni" master "br$vni"; ip -n "$H" link set "vxlan$vni" up; ip -n "$H" link set "br$vni" up
  vm="$P-vm$n"; addns "$vm"
  ip -n "$H" link add "p$n" type veth peer name eth0 netns "$vm"
  ip -n "$H" link set "p$n" master "br$vni"; ip -n "$H" link set "p$n" up
  # The MAC CloudStack gave the NIC: guestrouter's anti-spoofing passes only that pair of MAC and address.
  ip -n "$vm" link set eth0 address "02:00:00:0$n:00:01"
  ip -n "$vm" link set eth0 up
  ip -n "$vm" addr add "$prefix.2/24" dev eth0
  ip -n "$vm" route add default via "$prefix.1"
done

say guestrouter plan; gr plan
say guestrouter apply; gr apply
say guestrouter apply '# again: nothing to do'; gr apply
say guestrouter status; gr status
say "ip netns exec $P-vm1 ping -c1 203.0.113.2   # VM on network 1 -> VM on network 3, routed"
ip netns exec "$P-vm1" ping -c1 -W2 -n 203.0.113.2 | sed -n 2p

echo '{ "stateDir": "'"$WORK"'/state", "cloudstack": { "retries": 1 }, "run": { "intervalSeconds": 2 },
  "dhcp": { "enabled": true, "domain": "cloud.test" } }' > "$WORK/config-dhcp.json"
say 'guestrouter run   # config: "dhcp": { "enabled": true, "domain": "cloud.test" }'
node --import tsx packages/guestrouter/src/cli.ts run --netns "$R" --trunk trunk --uplink uplink \
  --config "$WORK/config-dhcp.json" 2>"$WORK/run.log" &
RUN_PID=$!
for _ in $(seq 100); do grep -q '"dnsmasq":"started"' "$WORK/run.log" && break; sleep 0.2; done
grep -o '"msg":"dhcp started"' "$WORK/run.log" >/dev/null || { echo "dnsmasq did not start:"; cat "$WORK/run.log"; exit 1; }
echo "dnsmasq started for $(grep -o '"networks":[0-9]*' "$WORK/run.log" | head -1 | cut -d: -f2) networks (one instance each):"
cat "$WORK"/state/dhcp/*/dhcp-hosts | sed 's/^/  /'
mac=$(cat "$WORK"/state/dhcp/*/dhcp-hosts | grep ',192.0.2.2,' | cut -d, -f1)
ip -n "$P-vm1" addr flush dev eth0
ip -n "$P-vm1" link set eth0 down; ip -n "$P-vm1" link set eth0 address "$mac"; ip -n "$P-vm1" link set eth0 up
say "ip netns exec $P-vm1 udhcpc -i eth0   # VM 1 booted without an address, MAC $mac"
ip netns exec "$P-vm1" udhcpc -i eth0 -f -q -n -t 5 -T 1 -s /bin/true 2>&1 | grep -E 'lease|fail'

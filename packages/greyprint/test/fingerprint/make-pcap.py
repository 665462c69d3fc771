"""Writes a pcap of TCP packets described in JSON on stdin, built with scapy.

Usage: /usr/bin/python3 make-pcap.py OUT.pcap < spec.json
spec: {"link": "ether"|"sll"|"raw", "packets": [ {
  "v": 4|6, "src", "dst", "sport", "dport", "ttl", "tos" (the whole TOS/traffic-class byte),
  "df": bool, "mbz": bool, "id": int, "flow": int, "flags": int (TCP flags byte), "ns": bool,
  "seq", "ack", "urg", "win", "opts": hex of raw TCP option bytes (padded to 4 by the caller),
  "ipopts": number of IPv4 NOP option bytes (multiple of 4), "payload": hex, "time": seconds } ] }
Options go in as raw bytes after the fixed header, so malformed options are written exactly as given.
"""
import json
import sys

from scapy.all import IP, TCP, Ether, IPOption_NOP, IPv6, Raw, wrpcap
from scapy.layers.l2 import CookedLinux

spec = json.load(sys.stdin)
link = spec.get("link", "ether")
out = []
for p in spec["packets"]:
    opts = bytes.fromhex(p.get("opts", ""))
    payload = bytes.fromhex(p.get("payload", ""))
    tcp = TCP(sport=p["sport"], dport=p["dport"], seq=p.get("seq", 1), ack=p.get("ack", 0),
              flags=p.get("flags", 2) | (0x100 if p.get("ns") else 0), window=p["win"],
              urgptr=p.get("urg", 0), dataofs=5 + len(opts) // 4)
    if p["v"] == 4:
        flags = (2 if p.get("df") else 0) | (4 if p.get("mbz") else 0)
        ip = IP(src=p["src"], dst=p["dst"], ttl=p["ttl"], tos=p.get("tos", 0), id=p.get("id", 0),
                flags=flags, options=[IPOption_NOP()] * p.get("ipopts", 0))
    else:
        ip = IPv6(src=p["src"], dst=p["dst"], hlim=p["ttl"], tc=p.get("tos", 0), fl=p.get("flow", 0))
    pkt = ip / tcp / Raw(opts + payload) if opts or payload else ip / tcp
    if link == "ether":
        pkt = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / pkt
    elif link == "sll":
        pkt = CookedLinux(pkttype=0, lladdrtype=1, lladdrlen=6, src=b"\x02\x00\x00\x00\x00\x01\x00\x00",
                          proto=0x0800 if p["v"] == 4 else 0x86DD) / pkt
    pkt.time = p.get("time", 1700000000)
    out.append(pkt)
wrpcap(sys.argv[1], out, linktype={"ether": 1, "sll": 113, "raw": 101}[link])

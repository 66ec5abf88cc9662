# SPDX-License-Identifier: BSD-3-Clause
"""Checksum and segmentation offloads (issue 12, SPEC section 9).

A vhost-user frontend written here (test/vhostuser_fuzz.py's Device) sends
what a Linux guest with CSUM and HOST_TSO4/6 sends: TCP frames of up to
64 KiB with a virtio_net_hdr asking for segmentation, and frames whose
TCP/UDP checksum is left partial. Flooded, each reaches:

  r    a frontend that negotiated GUEST_CSUM and GUEST_TSO4/6: the frame as
       it was sent, with the same request in its virtio_net_hdr;
  g    a testpmd guest (its virtio PMD negotiates no rx offload): MTU-sized
       segments with every checksum valid, byte for byte what a NIC's TSO
       would make;
  o    a testpmd guest on a port with offloads=off: the same;
  nic  a net_pcap ethdev (MTU 1500): the same, in its tx file.
"""
import struct

import pytest
from scapy.all import IP, TCP, UDP, IPv6, Ether, Raw

import vhostuser_fuzz as vf
from ctlclient import call
from vstest import read_pcap, wait_for, write_pcap

T = 20
BCAST = "ff:ff:ff:ff:ff:ff"
MAC_T = "02:00:00:00:0f:01"
MAC_R = "02:00:00:00:0f:02"

F_CSUM, F_GUEST_CSUM = 1 << 0, 1 << 1
F_GUEST_TSO4, F_GUEST_TSO6 = 1 << 7, 1 << 8
F_HOST_TSO4, F_HOST_TSO6 = 1 << 11, 1 << 12
NEEDS_CSUM = 1
GSO_TCPV4, GSO_TCPV6 = 1, 4
BIG = 65536 + 4096


def vnet_hdr(flags=0, gso=0, hdr_len=0, gso_size=0, start=0, off=0):
    return struct.pack("<BBHHHHH", flags, gso, hdr_len, gso_size, start,
                       off, 0)


def payload(n, seed):
    return bytes((i * 7 + seed) & 0xff for i in range(n))


def tso_frame(v6, size, seq=1000, flags="PA"):
    l3 = IPv6(src="fd00::1", dst="fd00::2") if v6 else \
        IP(src="10.0.0.1", dst="10.0.0.2", id=100, flags="DF")
    # The checksum field as a guest leaves it: a partial sum, not ours to
    # judge; 0x1234 shows it is passed on untouched.
    f = Ether(src=MAC_T, dst=BCAST) / l3 / \
        TCP(sport=5000, dport=5001, seq=seq, flags=flags, window=512,
            chksum=0x1234) / Raw(payload(size, 3 if v6 else 1))
    return bytes(f)


def segments(frame, mss):
    """What a NIC's TSO makes of @frame: IPv4 ids counting up, sequence
    numbers advancing, PSH/FIN on the last segment only, checksums valid."""
    p = Ether(frame)
    v6 = IPv6 in p
    ip = p[IPv6] if v6 else p[IP]
    tcp = p[TCP]
    data = bytes(tcp.payload)
    out = []
    for k, off in enumerate(range(0, len(data), mss)):
        chunk = data[off:off + mss]
        last = off + mss >= len(data)
        fl = int(tcp.flags)
        if not last:
            fl &= ~0x09  # FIN, PSH
        if v6:
            l3 = IPv6(src=ip.src, dst=ip.dst)
        else:
            l3 = IP(src=ip.src, dst=ip.dst, id=ip.id + k, flags=ip.flags)
        s = Ether(src=p.src, dst=p.dst) / l3 / \
            TCP(sport=tcp.sport, dport=tcp.dport, seq=tcp.seq + off,
                ack=tcp.ack, flags=fl, window=tcp.window) / Raw(chunk)
        out.append(bytes(s))
    return out


def udp_partial(size=300):
    f = Ether(src=MAC_T, dst=BCAST) / IP(src="10.0.0.1", dst="10.0.0.3") / \
        UDP(sport=7, dport=9, chksum=0x4321) / Raw(payload(size, 5))
    return bytes(f)


def ones(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return s


def phdr_sum(frame, with_len):
    """The pseudo-header sum a partial checksum field holds."""
    p = Ether(frame)
    if IPv6 in p:
        ip = p[IPv6]
        raw = bytes(ip)[8:40]
        ln = ip.plen
        proto = 6 if TCP in p else 17
    else:
        ip = p[IP]
        raw = bytes(ip)[12:20]
        ln = ip.len - ip.ihl * 4
        proto = ip.proto
    s = ones(raw + struct.pack("!HH", proto, ln if with_len else 0))
    return struct.pack("!H", s)


def complete(frame, start, off):
    """What a virtio driver does with NEEDS_CSUM: sum from start, fold."""
    s = ones(frame[start:])
    ck = (~s) & 0xffff
    return frame[:start + off] + struct.pack("!H", ck) + \
        frame[start + off + 2:]


def finished(frame):
    """@frame with its checksums computed by scapy."""
    p = Ether(frame)
    if TCP in p:
        del p[TCP].chksum
    if UDP in p:
        del p[UDP].chksum
    return bytes(Ether(bytes(p)))


@pytest.fixture
def rig(env):
    ctl = env.file("ctl")
    nic_in, nic_out = env.file("nic_in.pcap"), env.file("nic_out.pcap")
    write_pcap(nic_in, [])
    args = ["--ctl", ctl, "--tx-retries", "1024"]
    for name, extra in (("t", ""), ("r", ""), ("g", ""),
                        ("o", ",offloads=off")):
        args += ["--vhost", "%s,name=%s%s" % (env.sock(name), name, extra)]
    sw = env.switch(args=args, vdevs=[
        "net_pcap0,rx_pcap=%s,tx_pcap=%s" % (nic_in, nic_out)])
    sw.start()
    guests = {}
    for name in "go":
        guests[name] = env.guest(name, env.sock(name), [],
                                 mac="02:00:00:00:0f:1%s" % name).start()
    r = vf.Device(env.sock("r"), qsize=32, mem_size=8 << 20, buf_size=BIG,
                  mac=MAC_R, extra_features=F_GUEST_CSUM | F_GUEST_TSO4 |
                  F_GUEST_TSO6)
    t = vf.Device(env.sock("t"), qsize=32, mem_size=8 << 20, buf_size=BIG,
                  mac=MAC_T, extra_features=F_CSUM | F_HOST_TSO4 |
                  F_HOST_TSO6)
    r.up()
    t.up(rx=False)
    for name in "trgo":
        sw.wait_link(name, timeout=T)
    for g in guests.values():
        g.send()
    yield sw, ctl, t, r, guests, nic_out
    r.close()
    t.close()


def test_offloads_negotiated_and_shown(rig):
    """features/show: the sender negotiated CSUM and HOST_TSO4/6, the
    receiver GUEST_CSUM and GUEST_TSO4/6; the offloads=off port none of
    them. port/show says what each port takes as it is."""
    sw, ctl, t, r, guests, _ = rig
    assert t.features & F_HOST_TSO4 and t.features & F_CSUM
    assert r.features & F_GUEST_TSO4 and r.features & F_GUEST_CSUM
    ps = {n: call(ctl, "port/show", n) for n in ("t", "r", "g", "o",
                                                  "net_pcap0")}
    assert ps["r"]["offloads"]["takes"] == ["csum", "tso4", "tso6"]
    assert ps["t"]["offloads"]["enabled"] is True
    assert ps["o"]["offloads"]["enabled"] is False
    assert ps["o"]["offloads"]["takes"] == []
    assert ps["g"]["offloads"]["takes"] == []
    assert ps["net_pcap0"]["mtu"] == 1500
    feats = call(ctl, "features/show", "o")
    names = " ".join(str(v) for v in feats.values())
    assert "GUEST_TSO4" not in names and "CSUM" not in names.replace(
        "VIRTIO_NET_F_CTRL", ""), feats


@pytest.mark.parametrize("v6", [False, True], ids=["ipv4", "ipv6"])
def test_tso_frame_to_every_kind_of_port(rig, v6):
    """One TSO frame (8000 bytes of TCP payload, gso_size 1448) flooded:
    r gets it whole with its segmentation request; g, o and the NIC get
    the six segments a NIC would have made, byte for byte."""
    sw, ctl, t, r, guests, nic_out = rig
    # The MSS a Linux guest uses on a 1500-byte MTU.
    size, mss = 8000, 1428 if v6 else 1448
    f = tso_frame(v6, size)
    hlen = 14 + (40 if v6 else 20) + 20
    hdr = vnet_hdr(NEEDS_CSUM, GSO_TCPV6 if v6 else GSO_TCPV4, hlen, mss,
                   hlen - 20, 16)
    assert t.send([f], [hdr]) == 1
    want = segments(f, mss)
    assert len(want) == 6 and max(map(len, want)) == hlen + mss
    wait_for(lambda: sw.stats()[0]["net_pcap0"]["tx_pkts"] >= 6, T,
             what="six segments at the NIC")
    got_r = []
    wait_for(lambda: got_r.extend(r.received(with_hdr=True)) or got_r, T,
             what="the frame at r")
    rh, rf = got_r[0]
    cs = hlen - 20 + 16
    assert rf[:cs] + rf[cs + 2:] == f[:cs] + f[cs + 2:]
    # librte_vhost puts the pseudo-header sum (without the length, as for
    # a NIC's TSO) where the guest's partial sum was.
    assert rf[cs:cs + 2] == phdr_sum(f, with_len=False)
    flags, gso, hdr_len, gso_size, start, off = struct.unpack(
        "<BBHHHH", rh[:10])
    assert (flags & NEEDS_CSUM, gso, gso_size, start, off) == \
        (NEEDS_CSUM, GSO_TCPV6 if v6 else GSO_TCPV4, mss, hlen - 20, 16)
    out = {n: g.finish() for n, g in guests.items()}
    assert out["g"] == want
    assert out["o"] == want
    assert sw.stop() == 0
    assert read_pcap(nic_out) == want
    ports = sw.final[0]
    assert ports["t"]["rx_pkts"] == 1
    for name in ("g", "o", "net_pcap0"):
        assert ports[name]["tx_pkts"] == 6, (name, ports[name])
    assert ports["r"]["tx_pkts"] == 1
    assert sw.final[1][0]["in_use"] == 0


def test_tso_frame_tagged_on_the_way(rig):
    """t, an access port of VLAN 10, sends a TSO frame: the others (no
    VLAN keys: trunks) get it tagged, so their L2 header is 4 bytes
    longer. r gets it whole with its segmentation request moved by the
    tag (csum_start, hdr_len); g, o and the NIC get the segments a NIC
    would make of the tagged frame."""
    sw, ctl, t, r, guests, nic_out = rig
    call(ctl, "port/set", "t", "vlan=10")
    size, mss = 5000, 1448
    f = tso_frame(False, size)
    hlen = 14 + 20 + 20
    hdr = vnet_hdr(NEEDS_CSUM, GSO_TCPV4, hlen, mss, hlen - 20, 16)

    def tag(x):
        return x[:12] + struct.pack("!HH", 0x8100, 10) + x[12:]
    want = [tag(x) for x in segments(f, mss)]
    assert len(want) == 4
    assert t.send([f], [hdr]) == 1
    got_r = []
    wait_for(lambda: got_r.extend(r.received(with_hdr=True)) or got_r, T,
             what="the frame at r")
    rh, rf = got_r[0]
    cs = hlen - 20 + 16 + 4
    tf = tag(f)
    assert rf[:cs] + rf[cs + 2:] == tf[:cs] + tf[cs + 2:]
    flags, gso, hdr_len, gso_size, start, off = struct.unpack(
        "<BBHHHH", rh[:10])
    assert (flags & NEEDS_CSUM, gso, hdr_len, gso_size, start, off) == \
        (NEEDS_CSUM, GSO_TCPV4, hlen + 4, mss, hlen - 20 + 4, 16)
    # What r's kernel makes of it: the frame with a valid checksum.
    assert complete(rf[:cs] + phdr_sum(f, with_len=True) + rf[cs + 2:],
                    start, off) == tag(finished(f))
    wait_for(lambda: sw.stats()[0]["net_pcap0"]["tx_pkts"] >= 4, T,
             what="four segments at the NIC")
    out = {n: g.finish() for n, g in guests.items()}
    assert out["g"] == want and out["o"] == want
    assert sw.stop() == 0
    assert read_pcap(nic_out) == want


def test_partial_checksum_finished_per_destination(rig):
    """A UDP frame with its checksum left partial: r gets it as sent, with
    NEEDS_CSUM; everyone else gets the checksum computed."""
    sw, ctl, t, r, guests, nic_out = rig
    f = udp_partial()
    assert t.send([f], [vnet_hdr(NEEDS_CSUM, 0, 0, 0, 34, 6)]) == 1
    got_r = []
    wait_for(lambda: got_r.extend(r.received(with_hdr=True)) or got_r, T,
             what="the frame at r")
    rh, rf = got_r[0]
    assert rh[0] & NEEDS_CSUM and rf[:40] + rf[42:] == f[:40] + f[42:]
    # A receiver completing the partial sum gets a valid checksum.
    assert complete(rf, 34, 6) == finished(f)
    wait_for(lambda: sw.stats()[0]["net_pcap0"]["tx_pkts"] >= 1, T,
             what="the frame at the NIC")
    want = finished(f)
    assert want != f
    st = {n: call(ctl, "port/show", n)["offloads"] for n in ("g", "o",
                                                             "net_pcap0")}
    assert all(s["sw_csum"] == 1 for s in st.values()), st
    out = {n: g.finish() for n, g in guests.items()}
    assert out["g"] == [want] and out["o"] == [want]
    assert sw.stop() == 0
    assert read_pcap(nic_out) == [want]



def v6_ext(ext, udp, size=200, seed=9):
    """An IPv6 frame with extension headers @ext and a partial checksum;
    (frame, csum_start, csum_offset)."""
    l4 = UDP(sport=7, dport=9, chksum=0x4321) if udp else \
        TCP(sport=5000, dport=5001, seq=7, flags="PA", chksum=0x1234)
    f = bytes(Ether(src=MAC_T, dst=BCAST) /
              IPv6(src="fd00::1", dst="fd00::10") / ext / l4 /
              Raw(payload(size, seed)))
    start = len(f) - size - (8 if udp else 20)
    return f, start, 6 if udp else 16


def test_ipv6_extension_headers(rig):
    """IPv6 frames with extension headers and their TCP/UDP checksum left
    partial: DPDK's pseudo-header helpers take the protocol and length
    from the fixed header, so the switch finishes such a frame as it
    comes in, with the upper-layer protocol and length, and a Routing
    header's final destination (SRv6: segment list[0]). Every port, r
    too, gets it with the checksum scapy computes; one with a type 0
    Routing header still to follow (deprecated, RFC 5095) is dropped as
    offload_error. Counters: sw_csum and rx_csum_partial on t."""
    from scapy.layers.inet6 import (IPv6ExtHdrDestOpt, IPv6ExtHdrHopByHop,
                                    IPv6ExtHdrRouting,
                                    IPv6ExtHdrSegmentRouting)
    sw, ctl, t, r, guests, nic_out = rig
    good = [v6_ext(IPv6ExtHdrDestOpt(), True),
            v6_ext(IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt(), False, 300),
            v6_ext(IPv6ExtHdrSegmentRouting(
                addresses=["fd00::20", "fd00::10"], segleft=1), False, 400),
            v6_ext(IPv6ExtHdrSegmentRouting(
                addresses=["fd00::30", "fd00::10"], segleft=1), True, 500)]
    bad = v6_ext(IPv6ExtHdrRouting(addresses=["fd00::40"], segleft=1),
                 False, 600)
    want = [finished(f) for f, _, _ in good]
    assert all(w != f for w, (f, _, _) in zip(want, good))
    # The final destination counts: the same frame checksummed for its
    # fixed header's destination would differ.
    alt = finished(v6_ext(IPv6ExtHdrSegmentRouting(
        addresses=["fd00::20", "fd00::10"], segleft=0), False, 400)[0])
    assert Ether(alt)[TCP].chksum != Ether(want[2])[TCP].chksum
    frames = [f for f, _, _ in good] + [bad[0]]
    hdrs = [vnet_hdr(NEEDS_CSUM, 0, 0, 0, st, off)
            for _, st, off in good + [bad]]
    base = call(ctl, "port/show", "t")
    assert t.send(frames, hdrs) == len(frames)
    wait_for(lambda: sw.stats()[0]["net_pcap0"]["tx_pkts"] >= len(want), T,
             what="the frames at the NIC")
    got_r = []
    wait_for(lambda: got_r.extend(r.received(with_hdr=True)) or
             len(got_r) >= len(want), T, what="the frames at r")
    assert [f for _, f in got_r] == want
    assert all(h[0] & NEEDS_CSUM == 0 for h, _ in got_r)
    st = call(ctl, "port/show", "t")
    ol, ol0 = st["offloads"], base["offloads"]
    assert ol["sw_csum"] - ol0["sw_csum"] == len(good), ol
    assert ol["rx_csum_partial"] - ol0["rx_csum_partial"] == len(good), ol
    assert st["drops_by_reason"].get("offload_error", 0) - \
        base["drops_by_reason"].get("offload_error", 0) == 1, st
    out = {n: g.finish() for n, g in guests.items()}
    assert out["g"] == want and out["o"] == want
    assert sw.stop() == 0
    assert read_pcap(nic_out) == want


def capture_rows(path):
    """(frame.len, direction) of each frame of a capture file, as tshark
    reads it (epb_flags direction: 1 inbound = switch RX, 2 outbound =
    switch TX); the frames themselves come from scapy, which does not
    show the direction."""
    import subprocess
    out = subprocess.run(["tshark", "-r", path, "-T", "fields",
                          "-e", "frame.len", "-e",
                          "frame.packet_flags_direction"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return [(int(a), int(b, 16)) for a, b in
            (line.split("\t") for line in out.stdout.splitlines())]


@pytest.mark.parametrize("v6,size", [(False, 8000), (True, 60000)],
                         ids=["ipv4", "ipv6-60k"])
def test_capture_tso_frame_as_it_crosses(rig, v6, size):
    """capture/start on the ingress port t and on every egress port: the
    TSO frame is recorded as one frame larger than the MTU where it
    crosses whole (t, as the guest sent it; r, which takes TSO), as
    tcpdump on a tap with TSO shows it, and as the MTU-sized segments
    where the switch segmented it (g, o, the NIC): what crossed each port,
    byte for byte, in its direction."""
    from scapy.all import rdpcap
    sw, ctl, t, r, guests, nic_out = rig
    mss = 1428 if v6 else 1448
    f = tso_frame(v6, size)
    hlen = 14 + (40 if v6 else 20) + 20
    assert len(f) > 1514
    caps = {}
    for port in ("t", "r", "g", "o", "net_pcap0"):
        caps[port] = sw.dir + "/cap-%s.pcapng" % port
        assert call(ctl, "capture/start", port, caps[port])["file"] == \
            caps[port]
    hdr = vnet_hdr(NEEDS_CSUM, GSO_TCPV6 if v6 else GSO_TCPV4, hlen, mss,
                   hlen - 20, 16)
    assert t.send([f], [hdr]) == 1
    want = segments(f, mss)
    n = len(want)
    assert n == -(-size // mss) and max(map(len, want)) <= 1514
    got_r = []
    wait_for(lambda: got_r.extend(r.received(with_hdr=True)) or got_r, T,
             what="the frame at r")
    wait_for(lambda: all(call(ctl, "port/show", p)["tx_pkts"] >= n
                         for p in ("g", "o", "net_pcap0")), T,
             what="the segments at g, o and the NIC")
    res = {p: call(ctl, "capture/stop", p) for p in caps}
    got = {p: [bytes(x) for x in rdpcap(c)] for p, c in caps.items()}
    info = "capture/stop: %s" % res
    assert all(v["dropped"] == 0 for v in res.values()), info
    assert {p: v["written"] for p, v in res.items()} == \
        {"t": 1, "r": 1, "g": n, "o": n, "net_pcap0": n}, info
    # Ingress: the one frame the guest sent, as it sent it. r takes TSO:
    # the same frame, whole, as the switch handed it to librte_vhost (the
    # pseudo-header sum r finds in the checksum field is librte_vhost's,
    # written while it copies the frame into r's buffers).
    assert got["t"] == [f], info
    assert got["r"] == [f], info
    assert capture_rows(caps["t"]) == [(len(f), 1)], info
    assert capture_rows(caps["r"]) == [(len(f), 2)], info
    # The others: the segments the switch made, as they went out.
    for p in ("g", "o", "net_pcap0"):
        assert got[p] == want, (p, info)
    for g in guests.values():
        assert g.finish() == want
    assert sw.stop() == 0
    assert read_pcap(nic_out) == want

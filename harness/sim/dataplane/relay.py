"""Tagged ports for the simulated lab's probe VMs: userspace 802.1Q, since the kernel has none.

A probe VM's trunk NIC (or a NIC pinned to one uplink) is a veth whose host end is a `Relay`
port: a frame the probe sends tagged V leaves untagged on V's link (into V's port-group bridge,
or straight out of a vmnic's V link for a pinned NIC), and every frame arriving on a link comes
back to the probe tagged with that link's VLAN. This is what a real vSwitch does for a port
group with VLAN 4095 (or a DVS trunk range). It runs inside the host's vSwitch controller
(`teaming.py`), so it reads the stdlib only.

NICs and veths with VLAN receive offload hand the tag over in the socket's auxiliary data
instead of the frame: both are understood.
"""

from __future__ import annotations

import contextlib
import socket
import struct

from harness.probes import bpf

ETH_P_ALL = 0x0003
TPID = 0x8100
SOL_PACKET = 263
PACKET_AUXDATA = 8
TP_STATUS_VLAN_VALID = 0x10
AUXDATA = struct.Struct("=IIIHHHH")
AUX_SPACE = socket.CMSG_SPACE(AUXDATA.size)


BEACON_TYPE = 0x8922  # ESXi's teaming beacons: the vSwitch consumes them, as the bridges do


def packet_socket(ifname: str, program: list[bpf.Insn] = bpf.NOT_OUTGOING) -> socket.socket:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
    bpf.attach(sock, program)  # the relay reads what arrives, never its own
    sock.bind((ifname, 0))
    sock.setblocking(False)
    return sock


def incoming(sock: socket.socket) -> list[tuple[bytes, int | None]]:
    """Frames that arrived on the socket's interface (not those sent from it), untagged, with
    their VLAN (from the auxdata or an in-band tag)."""
    out: list[tuple[bytes, int | None]] = []
    while True:
        try:
            data, ancillary, _flags, addr = sock.recvmsg(65535, AUX_SPACE)
        except (BlockingIOError, InterruptedError):
            return out
        except OSError:
            return out  # the link went away; the relay stops hearing it
        if addr[2] == socket.PACKET_OUTGOING or len(data) < 14:
            continue
        vlan = None
        for level, kind, payload in ancillary:
            if level == SOL_PACKET and kind == PACKET_AUXDATA and len(payload) >= AUXDATA.size:
                status, _l, _s, _m, _n, tci, _tpid = AUXDATA.unpack_from(payload)
                if status & TP_STATUS_VLAN_VALID:
                    vlan = tci & 0x0FFF
        if vlan is None and data[12:14] == b"\x81\x00" and len(data) >= 18:
            vlan = int.from_bytes(data[14:16], "big") & 0x0FFF
            data = data[:12] + data[16:]
        out.append((data, vlan))


class Relay:
    """One tagged port and its untagged per-VLAN links."""

    kernel = False  # relayed here, frame by frame (see `kernelrelay` for the kernel's way)

    def __init__(self, port: str, vlans: list[tuple[int, str]]) -> None:
        self.port = port
        self.port_sock = packet_socket(port)
        self.links = {vlan: packet_socket(link, bpf.arrived_except(BEACON_TYPE))
                      for vlan, link in vlans}
        self.fds: dict[int, int | None] = {self.port_sock.fileno(): None}
        self.fds.update({s.fileno(): vlan for vlan, s in self.links.items()})
        self.relayed = 0

    def handle(self, fd: int) -> None:
        """Move what arrived on `fd` across: from the port to its VLAN's link, or from a link to
        the port with the link's tag. Untagged frames from the port have nowhere to go (the
        trunk has no native VLAN) and are dropped, as a VLAN 4095 port group drops them."""
        vlan = self.fds[fd]
        if vlan is None:
            for frame, tag in incoming(self.port_sock):
                link = self.links.get(tag) if tag is not None else None
                if link is not None:
                    with contextlib.suppress(OSError):
                        link.send(frame)
                        self.relayed += 1
            return
        sock = self.links[vlan]
        for frame, _tag in incoming(sock):
            tagged = frame[:12] + struct.pack("!HH", TPID, vlan) + frame[12:]
            with contextlib.suppress(OSError):
                self.port_sock.send(tagged)
                self.relayed += 1

    def close(self) -> None:
        self.port_sock.close()
        for sock in self.links.values():
            sock.close()

"""Classic BPF socket filters, so the kernel drops frames a probe would only read and discard.

On a big lab every broadcast reaches every probe VM's trunk: with thirty-two probe VMs each
running eight probes at once, reading all of them in Python is what the CPU goes to. A probe
that speaks for one address needs only ARP about that address and IPv4 sent to it; a vSwitch
process that listens for beacons needs only those. Standard library only (the probe agents and
the sim's vSwitch processes run it).
"""

from __future__ import annotations

import ctypes
import functools
import ipaddress
import socket
import struct
from collections.abc import Sequence
from typing import cast

SO_ATTACH_FILTER = 26
PACKET_OUTGOING = 4
TPID = 0x8100

Insn = tuple[int, int, int, int]  # (code, jt, jf, k)
_LD_PKTTYPE: Insn = (0x20, 0, 0, 0xFFFFF000 + 4)  # ld [SKF_AD_OFF + SKF_AD_PKTTYPE]
_ACCEPT: Insn = (0x06, 0, 0, 0x40000)
_DROP: Insn = (0x06, 0, 0, 0)

# frames that arrived on the interface, not those sent from it
NOT_OUTGOING: list[Insn] = [_LD_PKTTYPE, (0x15, 1, 0, PACKET_OUTGOING), _ACCEPT, _DROP]


def arrived_except(ethertype: int) -> list[Insn]:
    """Arrived frames of every ethertype but one."""
    return [_LD_PKTTYPE, (0x15, 3, 0, PACKET_OUTGOING),
            (0x28, 0, 0, 12), (0x15, 1, 0, ethertype), _ACCEPT, _DROP]


def ethertype_and_halfword(ethertype: int, offset: int, value: int) -> list[Insn]:
    """Arrived frames of one ethertype whose 16-bit field at `offset` is `value` (a vSwitch's
    beacons carry its own id there: it needs only its own, not every host's)."""
    return [_LD_PKTTYPE, (0x15, 5, 0, PACKET_OUTGOING),
            (0x28, 0, 0, 12), (0x15, 0, 3, ethertype),
            (0x28, 0, 0, offset), (0x15, 0, 1, value), _ACCEPT, _DROP]


@functools.lru_cache(maxsize=1024)
def about_address(address: str) -> tuple[Insn, ...]:
    """Arrived ARP whose sender or target is `address`, and IPv4 sent to it, with or without
    an in-band 802.1Q tag (a NIC with VLAN offload hands the tag over in auxdata instead).
    Built once per address: a batch probes from the same few addresses hundreds of times."""
    ip = int(ipaddress.IPv4Address(address))
    items: list[tuple[object, ...]] = [
        (0x20, 0xFFFFF000 + 4, None, None),       # ld pkttype
        (0x15, PACKET_OUTGOING, "drop", None),
        (0x28, 12, None, None),                   # ldh ethertype
        (0x15, TPID, "tagged", None)]
    for tag, shift in (("plain", 0), ("tagged", 4)):
        items += [
            ("label", tag),
            (0x28, 12 + shift, None, None),       # ldh (inner) ethertype
            (0x15, 0x0806, None, f"{tag}-ip"),    # ARP?
            (0x20, 28 + shift, None, None),       # ld sender protocol address
            (0x15, ip, "accept", None),
            (0x20, 38 + shift, None, None),       # ld target protocol address
            (0x15, ip, "accept", "drop"),
            ("label", f"{tag}-ip"),
            (0x15, 0x0800, None, "drop"),         # IPv4? (A holds the ethertype)
            (0x20, 30 + shift, None, None),       # ld destination address
            (0x15, ip, "accept", "drop")]
    items += [("label", "accept"), (0x06, 0x40000, None, None),
              ("label", "drop"), (0x06, 0, None, None)]
    return tuple(_assemble(items))


def _assemble(items: list[tuple[object, ...]]) -> list[Insn]:
    """(code, k, jump-if-true label, jump-if-false label) and ("label", name) -> instructions
    with relative jumps (None: the next instruction)."""
    labels: dict[object, int] = {}
    pc = 0
    for item in items:
        if item[0] == "label":
            labels[item[1]] = pc
        else:
            pc += 1
    out: list[Insn] = []
    for item in items:
        if item[0] == "label":
            continue
        code, k, jt, jf = item
        here = len(out)

        def offset(label: object, here: int = here) -> int:
            return 0 if label is None else labels[label] - here - 1

        out.append((cast(int, code), offset(jt), offset(jf), cast(int, k)))
    return out


def attach(sock: socket.socket, program: Sequence[Insn]) -> None:
    """Attach (or replace) the socket's filter; frames already queued stay queued."""
    code = ctypes.create_string_buffer(_packed(tuple(program)))
    fprog = struct.pack("HL", len(program), ctypes.addressof(code))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


@functools.lru_cache(maxsize=1024)
def _packed(program: tuple[Insn, ...]) -> bytes:
    return b"".join(struct.pack("HBBI", *i) for i in program)

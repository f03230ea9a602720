"""The probe-VM port relays of `relay.py`, done by the kernel: a tc classifier (eBPF, direct
action) on each side moves the frame across, tagging or untagging it on the way.

At 32 hosts the Python relays copied every probe frame twice through userspace and took over half
of both cores while the path probes ran. Here a frame the probe VM sends tagged V is untagged
(`bpf_skb_vlan_pop`) and redirected out of V's link; a frame arriving on V's link is tagged
(`bpf_skb_vlan_push`) and redirected to the probe port. A link that is also a bridge port (a
vmnic's VLAN link, for a pinned NIC) keeps its frame: the port gets a clone
(`bpf_clone_redirect`) and the tag comes off again before the bridge sees it. Everything else is
what the Python relay does, so either can serve: an untagged frame from the port, or one tagged
with a VLAN the port does not carry, is dropped; teaming beacons are never relayed; a frame is
checked against the MTU of the interface it leaves by (`bpf_check_mtu`), as a packet socket's
send is.

The programs are assembled here (a few instructions each, so no compiler is needed), loaded with
the bpf(2) system call and attached with rtnetlink, from the stdlib only: the vSwitch controller
that uses them starts from the stdlib alone. `KernelRelay` raises `Unsupported` where the kernel
cannot do it (no BPF, no clsact, no helper); the controller then keeps the Python relay.
"""

from __future__ import annotations

import ctypes
import errno
import os
import re
import socket
import struct

from harness.sim.dataplane.relay import BEACON_TYPE, TPID


class Unsupported(OSError):
    """This kernel (or this process's privileges) cannot run the kernel relay."""


# -- eBPF instructions --------------------------------------------------------------------------
R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10 = range(11)
HELPER_MAP_LOOKUP, HELPER_CLONE_REDIRECT, HELPER_VLAN_PUSH, HELPER_VLAN_POP = 1, 13, 18, 19
HELPER_REDIRECT, HELPER_CHECK_MTU = 23, 163
TC_ACT_OK, TC_ACT_SHOT = 0, 2
SKB_PROTOCOL, SKB_VLAN_PRESENT, SKB_VLAN_TCI = 16, 20, 24  # struct __sk_buff offsets

Item = tuple[int, int, int, int, "int | str"]  # (opcode, dst, src, offset or label, imm)


def _mov(dst: int, src: int) -> Item:
    return (0xBF, dst, src, 0, 0)


def _movi(dst: int, imm: int) -> Item:
    return (0xB7, dst, 0, 0, imm)


def _ldxw(dst: int, src: int, off: int) -> Item:
    return (0x61, dst, src, off, 0)


def _call(helper: int) -> Item:
    return (0x85, 0, 0, 0, helper)


def _jeq(dst: int, imm: int, label: str) -> Item:
    return (0x15, dst, 0, 0, f"{label}@{imm}")


def _jne(dst: int, imm: int, label: str) -> Item:
    return (0x55, dst, 0, 0, f"{label}@{imm}")


EXIT: Item = (0x95, 0, 0, 0, 0)
Program = list["Item | str"]  # instructions and label names


def assemble(program: Program) -> bytes:
    """Instructions with jumps to labels (a conditional jump's imm is "label@value") ->
    bytecode. `("ld_map", dst, fd)` loads a map's fd as a 64-bit pseudo immediate."""
    labels: dict[str, int] = {}
    pc = 0
    for item in program:
        if isinstance(item, str):
            labels[item] = pc
        else:
            pc += 2 if item[0] == 0x18 else 1
    out = bytearray()
    pc = 0
    for item in program:
        if isinstance(item, str):
            continue
        code, dst, src, off, imm = item
        if isinstance(imm, str):
            label, _, value = imm.partition("@")
            off, imm = labels[label] - pc - 1, int(value)
        if code == 0x18:  # lddw: two slots
            out += struct.pack("<BBhi", code, (src << 4) | dst, 0, imm & 0xFFFFFFFF)
            out += struct.pack("<BBhi", 0, 0, 0, imm >> 32)
            pc += 2
            continue
        out += struct.pack("<BBhi", code, (src << 4) | dst, off, imm)
        pc += 1
    return bytes(out)


def _goto(label: str) -> Item:
    return (0x05, 0, 0, 0, f"{label}@0")


def _count(map_fd: int) -> Program:
    """counter[0] += 1 (r0-r5 are clobbered)."""
    return [
        (0x62, R10, 0, -8, 0),             # *(u32 *)(r10 - 8) = 0: the key
        (0x18, R1, 1, 0, map_fd),          # r1 = the map (BPF_PSEUDO_MAP_FD)
        _mov(R2, R10), (0x07, R2, 0, 0, -8),
        _call(HELPER_MAP_LOOKUP),
        _jeq(R0, 0, "counted"),
        _movi(R1, 1),
        (0xDB, R0, R1, 0, 0),              # lock *(u64 *)(r0 + 0) += r1
        "counted",
    ]


def _mtu_fits(ifindex_reg: int) -> Program:
    """Drop what is too big for the interface in `ifindex_reg` (bpf_check_mtu on the frame as
    it is now)."""
    return [
        (0x62, R10, 0, -4, 0),             # *(u32 *)(r10 - 4) = 0: check the frame's length
        _mov(R1, R6), _mov(R2, ifindex_reg), _mov(R3, R10), (0x07, R3, 0, 0, -4),
        _movi(R4, 0), _movi(R5, 0),
        _call(HELPER_CHECK_MTU),
        _jne(R0, 0, "drop"),
    ]


def port_program(links: dict[int, int], map_fd: int) -> bytes:
    """For the probe port's ingress: tagged V -> untagged out of V's link (ifindex)."""
    prog: Program = [
        _mov(R6, R1),
        _ldxw(R7, R6, SKB_VLAN_PRESENT), _jeq(R7, 0, "drop"),
        _ldxw(R7, R6, SKB_VLAN_TCI), (0x57, R7, 0, 0, 0x0FFF),
        _mov(R1, R6), _call(HELPER_VLAN_POP), _jne(R0, 0, "drop"),
    ]
    for vlan, ifindex in sorted(links.items()):
        prog += [_jne(R7, vlan, f"not{vlan}"), _movi(R8, ifindex), _goto("send"), f"not{vlan}"]
    prog += ["drop", _movi(R0, TC_ACT_SHOT), EXIT,
             "send", *_mtu_fits(R8), *_count(map_fd),
             _mov(R1, R8), _movi(R2, 0), _call(HELPER_REDIRECT), EXIT]
    return assemble(prog)


def link_program(vlan: int, port: int, shared: bool, map_fd: int) -> bytes:
    """For a VLAN link's ingress: the frame, tagged `vlan`, to the probe port (ifindex); a
    shared link's frame goes on where it was going, and the port gets a copy."""
    beacon = socket.htons(BEACON_TYPE)
    keep = TC_ACT_OK if shared else TC_ACT_SHOT
    prog: Program = [
        _mov(R6, R1),
        _ldxw(R2, R6, SKB_PROTOCOL), _jeq(R2, beacon, "keep"),
        _mov(R1, R6), _movi(R2, socket.htons(TPID)), _movi(R3, vlan), _call(HELPER_VLAN_PUSH),
        _jne(R0, 0, "keep"),
        _movi(R8, port), *_mtu_fits(R8), *_count(map_fd),
    ]
    if shared:
        prog += [_mov(R1, R6), _movi(R2, port), _movi(R3, 0), _call(HELPER_CLONE_REDIRECT),
                 "drop", _mov(R1, R6), _call(HELPER_VLAN_POP),  # the bridge gets it untagged
                 "keep", _movi(R0, keep), EXIT]
    else:
        prog += [_movi(R1, port), _movi(R2, 0), _call(HELPER_REDIRECT), EXIT,
                 "drop", "keep", _movi(R0, keep), EXIT]
    return assemble(prog)


# -- bpf(2) -------------------------------------------------------------------------------------
SYS_BPF = {"x86_64": 321, "aarch64": 280}.get(os.uname().machine)
BPF_MAP_CREATE, BPF_MAP_LOOKUP_ELEM, BPF_PROG_LOAD = 0, 1, 5
BPF_MAP_TYPE_ARRAY, BPF_PROG_TYPE_SCHED_CLS = 2, 3
_libc = ctypes.CDLL(None, use_errno=True)


def _bpf(cmd: int, attr: bytes) -> int:
    if SYS_BPF is None:
        raise Unsupported(errno.ENOSYS, f"no bpf(2) number known for {os.uname().machine}")
    buf = ctypes.create_string_buffer(attr, 128)
    fd = _libc.syscall(SYS_BPF, cmd, buf, 128)
    if fd < 0:
        err = ctypes.get_errno()
        raise Unsupported(err, os.strerror(err))
    return int(fd)


def counter_map() -> int:
    return _bpf(BPF_MAP_CREATE, struct.pack("=IIII", BPF_MAP_TYPE_ARRAY, 4, 8, 1))


def read_counter(map_fd: int) -> int:
    key, value = ctypes.c_uint32(0), ctypes.c_uint64(0)
    _bpf(BPF_MAP_LOOKUP_ELEM, struct.pack("=IIQQ", map_fd, 0, ctypes.addressof(key),
                                          ctypes.addressof(value)))
    return value.value


def load(code: bytes, name: str) -> int:
    """A classifier program's fd; `name` is letters, digits, `_` and `.` (the kernel's rule)."""
    insns = ctypes.create_string_buffer(code, len(code))
    license_ = ctypes.create_string_buffer(b"GPL")
    log = ctypes.create_string_buffer(1 << 16)
    attr = struct.pack("=IIQQIIQII16s", BPF_PROG_TYPE_SCHED_CLS, len(code) // 8,
                       ctypes.addressof(insns), ctypes.addressof(license_),
                       1, len(log), ctypes.addressof(log), 0, 0, name.encode()[:15])
    try:
        return _bpf(BPF_PROG_LOAD, attr)
    except Unsupported as e:
        detail = log.value.decode(errors="replace").strip().splitlines()[-3:]
        raise Unsupported(e.errno, f"{e.strerror}: {' / '.join(detail)}") from None


# -- rtnetlink: a clsact qdisc and one ingress filter ---------------------------------------------
RTM_NEWQDISC, RTM_NEWTFILTER, RTM_DELTFILTER = 36, 44, 45
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
NLMSG_ERROR = 2
TCA_KIND, TCA_OPTIONS = 1, 2
TCA_BPF_FD, TCA_BPF_NAME, TCA_BPF_FLAGS, TCA_BPF_FLAG_ACT_DIRECT = 6, 7, 8, 1
TC_H_CLSACT, TC_H_INGRESS_PARENT = 0xFFFFFFF1, 0xFFFFFFF2
FILTER_PRIO, FILTER_HANDLE = 1, 1


def _attr(kind: int, payload: bytes) -> bytes:
    size = 4 + len(payload)
    return struct.pack("=HH", size, kind) + payload + b"\0" * (-size % 4)


def _request(kind: int, flags: int, ifindex: int, handle: int, parent: int, info: int,
             attrs: bytes) -> None:
    body = struct.pack("=BBHiIII", socket.AF_UNSPEC, 0, 0, ifindex, handle, parent, info) + attrs
    msg = struct.pack("=IHHII", 16 + len(body), kind, NLM_F_REQUEST | NLM_F_ACK | flags, 1, 0)
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0) as nl:
        nl.bind((0, 0))
        nl.send(msg + body)
        reply = nl.recv(65536)
    _length, rtype, _f, _s, _p = struct.unpack_from("=IHHII", reply)
    if rtype == NLMSG_ERROR:
        err = -struct.unpack_from("=i", reply, 16)[0]
        if err and not (kind == RTM_NEWQDISC and err == errno.EEXIST):
            raise Unsupported(err, f"rtnetlink {kind} on ifindex {ifindex}: {os.strerror(err)}")


def attach_ingress(ifindex: int, prog_fd: int, name: str) -> None:
    _request(RTM_NEWQDISC, NLM_F_CREATE | NLM_F_EXCL, ifindex, 0xFFFF0000, TC_H_CLSACT, 0,
             _attr(TCA_KIND, b"clsact\0"))
    options = (_attr(TCA_BPF_FD, struct.pack("=I", prog_fd))
               + _attr(TCA_BPF_NAME, name.encode() + b"\0")
               + _attr(TCA_BPF_FLAGS, struct.pack("=I", TCA_BPF_FLAG_ACT_DIRECT)))
    info = (FILTER_PRIO << 16) | socket.htons(0x0003)  # every protocol
    _request(RTM_NEWTFILTER, NLM_F_CREATE | NLM_F_EXCL, ifindex, FILTER_HANDLE,
             TC_H_INGRESS_PARENT, info, _attr(TCA_KIND, b"bpf\0") + _attr(TCA_OPTIONS, options))


def detach_ingress(ifindex: int) -> None:
    info = (FILTER_PRIO << 16) | socket.htons(0x0003)
    _request(RTM_DELTFILTER, 0, ifindex, FILTER_HANDLE, TC_H_INGRESS_PARENT, info,
             _attr(TCA_KIND, b"bpf\0"))


class KernelRelay:
    """One tagged port and its untagged per-VLAN links, relayed by the kernel (see `Relay`)."""

    kernel = True

    def __init__(self, port: str, vlans: list[tuple[int, str]]) -> None:
        self.port = port
        self.links = dict(vlans)
        index = {name: socket.if_nametoindex(name) for name in [port, *self.links.values()]}
        self.attached: list[int] = []
        self.map_fd = counter_map()
        progs: list[tuple[str, bytes]] = [(port, port_program(
            {v: index[link] for v, link in self.links.items()}, self.map_fd))]
        progs += [(link, link_program(v, index[port], self._shared(link), self.map_fd))
                  for v, link in self.links.items()]
        try:
            for ifname, code in progs:
                fd = load(code, "lh_relay_" + re.sub(r"[^A-Za-z0-9_.]", "_", ifname))
                try:
                    attach_ingress(index[ifname], fd, f"lh-relay-{ifname}")
                finally:
                    os.close(fd)  # the filter holds the program
                self.attached.append(index[ifname])
        except OSError:
            self.close()
            raise

    @staticmethod
    def _shared(link: str) -> bool:
        """Whether the link is a bridge port (its frames belong to the bridge too)."""
        return os.path.exists(f"/sys/class/net/{link}/brport")

    @property
    def fds(self) -> dict[int, int | None]:
        return {}  # nothing for the controller to read

    @property
    def relayed(self) -> int:
        return read_counter(self.map_fd)

    def handle(self, fd: int) -> None:
        raise AssertionError(f"the kernel relays {self.port}; nothing reads fd {fd}")

    def close(self) -> None:
        for ifindex in self.attached:
            try:
                detach_ingress(ifindex)
            except OSError:
                pass  # the interface went away with its filter
        self.attached = []
        os.close(self.map_fd)

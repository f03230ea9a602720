"""Run inside the relay test's namespace (`test_relay.py`): one relay, Python or kernel, and
the frames that cross it, printed as JSON.

The namespace holds a probe port (`tr0` is the probe's end, `pu-pt0` the relay's), a dedicated
VLAN 20 link (`pt0.20`, its far end `pb0.20` standing for the port-group bridge) and a shared
VLAN 30 link (`vm4.30`, a port of bridge `br0` as a vmnic's VLAN link is, its far end `sw4.30`
standing for the physical switch; `brx` is another port of `br0`, whose far end `bry` shows what
the bridge forwards).
"""

from __future__ import annotations

import json
import select
import struct
import sys
import threading
import time

from harness.sim.dataplane.kernelrelay import KernelRelay
from harness.sim.dataplane.relay import Relay, incoming, packet_socket

SRC, DST = b"\x02\x00\x00\x00\x00\x01", b"\xff" * 6
EXPERIMENTAL = 0x88B5  # IEEE local experimental ethertype: nothing in the kernel consumes it
WATCHED = ("tr0", "pb0.20", "sw4.30", "bry")


def frame(payload: int, ethertype: int = EXPERIMENTAL, tag: int | None = None) -> bytes:
    head = DST + SRC + (struct.pack("!HH", 0x8100, tag) if tag is not None else b"")
    return head + struct.pack("!H", ethertype) + bytes(range(256)) * (payload // 256) \
        + b"\x5a" * (payload % 256)


def pump(relay: Relay, stop: threading.Event) -> None:
    fds = list(relay.fds)
    while not stop.is_set():
        ready, _, _ = select.select(fds, [], [], 0.05)
        for fd in ready:
            relay.handle(fd)


def main(mode: str) -> None:
    vlans = [(20, "pt0.20"), (30, "vm4.30")]
    relay: Relay | KernelRelay = KernelRelay("pu-pt0", vlans) if mode == "kernel" \
        else Relay("pu-pt0", vlans)
    stop = threading.Event()
    thread = threading.Thread(target=pump, args=(relay, stop), daemon=True) \
        if isinstance(relay, Relay) else None
    if thread:
        thread.start()
    socks = {name: packet_socket(name) for name in (*WATCHED, "brx")}
    sent_on = {"tr0": socks["tr0"], "pb0.20": socks["pb0.20"], "sw4.30": socks["sw4.30"]}
    cases = {
        "tagged 20": ("tr0", frame(100, tag=20)),
        "tagged 30": ("tr0", frame(100, tag=30)),
        "tagged 40": ("tr0", frame(100, tag=40)),
        "untagged from the probe": ("tr0", frame(100)),
        "too big for pt0.20": ("tr0", frame(1600, tag=20)),
        "from the port-group bridge": ("pb0.20", frame(200)),
        "from the switch": ("sw4.30", frame(300)),
        "beacon from the bridge": ("pb0.20", frame(100, ethertype=0x8922)),
    }
    seen: dict[str, dict[str, list[list[object]]]] = {}
    for case, (where, data) in cases.items():
        for name in WATCHED:
            incoming(socks[name])  # nothing left over from the case before
        sent_on[where].send(data)
        time.sleep(0.2)
        seen[case] = {name: [[got.hex(), vlan] for got, vlan in incoming(socks[name])
                             if got[6:12] == SRC]  # not the bridge's own multicast
                      for name in WATCHED if name != where}
    relayed = relay.relayed
    stop.set()
    if thread:
        thread.join()
    relay.close()
    socks["tr0"].send(frame(100, tag=20))
    time.sleep(0.2)
    after_close = len(incoming(socks["pb0.20"]))
    print(json.dumps({"seen": seen, "relayed": relayed, "kernel": relay.kernel,
                      "frames": {case: data.hex() for case, (_w, data) in cases.items()},
                      "after_close": after_close}))


if __name__ == "__main__":
    main(sys.argv[1])

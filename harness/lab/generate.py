"""Bigger labs of the default lab's shape, for sizing: N ESXi hosts, the same switches, VMs,
NSX and router (`labharness sim generate`, `bench/scale.py`).

Hosts esx04..escNN copy esx03 (a DL360 Gen10 with the same three adapters), each with its own
server and BMC, vmknic addresses, DVS membership, transport-zone membership and switch ports.
The new switch ports sit on a second stack member of each switch (`TenGigabitEthernet2/1/7`),
configured like the template host's, so the cabling plan stays one port per vmnic. What the
generator writes is an ordinary lab file and inventory: `labharness validate` and `lint` pass
on them, and nothing about them is special to the simulator.
"""

from __future__ import annotations

import copy
import ipaddress
import re
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from harness.errors import InputError

TEMPLATE_HOST = "esx03"
MAX_HOSTS = 99  # host addresses are .1ii/.2ii in the template's /24s
_PORT = re.compile(r"^(?P<kind>[A-Za-z]+)(?P<member>\d+)/(?P<module>\d+)/(?P<port>\d+)$")


class GenerateError(InputError):
    """The generator was asked for a lab it cannot make."""


def load(path: Path) -> dict[str, Any]:
    data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise GenerateError(f"{path}: not a mapping")
    return data


def _host_ip(cidr: str, index: int) -> str:
    """The template host's address moved to host `index`: .13 -> .1ii, .23 -> .2ii."""
    iface = ipaddress.IPv4Interface(cidr)
    last = int(str(iface.ip).rsplit(".", 1)[1])
    moved = ipaddress.IPv4Address(int(iface.ip) - last + last // 10 * 100 + index)
    return f"{moved}/{iface.network.prefixlen}"


def _new_port(template: str, taken: set[str]) -> str:
    """A port of the same kind on the next stack member, numbered after the last one taken."""
    m = _PORT.match(template)
    if m is None:
        raise GenerateError(f"cannot derive a port name from {template!r}")
    n = 1
    while True:
        name = f"{m['kind']}2/{m['module']}/{n}"
        if name not in taken:
            taken.add(name)
            return name
        n += 1


def scale_lab(lab: dict[str, Any], n_hosts: int, name: str) -> dict[str, Any]:
    """The lab `lab` (the default lab's raw document) with hosts up to esx`n_hosts`."""
    if not 1 <= n_hosts <= MAX_HOSTS:
        raise GenerateError(f"hosts: {n_hosts} is not 1-{MAX_HOSTS}")
    data = copy.deepcopy(lab)
    data["name"] = name
    data["description"] = f"Generated {n_hosts}-host lab (the default lab's shape)"
    hosts: dict[str, Any] = data["hosts"]
    template = hosts[TEMPLATE_HOST]
    template_server = data["servers"][template["server"]]
    dvs_members = {dvs: sw["hosts"][TEMPLATE_HOST]
                   for dvs, sw in data.get("distributed_switches", {}).items()
                   if TEMPLATE_HOST in sw.get("hosts", {})}
    cables = [c for c in data["cabling"] if c["a"].startswith(f"{TEMPLATE_HOST}/")]
    taken = {f"{sw}:{p}" for sw, s in data["physical_switches"].items() for p in s["ports"]}
    # fewer hosts than the template: drop the extra ones and whatever names them
    keep = [h for h in sorted(hosts) if int(h[3:]) <= n_hosts]
    if len(keep) < len(hosts):
        _drop_hosts(data, set(hosts) - set(keep))
    for i in range(len(keep) + 1, n_hosts + 1):
        host, server = f"esx{i:02d}", f"srv-esx{i:02d}"
        data["servers"][server] = copy.deepcopy(template_server)
        h = copy.deepcopy(template)
        h["server"] = server
        for vmk in h["vmknics"].values():
            vmk["ip"] = _host_ip(vmk["ip"], i)
        hosts[host] = h
        for dvs, member in dvs_members.items():
            data["distributed_switches"][dvs]["hosts"][host] = copy.deepcopy(member)
        for tz in data.get("nsx", {}).get("transport_zones", {}).values():
            if TEMPLATE_HOST in tz["hosts"]:
                tz["hosts"].append(host)
        for cable in cables:
            sw, port = cable["b"].split("/", 1)
            used = {p.split(":", 1)[1] for p in taken if p.startswith(f"{sw}:")}
            new_port = _new_port(port, used)
            taken.add(f"{sw}:{new_port}")
            data["physical_switches"][sw]["ports"][new_port] = copy.deepcopy(
                data["physical_switches"][sw]["ports"][port])
            data["cabling"].append({"a": cable["a"].replace(TEMPLATE_HOST, host, 1),
                                    "b": f"{sw}/{new_port}"})
    return data


def _drop_hosts(data: dict[str, Any], gone: set[str]) -> None:
    if any(vm["host"] in gone for vm in data.get("vms", {}).values()):
        raise GenerateError("the default lab's VMs need esx01-esx03: generate 3 hosts or more")
    for h in gone:
        server = data["hosts"].pop(h)["server"]
        data["servers"].pop(server, None)
        for sw in data.get("distributed_switches", {}).values():
            sw.get("hosts", {}).pop(h, None)
        for tz in data.get("nsx", {}).get("transport_zones", {}).values():
            tz["hosts"] = [x for x in tz["hosts"] if x != h]
    data["cabling"] = [c for c in data["cabling"] if c["a"].split("/")[0] not in gone]


def scale_inventory(inventory: dict[str, Any], lab: dict[str, Any], name: str,
                    subnet: str | None = None) -> dict[str, Any]:
    """The default sim inventory for `lab`: a BMC per server on the management /24 (`subnet`,
    default the template's), certificate pins in the lab's own run directory."""
    data = copy.deepcopy(inventory)
    old_net = ipaddress.IPv4Interface(
        str(data["vcenter"]["url"]).split("//", 1)[1].split("/", 1)[0] + "/24").network
    net = ipaddress.IPv4Network(subnet) if subnet else old_net
    if net.prefixlen != 24:
        raise GenerateError(f"subnet: {net} must be a /24 (the management network)")
    data["name"] = data["lab"] = name

    def moved(value: Any) -> Any:
        if isinstance(value, str):
            value = value.replace("/run/labharness/sim/", f"/run/labharness/{name}/")
            return value.replace(str(old_net.network_address)[:-1],
                                 str(net.network_address)[:-1])
        if isinstance(value, dict):
            return {k: moved(v) for k, v in value.items()}
        if isinstance(value, list):
            return [moved(v) for v in value]
        return value

    data = dict(moved(data))
    template = next(iter(data["bmcs"].values()))
    first = int(str(template["url"]).rsplit(".", 1)[1])
    base = str(template["url"]).rsplit(".", 1)[0]
    bmcs: dict[str, Any] = {}
    for n, server in enumerate(sorted(lab["servers"])):
        if first + n > 254:
            raise GenerateError(f"{len(lab['servers'])} BMCs do not fit in {net}")
        entry = copy.deepcopy(template)
        entry["url"] = f"{base}.{first + n}"
        entry["ca_file"] = f"/run/labharness/{name}/ilo/certs/{server}.crt"
        bmcs[server] = entry
    data["bmcs"] = bmcs
    return data


def write(lab: dict[str, Any], inventory: dict[str, Any], out: Path) -> tuple[Path, Path]:
    """Write `<name>.yaml` and `<name>.inventory.yaml` into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    yaml = YAML()
    yaml.default_flow_style = None
    yaml.width = 100
    lab_path = out / f"{lab['name']}.yaml"
    inv_path = out / f"{lab['name']}.inventory.yaml"
    for path, doc, kind in ((lab_path, lab, "lab"), (inv_path, inventory, "inventory")):
        with path.open("w", encoding="utf-8") as f:
            f.write(f"# {kind} generated by `labharness sim generate` from the default lab\n")
            yaml.dump(doc, f)
    return lab_path, inv_path

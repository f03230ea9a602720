"""esxcli through vCenter: the host's ManagedMethodExecuter runs `vim.EsxCLI.<ns>.<cmd>`.

This is what `govc host.esxcli` and PowerCLI's `Get-EsxCli -V2` do, and what a real lab offers
when SSH to the hosts is off: `RetrieveManagedMethodExecuter` on the HostSystem gives the
executer, `ExecuteSoap(moid="ha-cli-handler-<ns>", version, method, argument[])` runs one
command, and its response is the command's result as an XML document (a list is an
ArrayOfDataObject). pyVmomi has no bindings for these internal methods, so the requests are
written here and sent through the session's own connection (`VsphereConnection.post`).

Results come back as a small tree (`EsxValue`); `harness.drivers.vsphere.esxcli_map` turns it
into the typed records of `harness.facts.esxcli`.
"""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from typing import TypeAlias
from xml.sax.saxutils import escape

from harness.drivers.vsphere.connection import XSI, VsphereConnection
from harness.drivers.vsphere.errors import VsphereFaultError, VsphereNotFoundError

VIM = "urn:vim25"
# What govc sends (cli/esx/executor.go) and ESXi accepts for every esxcli namespace.
ESXCLI_VERSION = "urn:vim25/5.0"

EsxValue: TypeAlias = str | list["EsxValue"] | dict[str, "EsxValue"]
EsxParam: TypeAlias = str | int | bool | Sequence[str] | None


class EsxcliError(VsphereFaultError):
    """esxcli answered with a fault: the CLI's own error (`messages`, what it printed) or the
    command is unknown on this host (`fault` NotFound).

    Attributes:
        command: the esxcli command (`network diag ping`).
        messages: the CLI's error messages (errMsg), or the fault message.
    """

    def __init__(self, endpoint: str, step: str, command: str, messages: Sequence[str],
                 fault: str | None) -> None:
        self.command = command
        self.messages = tuple(messages)
        super().__init__(endpoint, step, "; ".join(self.messages) or "esxcli fault", fault)


class EsxcliNotFoundError(EsxcliError, VsphereNotFoundError):
    """The host has no such esxcli namespace or command."""


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(elem: ET.Element, name: str) -> ET.Element | None:
    return next((c for c in elem if _local(c.tag) == name), None)


def _text(elem: ET.Element, name: str) -> str:
    child = _child(elem, name)
    return (child.text or "") if child is not None else ""


def _argument(name: str, value: EsxParam) -> str:
    """One ExecuteSoap argument: its value is an XML fragment `<name>v</name>` (repeated for a
    list), which travels escaped inside <val>."""
    values = [value] if isinstance(value, (str, int, bool)) else list(value or ())
    fragment = "".join(
        f"<{name}>{escape(('true' if v else 'false') if isinstance(v, bool) else str(v))}"
        f"</{name}>" for v in values)
    return f"<argument><name>{name}</name><val>{escape(fragment)}</val></argument>"


def _tree(elem: ET.Element) -> EsxValue:
    """A result struct as a dict (a repeated field becomes a list), a leaf as its text."""
    kids = list(elem)
    if not kids:
        return elem.text or ""
    out: dict[str, EsxValue] = {}
    for kid in kids:
        key, value = _local(kid.tag), _tree(kid)
        if key in out:
            prev = out[key]
            out[key] = [*prev, value] if isinstance(prev, list) else [prev, value]
        else:
            out[key] = value
    return out


def parse_result(text: str) -> EsxValue:
    """The `response` document of ExecuteSoap: an ArrayOfDataObject is a list of structs, a
    single struct a dict, a scalar (xsd:string, long, boolean) its text."""
    obj = ET.fromstring(text)
    kind = (obj.get(f"{{{XSI}}}type") or "").rsplit(":", 1)[-1]
    if kind == "ArrayOfDataObject":
        return [_tree(e) for e in obj]
    if kind in ("string", "long", "boolean", "int"):
        return obj.text or ""
    return _tree(obj)


def fault_messages(detail: str, message: str) -> tuple[list[str], str | None]:
    """(messages, fault type) of an ExecuteSoap fault: a CLI fault's errMsg lines, else the
    fault message; the type from the LocalizedMethodFault's fault."""
    try:
        root = ET.fromstring(detail) if detail.strip() else None
    except ET.ParseError:
        root = None
    if root is None:
        return [message], None
    fault = next((e for e in root.iter() if _local(e.tag) == "fault"), None)
    kind = None
    if fault is not None:
        # the type attribute's namespace prefix varies between servers; match by local name
        kind = next((v.rsplit(":", 1)[-1] for k, v in fault.attrib.items()
                     if _local(k) == "type"), None)
    msgs = [e.text or "" for e in root.iter() if _local(e.tag) == "errMsg"]
    return (msgs or [message]), kind


class Esxcli:
    """Runs esxcli commands on the hosts of one vCenter session (thread-safe)."""

    def __init__(self, conn: VsphereConnection) -> None:
        self.conn = conn
        self.requests: dict[str, int] = {}  # host -> SOAP requests sent for its esxcli
        self._executers: dict[str, tuple[str, str]] = {}
        self._lock = threading.Lock()

    def _post(self, host: str, step: str, method: str, body: str, extra_s: float = 0.0
              ) -> ET.Element:
        with self._lock:
            self.requests[host] = self.requests.get(host, 0) + 1
        return self.conn.post(step, method, body, extra_s=extra_s)

    def executer(self, host: str, host_moref: str) -> tuple[str, str]:
        """The host's ManagedMethodExecuter (type, id), retrieved once per host."""
        with self._lock:
            known = self._executers.get(host_moref)
        if known is not None:
            return known
        answer = self._post(
            host, f"{host}: RetrieveManagedMethodExecuter", "RetrieveManagedMethodExecuter",
            f'<RetrieveManagedMethodExecuter xmlns="{VIM}"><_this type="HostSystem">'
            f"{escape(host_moref)}</_this></RetrieveManagedMethodExecuter>")
        ref = _child(answer, "returnval")
        if ref is None or not ref.text:
            raise VsphereNotFoundError(self.conn.endpoint, f"{host}: esxcli",
                                       "the host has no ManagedMethodExecuter")
        # echo the type back as given: vCenter says ReflectManagedMethodExecuter
        got = (ref.get("type") or "ManagedMethodExecuter", ref.text)
        with self._lock:
            self._executers[host_moref] = got
        return got

    def run(self, host: str, host_moref: str, command: str,
            params: Mapping[str, EsxParam] | None = None, *, extra_s: float = 0.0) -> EsxValue:
        """Run one command (`network ip route ipv4 list`) with its parameters by SOAP name
        (`netstack`, `interfacename`; booleans as true/false; None left out); `extra_s` is
        how long the command itself takes (a ping), allowed on top of the read timeout.

        Raises:
            EsxcliError: the CLI answered with an error (EsxcliNotFoundError: no such command).
            VsphereError: the request itself failed.
        """
        words = command.split()
        step = f"{host}: esxcli {command}"
        mtype, mid = self.executer(host, host_moref)
        args = "".join(_argument(k, v) for k, v in (params or {}).items() if v is not None)
        answer = self._post(
            host, step, "ExecuteSoap",
            f'<ExecuteSoap xmlns="{VIM}"><_this type="{escape(mtype)}">{escape(mid)}</_this>'
            f"<moid>ha-cli-handler-{'-'.join(words[:-1])}</moid>"
            f"<version>{ESXCLI_VERSION}</version><method>vim.EsxCLI.{'.'.join(words)}</method>"
            f"{args}</ExecuteSoap>", extra_s)
        result = _child(answer, "returnval")
        if result is None:
            return ""
        fault = _child(result, "fault")
        if fault is not None:
            msgs, kind = fault_messages(_text(fault, "faultDetail"), _text(fault, "faultMsg"))
            cls = EsxcliNotFoundError if kind == "NotFound" else EsxcliError
            raise cls(self.conn.endpoint, step, command, msgs, kind)
        response = _child(result, "response")
        if response is None or not (response.text or "").strip():
            return ""
        try:
            return parse_result(response.text or "")
        except ET.ParseError as exc:
            raise EsxcliError(self.conn.endpoint, step, command,
                              [f"unreadable esxcli result: {exc}"], None) from None

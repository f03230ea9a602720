"""The Redfish resource tree of one emulated iLO, per flavour (iLO 4 / iLO 5), as data.

Each resource is an `@odata.id`, a type, a render function over the server's state and, where the
resource allows it, what a PATCH may change (`Patch`), the action a POST runs (`Action`), or a
POST/DELETE handler (sessions). `harness.sim.ilo.app` serves any resource the same way; nothing
here knows about HTTP beyond status codes. URIs follow iLO: `/redfish/v1/Systems/1/` but a
lower-case `/redfish/v1/systems/1/bios/`, trailing slashes, case-insensitive lookup.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from harness.lab.catalog import ADAPTERS
from harness.sim.ilo import bios, messages
from harness.sim.ilo.bios import Attribute
from harness.sim.ilo.spec import server_uuid
from harness.sim.ilo.state import RESET_TYPES, Adapter, Function, Server, SettingsResult, etag_of

R = "/redfish/v1/"
SESSIONS = R + "SessionService/Sessions/"
PathKey = tuple[str | int, ...]


def key(path: str) -> str:
    """Lookup key of a URI path: case-insensitive, trailing slash optional."""
    return path.rstrip("/").lower() or "/"


def link(path: str) -> dict[str, str]:
    return {"@odata.id": path}


@dataclass(frozen=True)
class Context:
    """Who asks: the session (if token-authenticated), and how to build absolute URLs."""

    session_id: str | None = None
    base_url: str = ""
    odata_version: bool = True


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class Refusal(Exception):
    """A request refused with a status and Redfish messages (`Prefix:Key`, args, property)."""

    def __init__(self, status: int, *items: tuple[str, list[str], str | None],
                 headers: Mapping[str, str] | None = None) -> None:
        self.status, self.items, self.headers = status, list(items), dict(headers or {})
        super().__init__(f"{status} {[i[0] for i in items]}")


@dataclass
class Patch:
    """What a PATCH may change on a resource and where the values go."""

    fields: Callable[[], Mapping[PathKey, Attribute]]
    apply: Callable[[dict[PathKey, Any]], None]
    lenient: Callable[[PathKey], bool] | None = None  # accepted now, judged at the reset
    pending: bool = True  # a settings object: applied at reset, SystemResetRequired reply
    writable: Callable[[], bool] = lambda: True  # False: every property is read-only now


@dataclass
class Action:
    """A Redfish action: one parameter with allowable values, and what it does."""

    name: str
    param: str
    allowed: tuple[str, ...]
    run: Callable[[str], str]  # returns the message to reply with; raises StateError
    required: bool = True


@dataclass
class Resource:
    """One URI: how to render it and which methods it takes (derived from what it has)."""

    odata_id: str
    odata_type: str | None
    render: Callable[[Context], Any]
    patch: Patch | None = None
    action: Action | None = None
    post: Callable[[Context, Any], Reply] | None = None
    delete: Callable[[Context], Reply] | None = None
    public: bool = False
    directory: bool = True  # listed in the ResourceDirectory (ilorest builds its cache from it)
    collection: bool = False

    @property
    def methods(self) -> list[str]:
        out = ["GET", "HEAD"] if self.action is None else []
        if self.patch is not None:
            out.append("PATCH")
        if self.action is not None or self.post is not None:
            out.append("POST")
        if self.delete is not None:
            out.append("DELETE")
        return out

    @property
    def schema_name(self) -> str | None:
        """`#Bios.v1_0_0.Bios` -> `Bios.v1_0_0` (the JSON schema file's name)."""
        if not self.odata_type:
            return None
        return self.odata_type.lstrip("#").rsplit(".", 1)[0]


def _slot_names(slot: str) -> tuple[str, str, str]:
    """(resource Id, location label, iLO 4 StructuredName) of an adapter slot."""
    n = slot.removeprefix("pcie")
    return {"embedded": ("EmbeddedLOM", "Embedded LOM", "NIC.LOM.1.1"),
            "flexlom": ("FlexLOM1", "FlexibleLOM 1", "NIC.FlexLOM.1.1")}.get(
        slot, (f"PCIeSlot{n}", f"PCI-E Slot {n}", f"NIC.Slot.{n}.1"))


class Tree:
    """Every resource of one emulated iLO, keyed by `key(@odata.id)`."""

    def __init__(self, server: Server) -> None:
        self.server = server
        spec = server.spec
        self.gen = spec.generation
        self.ilo5 = self.gen == "ilo5"
        # iLO 5 on Gen10 Plus: Chassis/1/NetworkAdapters is listed but empty; the adapters are
        # HPE's read-only BaseNetworkAdapters under the system (ports with LinkStatus)
        self.plus = server.spec.model.endswith("Gen10 Plus")
        self.oem = "Hpe" if self.ilo5 else "Hp"
        self.uuid = server_uuid(spec.name, spec.serial)
        self.resources: dict[str, Resource] = {}
        self.settings = R + ("systems/1/bios/settings/" if self.ilo5 else
                             "systems/1/bios/Settings/")
        self.registries, self.schemas = R + "Registries/", R + ("JsonSchemas/" if self.ilo5
                                                               else "Schemas/")
        self._build()

    # -- helpers -------------------------------------------------------------------------------
    def typ(self, name: str, v5: str, v4: str = "1.0.0") -> str:
        return f"#{name}.{v5 if self.ilo5 else v4}.{name}"

    def add(self, res: Resource) -> Resource:
        self.resources[key(res.odata_id)] = res
        return res

    def collection(self, path: str, name: str, member_type: str,
                   members: Callable[[], list[str]], *, directory: bool = True,
                   extra: Callable[[Context], dict[str, Any]] | None = None) -> Resource:
        def render(ctx: Context) -> dict[str, Any]:
            ids = members()
            out = {"Name": name, "Members@odata.count": len(ids),
                   "Members": [link(m) for m in ids]}
            return {**out, **(extra(ctx) if extra else {})}
        ctype = f"#{member_type}Collection.{member_type}Collection"
        return self.add(Resource(path, ctype, render, directory=directory, collection=True))

    def get(self, path: str) -> Resource | None:
        k = key(path)
        res = self.resources.get(k)
        if res is None and k.startswith(key(SESSIONS) + "/"):
            sid = path.rstrip("/").rsplit("/", 1)[-1]
            if sid in self.server.sessions:
                return self._session(sid)
        return res

    def __iter__(self) -> Iterator[Resource]:
        return iter(list(self.resources.values()))

    def messages(self, result: SettingsResult, key_name: str = "MessageId"
                 ) -> list[dict[str, Any]]:
        return [messages.extended_info(self.gen, m, args, rel, key_name)
                for m, args, rel in result.messages]

    def redfish_settings(self, result: SettingsResult, settings_path: str) -> dict[str, Any]:
        return {"@odata.type": "#Settings.v1_0_0.Settings", "ETag": result.etag,
                "Messages": self.messages(result), "SettingsObject": link(settings_path),
                "Time": result.time}

    # -- the tree ------------------------------------------------------------------------------
    def _build(self) -> None:
        self._root()
        self._sessions()
        self._system()
        self._bios()
        self._chassis_and_manager()
        if self.ilo5 and not self.plus:
            for index, adapter in enumerate(self.server.adapters):
                self._network_adapter(index, adapter)
        else:
            if self.plus:
                base = R + "Chassis/1/NetworkAdapters/"
                self.collection(base, "Network Adapters", "NetworkAdapter", lambda: [])
            self._base_adapters()
        self._registries()
        self._schemas()
        self._directory()

    def _root(self) -> None:
        spec, oem = self.server.spec, self.oem
        manager = {"ManagerType": "iLO 5" if self.ilo5 else "iLO 4",
                   "ManagerFirmwareVersion": spec.firmware,
                   "HostName": f"{spec.name}-ilo", "FQDN": f"{spec.name}-ilo.lab.test",
                   "DefaultLanguage": "en",
                   "Languages": [{"Language": "en", "TranslationName": "English",
                                  "Version": spec.firmware}]}

        def render(ctx: Context) -> dict[str, Any]:
            out: dict[str, Any] = {
                "Id": "RootService", "Name": f"{'HPE' if self.ilo5 else 'HP'} RESTful Root "
                "Service", "RedfishVersion": "1.6.0" if self.ilo5 else "1.0.0",
                "UUID": self.uuid, "Chassis": link(R + "Chassis/"),
                "Managers": link(R + "Managers/"), "Systems": link(R + "Systems/"),
                "SessionService": link(R + "SessionService/"),
                "Registries": link(self.registries), "JsonSchemas": link(self.schemas),
                "Links": {"Sessions": link(SESSIONS)},
                "Oem": {oem: {
                    "@odata.type": self.typ(f"{oem}iLOServiceExt", "v2_0_0"),
                    "Links": {"ResourceDirectory": link(R + "ResourceDirectory/")},
                    "Manager": [manager],
                    "Sessions": {"LoginFailureDelay": 0, "LocalLoginEnabled": True,
                                 "KerberosEnabled": False, "LDAPEnabled": False}}}}
            if self.ilo5:
                out["Product"] = f"ProLiant {spec.model}"
                out["Vendor"] = "HPE"
                out["Oem"][oem]["Moniker"] = {"PRODGEN": "iLO 5", "PRODNAM":
                                              "Integrated Lights-Out 5", "VENDNAM": "HPE"}
                out["ProtocolFeaturesSupported"] = {
                    "ExpandQuery": {"ExpandAll": False, "Levels": False, "Links": False,
                                    "NoLinks": True}, "SelectQuery": True,
                    "OnlyMemberQuery": True, "FilterQuery": False}
            elif not ctx.odata_version:  # iLO 4's pre-Redfish keys, dropped with OData-Version
                out["Type"] = "ServiceRoot.1.0.0"
                out["links"] = {"Sessions": {"href": SESSIONS},
                                "Systems": {"href": R + "Systems/"}}
            return out

        self.add(Resource(R, self.typ("ServiceRoot", "v1_5_0"), render, public=True))
        self.add(Resource(R + "odata", None, lambda ctx: {
            "@odata.context": R + "$metadata", "value": [
                {"name": n, "kind": "Singleton", "url": R + n + "/"}
                for n in ("Systems", "Chassis", "Managers", "SessionService", "Registries",
                          "JsonSchemas")]}, public=True, directory=False))
        self.add(Resource(R + "$metadata", None, lambda ctx: self.metadata(), public=True,
                          directory=False))

    def _sessions(self) -> None:
        server = self.server

        def service(ctx: Context) -> dict[str, Any]:
            return {"Id": "SessionService", "Name": "Session Service", "ServiceEnabled": True,
                    "SessionTimeout": server.session_timeout, "Sessions": link(SESSIONS),
                    "Status": {"State": "Enabled", "Health": "OK"}}

        def set_timeout(changes: dict[PathKey, Any]) -> None:
            server.session_timeout = int(changes[("SessionTimeout",)])

        patch = Patch(lambda: {("SessionTimeout",): Attribute("SessionTimeout", "Integer",
                                                             lower=30, upper=86400)},
                      set_timeout, pending=False) if self.ilo5 else None
        self.add(Resource(R + "SessionService/", self.typ("SessionService", "v1_0_0"), service,
                          patch=patch))

        def mine(ctx: Context) -> dict[str, Any]:
            if ctx.session_id is None:
                return {}
            return {"Oem": {self.oem: {"Links": {"MySession": link(SESSIONS + ctx.session_id +
                                                                   "/")}}}}

        coll = self.collection(SESSIONS, "Sessions", "Session",
                               lambda: [SESSIONS + s + "/" for s in server.sessions],
                               directory=False, extra=mine)
        coll.post = self._login

    def _session(self, sid: str) -> Resource:
        server, oem = self.server, self.oem

        def render(ctx: Context) -> dict[str, Any]:
            s = server.sessions[sid]
            return {"Id": sid, "Name": "User Session", "UserName": s.user,
                    "Oem": {oem: {"@odata.type": self.typ(f"{oem}iLOSession", "v2_1_0"),
                                  "MySession": ctx.session_id == sid, "LoginTime": s.created,
                                  "UserTag": "REST", "UserType": "Local",
                                  "Privileges": {p: True for p in (
                                      "LoginPriv", "RemoteConsolePriv", "UserConfigPriv",
                                      "VirtualMediaPriv", "VirtualPowerAndResetPriv",
                                      "iLOConfigPriv", "HostBIOSConfigPriv",
                                      "HostNICConfigPriv")}}}}

        def logout(ctx: Context) -> Reply:
            server.sessions.pop(sid, None)
            return Reply(200, messages.body(self.gen, [
                messages.extended_info(self.gen, "Base:Success")]))

        return Resource(SESSIONS + sid + "/", self.typ("Session", "v1_0_0"), render,
                        delete=logout, directory=False)

    def _login(self, ctx: Context, body: Any) -> Reply:
        if not isinstance(body, dict):
            raise Refusal(400, ("Base:MalformedJSON", [], None))
        user, password = body.get("UserName"), body.get("Password")
        if not isinstance(user, str) or not isinstance(password, str):
            name = "Password" if isinstance(user, str) else "UserName"
            raise Refusal(400, ("Base:PropertyMissing", [name], name))
        session = self.server.login(user, password)
        path = SESSIONS + session.id + "/"
        res = self._session(session.id)
        own = Context(session.id, ctx.base_url, ctx.odata_version)
        body_out = {"@odata.id": path, "@odata.type": res.odata_type, **res.render(own)}
        return Reply(201, body_out, {"X-Auth-Token": session.token,
                                     "Location": ctx.base_url + path,
                                     "Link": f"<{path}>; rel=self"})

    def _system(self) -> None:
        server, spec, oem = self.server, self.server.spec, self.oem
        system = R + "Systems/1/"
        actions = system + "Actions/"
        rom = "U32 v2.56 (01/22/2021)" if self.ilo5 else "P89 v2.80 (10/16/2020)"

        def render(ctx: Context) -> dict[str, Any]:
            reset = {"target": actions + "ComputerSystem.Reset/",
                     "ResetType@Redfish.AllowableValues": list(RESET_TYPES[self.gen])}
            oem_actions = {
                f"#{oem}ComputerSystemExt.PowerButton": {
                    "target": f"{actions}Oem/{oem}/{oem}ComputerSystemExt.PowerButton/",
                    "PushType@Redfish.AllowableValues": ["Press", "PressAndHold"]}}
            if self.ilo5:
                oem_actions["#HpeComputerSystemExt.SystemReset"] = {
                    "target": f"{actions}Oem/Hpe/HpeComputerSystemExt.SystemReset/",
                    "ResetType@Redfish.AllowableValues": ["ColdBoot", "AuxCycle"]}
            links_oem: dict[str, Any] = {}
            if not self.ilo5:
                links_oem = {"Links": {"NetworkAdapters": link(system + "NetworkAdapters/")}}
            elif self.plus:
                links_oem = {"Links": {"NetworkAdapters": link(system + "BaseNetworkAdapters/")}}
            return {
                "Id": "1", "Name": "Computer System", "SystemType": "Physical",
                "Manufacturer": "HPE" if self.ilo5 else "HP",
                "Model": f"ProLiant {spec.model}", "SerialNumber": spec.serial,
                "SKU": server.bios_table["ProductId"].default, "UUID": self.uuid,
                "AssetTag": server.asset_tag, "HostName": spec.host or "",
                "PowerState": server.power, "BiosVersion": rom, "IndicatorLED": "Off",
                "Status": {"State": "Enabled", "Health": "OK"},
                "ProcessorSummary": {"Count": 2, "Model": "Intel(R) Xeon(R) Gold 6130 CPU"
                                     if self.ilo5 else "Intel(R) Xeon(R) CPU E5-2650 v4",
                                     "Status": {"HealthRollup": "OK"}},
                "MemorySummary": {"TotalSystemMemoryGiB": 384,
                                  "Status": {"HealthRollup": "OK"}},
                "Boot": {"BootSourceOverrideEnabled": "Disabled",
                         "BootSourceOverrideTarget": "None"},
                "Bios": link(R + "systems/1/bios/"),
                "Links": {"Chassis": [link(R + "Chassis/1/")],
                          "ManagedBy": [link(R + "Managers/1/")]},
                "Actions": {"#ComputerSystem.Reset": reset},
                "Oem": {oem: {"@odata.type": self.typ(f"{oem}ComputerSystemExt", "v2_9_0"),
                              "Actions": oem_actions, "PostState": server.post,
                              "PostDiscoveryCompleteTimeStamp": server.post_discovery_complete,
                              **links_oem}}}

        def set_tag(changes: dict[PathKey, Any]) -> None:
            server.asset_tag = str(changes[("AssetTag",)])

        self.collection(R + "Systems/", "Computer Systems", "ComputerSystem",
                        lambda: [system])
        self.add(Resource(system, self.typ("ComputerSystem", "v1_4_0", "1.0.1"), render,
                          patch=Patch(lambda: {("AssetTag",): Attribute(
                              "AssetTag", "String", max_length=32)}, set_tag, pending=False)))

        def reset(kind: str) -> str:
            server.reset(kind)
            return "Base:Success"

        def button(push: str) -> str:
            if push == "PressAndHold":
                server.reset("ForceOff")
            else:
                server.reset("PushPowerButton")
            return "Base:Success"

        def sysreset(kind: str) -> str:
            server.reset("ColdBoot" if server.power == "On" else "On")
            return "Base:Success"

        self.add(Resource(actions + "ComputerSystem.Reset/", None, lambda ctx: None,
                          action=Action("ComputerSystem.Reset", "ResetType",
                                        RESET_TYPES[self.gen], reset), directory=False))
        self.add(Resource(f"{actions}Oem/{oem}/{oem}ComputerSystemExt.PowerButton/", None,
                          lambda ctx: None, action=Action(
                              f"{oem}ComputerSystemExt.PowerButton", "PushType",
                              ("Press", "PressAndHold"), button), directory=False))
        if self.ilo5:
            self.add(Resource(f"{actions}Oem/Hpe/HpeComputerSystemExt.SystemReset/", None,
                              lambda ctx: None, action=Action(
                                  "HpeComputerSystemExt.SystemReset", "ResetType",
                                  ("ColdBoot", "AuxCycle"), sysreset), directory=False))

    def _bios(self) -> None:
        server, spec = self.server, self.server.spec
        current, settings = R + "systems/1/bios/", self.settings
        rid = bios.registry_id(spec)
        btype = self.typ("Bios", "v1_0_0") if self.ilo5 else "#HpBios.1.2.0.HpBios"
        prefix: PathKey = ("Attributes",) if self.ilo5 else ()

        def attrs(values: dict[str, Any]) -> dict[str, Any]:
            return {"Attributes": dict(values)} if self.ilo5 else dict(values)

        def render_current(ctx: Context) -> dict[str, Any]:
            out = {"Id": "bios", "Name": "BIOS Current Settings", "AttributeRegistry": rid,
                   **attrs(server.bios)}
            if self.ilo5:
                out["@Redfish.Settings"] = self.redfish_settings(server.bios_result, settings)
                out["Actions"] = {"#Bios.ResetBios": {
                    "target": settings + "Actions/Bios.ResetBios/"}}
            else:
                out["SettingsResult"] = {"ETag": server.bios_result.etag,
                                         "Messages": self.messages(server.bios_result,
                                                                   "MessageID"),
                                         "Time": server.bios_result.time}
                out["Oem"] = {"Hp": {"Links": {"Settings": link(settings)}}}
            return out

        def render_pending(ctx: Context) -> dict[str, Any]:
            return {"Id": "settings", "Name": "BIOS Pending Settings",
                    "AttributeRegistry": rid, **attrs(server.bios_view())}

        def fields() -> dict[PathKey, Attribute]:
            return {(*prefix, a.name): a for a in server.bios_table.values() if not a.read_only}

        def apply(changes: dict[PathKey, Any]) -> None:
            server.require_settable()
            server.bios_pending.update({str(p[-1]): v for p, v in changes.items()})

        def reset_bios(_: str) -> str:
            server.require_settable()
            server.bios_pending.update({a.name: a.default for a in server.bios_table.values()
                                        if not a.read_only})
            return "iLO:SystemResetRequired"

        self.add(Resource(current, btype, render_current))
        def lenient(path: PathKey) -> bool:
            """Any attribute name: iLO reports unknown and read-only ones after the reset."""
            if len(path) != len(prefix) + 1 or path[:len(prefix)] != prefix:
                return False
            return self.ilo5 or path[0] in server.bios_table or path[0] not in render_pending(
                Context())

        self.add(Resource(settings, btype, render_pending,
                          patch=Patch(fields, apply, lenient=lenient)))
        if self.ilo5:
            self.add(Resource(settings + "Actions/Bios.ResetBios/", None, lambda ctx: None,
                              action=Action("Bios.ResetBios", "ResetType", ("default",),
                                            reset_bios, required=False), directory=False))

    def _chassis_and_manager(self) -> None:
        spec, server = self.server.spec, self.server
        chassis, manager = R + "Chassis/1/", R + "Managers/1/"
        version = f"iLO {'5' if self.ilo5 else '4'} v{spec.firmware}"

        def render_chassis(ctx: Context) -> dict[str, Any]:
            out = {"Id": "1", "Name": "Computer System Chassis", "ChassisType": "RackMount",
                   "Manufacturer": "HPE" if self.ilo5 else "HP",
                   "Model": f"ProLiant {spec.model}", "SerialNumber": spec.serial,
                   "SKU": server.bios_table["ProductId"].default, "PowerState": server.power,
                   "Status": {"State": "Enabled", "Health": "OK"},
                   "Links": {"ComputerSystems": [link(R + "Systems/1/")],
                             "ManagedBy": [link(manager)]}}
            if self.ilo5:
                out["NetworkAdapters"] = link(chassis + "NetworkAdapters/")
            return out

        def render_manager(ctx: Context) -> dict[str, Any]:
            major, _, minor = spec.firmware.partition(".")
            return {"Id": "1", "Name": "Manager", "ManagerType": "BMC",
                    "Model": "iLO 5" if self.ilo5 else "iLO 4", "FirmwareVersion": version,
                    "UUID": str(uuid.uuid5(uuid.NAMESPACE_DNS, f"ilo.{self.uuid}")),
                    "Status": {"State": "Enabled", "Health": "OK"},
                    "Links": {"ManagerForServers": [link(R + "Systems/1/")],
                              "ManagerForChassis": [link(chassis)]},
                    "Oem": {self.oem: {
                        "@odata.type": self.typ(f"{self.oem}iLO", "v2_1_0"),
                        "Firmware": {"Current": {
                            "MajorVersion": int(major or 0),
                            "MinorVersion": int(minor or 0) if minor.isdigit() else 0,
                            "VersionString": version}}}}}

        self.collection(R + "Chassis/", "Computer System Chassis", "Chassis",
                        lambda: [chassis])
        self.add(Resource(chassis, self.typ("Chassis", "v1_6_0"), render_chassis))
        self.collection(R + "Managers/", "Managers", "Manager", lambda: [manager])
        self.add(Resource(manager, self.typ("Manager", "v1_5_1"), render_manager))

    def _network_adapter(self, index: int, adapter: Adapter) -> None:
        server, spec = self.server, adapter.spec
        model = ADAPTERS[spec.model]
        base = R + "Chassis/1/NetworkAdapters/"
        if index == 0:
            self.collection(base, "Network Adapters", "NetworkAdapter", lambda: [
                base + _slot_names(a.spec.slot)[0] + "/" for a in server.adapters])
        path = base + _slot_names(spec.slot)[0] + "/"
        ndfs, ports = path + "NetworkDeviceFunctions/", path + "NetworkPorts/"

        def controller_oem(values: dict[str, Any]) -> dict[str, Any]:
            out: dict[str, Any] = {"FunctionTypes": sorted({f.func_type
                                                            for f in adapter.functions}),
                                   "MostRecentConfigurationChangeSource": "UEFI-HII"}
            if adapter.lldp_agent is not None:
                out["EmbeddedLLDPFunctions"] = {
                    "Enabled": values.get("lldp_agent", adapter.lldp_agent)}
            return out

        def render(values: dict[str, Any], settings: bool) -> dict[str, Any]:
            out: dict[str, Any] = {
                "Id": "Settings" if settings else _slot_names(spec.slot)[0],
                "Name": model.full_name, "Manufacturer": "HPE", "Model": model.full_name,
                "PartNumber": f"{spec.model}-PN",
                "SerialNumber": f"{server.spec.serial}{index}",
                "Status": {"State": "Enabled", "Health": "OK"},
                "Location": {"PartLocation": {"ServiceLabel": _slot_names(spec.slot)[1],
                                              "LocationType": "Slot"}},
                "Controllers": [{
                    "FirmwarePackageVersion": spec.firmware,
                    "ControllerCapabilities": {
                        "DataCenterBridging": {"Capable": model.dcb},
                        "NetworkDeviceFunctionCount": len(adapter.functions),
                        "NetworkPortCount": len(spec.ports),
                        "NPAR": {"NparCapable": model.dcb, "NparEnabled": False},
                        "VirtualizationOffload": {"SRIOV": {"SRIOVVEPACapable": True}}},
                    "Links": {
                        "NetworkDeviceFunctions": [link(f"{ndfs}{p.number}/")
                                                   for p in spec.ports],
                        "NetworkPorts": [link(f"{ports}{p.number}/") for p in spec.ports]}}],
                "NetworkDeviceFunctions": link(ndfs), "NetworkPorts": link(ports),
                "Oem": {"Hpe": {
                    "@odata.type": "#HpeBaseNetworkAdapterExt.v2_0_0.HpeBaseNetworkAdapterExt",
                    "RedfishConfiguration": "Enabled" if adapter.redfish_configuration
                    else "Disabled",
                    "FactoryDefaultsActuationBehavior": "AtNextReboot",
                    "Controllers": [controller_oem(values)]}}}
            if adapter.redfish_configuration and not settings:
                out["@Redfish.Settings"] = self.redfish_settings(adapter.result,
                                                                 path + "Settings/")
            return out

        atype = "#NetworkAdapter.v1_5_0.NetworkAdapter"
        self.add(Resource(path, atype, lambda ctx: render({}, False)))
        if adapter.redfish_configuration:
            lldp: PathKey = ("Oem", "Hpe", "Controllers", 0, "EmbeddedLLDPFunctions", "Enabled")

            def lldp_fields() -> dict[PathKey, Attribute]:
                if adapter.lldp_agent is None:
                    return {}
                return {lldp: Attribute("Enabled", "Boolean")}

            def set_lldp(changes: dict[PathKey, Any]) -> None:
                server.require_settable()
                adapter.pending["lldp_agent"] = bool(changes[lldp])

            self.add(Resource(path + "Settings/", atype,
                              lambda ctx: render(adapter.pending, True),
                              patch=Patch(lldp_fields, set_lldp)))
        self.collection(ndfs, "Network Device Functions", "NetworkDeviceFunction",
                        lambda: [f"{ndfs}{p.number}/" for p in spec.ports])
        self.collection(ports, "Network Ports", "NetworkPort",
                        lambda: [f"{ports}{p.number}/" for p in spec.ports])
        for fn in adapter.functions:
            self._function(adapter, fn, ndfs, ports)
            self._port(adapter, fn, ports)

    def _function(self, adapter: Adapter, fn: Function, ndfs: str, ports: str) -> None:
        server, port = self.server, fn.port
        path = f"{ndfs}{port.number}/"
        ftype = "#NetworkDeviceFunction.v1_3_3.NetworkDeviceFunction"

        def render(func_type: str, settings: bool) -> dict[str, Any]:
            out: dict[str, Any] = {
                "Id": "Settings" if settings else str(port.number),
                "Name": f"Port {port.number} function",
                "NetDevFuncType": func_type, "NetDevFuncCapabilities": list(fn.capabilities),
                "DeviceEnabled": True, "BootMode": "Disabled",
                "Ethernet": {"MACAddress": port.mac, "PermanentMACAddress": port.mac,
                             "MTUSize": 1500},
                "AssignablePhysicalPorts": [link(f"{ports}{port.number}/")],
                "PhysicalPortAssignment": link(f"{ports}{port.number}/"),
                "Status": {"State": "Enabled", "Health": "OK"}}
            if adapter.redfish_configuration and not settings:
                out["@Redfish.Settings"] = self.redfish_settings(fn.result, path + "Settings/")
            return out

        def fields() -> dict[PathKey, Attribute]:
            return {("NetDevFuncType",): Attribute("NetDevFuncType", "Enumeration",
                                                   values=fn.capabilities)}

        def apply(changes: dict[PathKey, Any]) -> None:
            server.require_settable()
            fn.pending["NetDevFuncType"] = changes[("NetDevFuncType",)]

        self.add(Resource(path, ftype, lambda ctx: render(fn.func_type, False)))
        self.add(Resource(path + "Settings/", ftype, lambda ctx: render(
            fn.pending.get("NetDevFuncType", fn.func_type), True),
            patch=Patch(fields, apply, writable=lambda: adapter.redfish_configuration)))

    def _port(self, adapter: Adapter, fn: Function, ports: str) -> None:
        port, model = fn.port, ADAPTERS[adapter.spec.model]

        def render(ctx: Context) -> dict[str, Any]:
            out: dict[str, Any] = {
                "Id": str(port.number), "Name": f"Port {port.number}",
                "PhysicalPortNumber": str(port.number), "LinkStatus": "Up",
                "CurrentLinkSpeedMbps": model.speed_gbps * 1000,
                "AssociatedNetworkAddresses": [port.mac],
                "SupportedLinkCapabilities": [{"LinkNetworkTechnology": "Ethernet",
                                               "LinkSpeedMbps": model.speed_gbps * 1000}],
                "Status": {"State": "Enabled", "Health": "OK"}}
            # iLO 5 1.x reports LLDP only in the port's HpeLLDP resource; 2.x adds LldpData
            if adapter.lldp_agent is not None and self.server.spec.firmware_major >= 2:
                # The embedded agent terminates LLDP: with it off, the adapter hears nothing.
                peer = heard()
                received = {} if peer is None else {
                    "ChassisId": peer.chassis_id, "ChassisIdSubtype": "MacAddr",
                    "PortId": peer.port_id, "PortIdSubtype": "IfName",
                    "SystemName": peer.system_name, "SystemDescription": peer.description}
                out["Oem"] = {"Hpe": {
                    "@odata.type": "#HpeBaseNetworkAdapterExt.v2_0_0.HpeNetworkPort",
                    "LldpData": {"Receiving": received,
                                 "Transmitting": {"Enabled": bool(adapter.lldp_agent)}}}}
            return out

        def heard() -> Any:
            return port.peer if adapter.lldp_agent else None

        def hpe_lldp(ctx: Context) -> dict[str, Any]:
            """HPE's HpeNetworkPortLLDP (iLO 5 1.20 on; deprecated for LldpData later): `ID`
            spellings, the port id as colon-delimited hex octets, no system name."""
            peer = heard()
            return {"Id": "HpeLLDP", "Name": "LLDP", "Receiving": {
                "ChassisID": peer.chassis_id if peer else None,
                "ChassisIDSubtype": "MacAddr" if peer else None,
                "PortID": ":".join(f"{b:02x}" for b in peer.port_id.encode()) if peer else None,
                "PortIDSubtype": "IfName" if peer else None,
                "SystemDescription": peer.description if peer else None,
                "NearestBridgeTtlExpired": False if peer else None},
                "Transmitting": {"ChassisIDSubtype": "MacAddr", "PortIDSubtype": "MacAddr"}}

        self.add(Resource(f"{ports}{port.number}/", "#NetworkPort.v1_2_1.NetworkPort", render))
        if adapter.lldp_agent is not None:
            version = "v1_0_0" if self.server.spec.firmware_major < 2 else "v1_2_0"
            self.add(Resource(f"{ports}{port.number}/HpeLLDP/",
                              f"#HpeNetworkPortLLDP.{version}.HpeNetworkPortLLDP", hpe_lldp))

    def _base_adapters(self) -> None:
        """iLO 4 (HpBaseNetworkAdapter under Systems/1/NetworkAdapters) and iLO 5 on Gen10 Plus
        (HpeBaseNetworkAdapter under Systems/1/BaseNetworkAdapters): read-only inventory, no
        personality, no DCB. iLO 5 gives each port a LinkStatus; iLO 4 has no link field."""
        server = self.server
        base = R + ("Systems/1/BaseNetworkAdapters/" if self.ilo5 else
                    "Systems/1/NetworkAdapters/")
        kind = f"{self.oem}BaseNetworkAdapter"
        self.collection(base, "Base Network Adapters", kind,
                        lambda: [f"{base}{i + 1}/" for i in range(len(server.adapters))])
        for i, adapter in enumerate(server.adapters):
            spec, model = adapter.spec, ADAPTERS[adapter.spec.model]

            def render(ctx: Context, spec: Any = spec, model: Any = model, i: int = i
                       ) -> dict[str, Any]:
                def port(p: Any) -> dict[str, Any]:
                    out = {"Name": f"Port {p.number}", "MacAddress": p.mac,
                           "SpeedMbps": model.speed_gbps * 1000, "FullDuplex": True,
                           "Status": {"State": "Enabled", "Health": "OK"}}
                    if self.ilo5:
                        out["LinkStatus"] = "LinkUp"
                    return out

                return {"Id": str(i + 1), "Name": model.full_name,
                        "StructuredName": _slot_names(spec.slot)[2],
                        "PartNumber": f"{spec.model}-PN",
                        "SerialNumber": f"{server.spec.serial}{i}",
                        "Firmware": {"Current": {"VersionString": spec.firmware}},
                        "Status": {"State": "Enabled", "Health": "OK"},
                        "PhysicalPorts": [port(p) for p in spec.ports]}

            self.add(Resource(f"{base}{i + 1}/", f"#{kind}.1.1.0.{kind}" if not self.ilo5 else
                              f"#{kind}.v2_0_0.{kind}", render))

    def _files(self, coll: str, name: str, kind: str,
               files: list[tuple[str, str, Callable[[], dict[str, Any]]]]) -> None:
        """A registry or schema file collection: per file a locator resource (`Location[].Uri`,
        `{"extref": ...}` on iLO 4) and the document itself; none go in the ResourceDirectory."""
        members = []
        for fid, doc_path, make in files:
            members.append(f"{coll}{fid}/")
            location: Any = doc_path if self.ilo5 else {"extref": doc_path}
            ref = {"Registry": fid} if kind == "MessageRegistryFile" else {
                "Schema": f"#{fid}.{fid.split('.')[0]}"}

            def locator(ctx: Context, fid: str = fid, ref: dict[str, str] = ref,
                        location: Any = location) -> dict[str, Any]:
                return {"Id": fid, "Name": f"{fid} {kind}", **ref, "Languages": ["en"],
                        "Location": [{"Language": "en", "Uri": location}]}

            def document(ctx: Context, make: Callable[[], dict[str, Any]] = make
                         ) -> dict[str, Any]:
                return make()

            self.add(Resource(f"{coll}{fid}/", self.typ(kind, "v1_1_0"), locator,
                              directory=False))
            self.add(Resource(doc_path, None, document, directory=False))
        # Not in the ResourceDirectory: ilorest fetches them itself (`?$expand=.` on iLO 5).
        res = self.collection(coll, name, kind, lambda: members, directory=False)
        if not self.ilo5:  # iLO 4 types both collections alike; ilorest tells them by Name
            res.odata_type = "#SchemaFileCollection.SchemaFileCollection"

    def _registries(self) -> None:
        spec, gen = self.server.spec, self.gen
        store = R + "RegistryStore/registries/en/"
        files: list[tuple[str, str, Callable[[], dict[str, Any]]]] = []
        for prefix in ("Base", "iLO"):
            rid = messages.registry_id(gen, prefix)
            path = f"{store}{rid.lower()}/"
            files.append((rid, path, partial(messages.registry_document, gen, prefix, path)))
        rid = bios.registry_id(spec)
        path = f"{store}{rid.lower()}/"
        files.append((rid, path, partial(bios.registry_document, spec, self.server.bios_table,
                                         path)))
        self._files(self.registries, "Registry File Collection", "MessageRegistryFile", files)

    def _schemas(self) -> None:
        names = sorted({r.schema_name for r in self if r.schema_name and r.action is None})
        files: list[tuple[str, str, Callable[[], dict[str, Any]]]] = [
            (n, f"{R}SchemaStore/en/{n}.json/", partial(self.json_schema, n)) for n in names]
        if not self.ilo5:
            # iLO 4's BIOS attribute registry is a schema (HpBiosAttributeRegistrySchema):
            # ilorest looks for it in the schema collection, never in Registries.
            spec, rid = self.server.spec, bios.registry_id(self.server.spec)
            path = f"{R}SchemaStore/en/{rid}.json/"
            files.append((rid, path, partial(bios.registry_document, spec,
                                             self.server.bios_table, path)))
        self._files(self.schemas, "JSON Schema File Collection", "JsonSchemaFile", files)

    def _directory(self) -> None:
        def render(ctx: Context) -> dict[str, Any]:
            instances = []
            for res in self:
                if not res.directory or res.odata_type is None:
                    continue
                instances.append({"@odata.id": res.odata_id, "@odata.type": res.odata_type,
                                  "ETag": self.etag(res, ctx),
                                  "HttpMethods": [m for m in res.methods if m != "HEAD"]})
            return {"Id": "ResourceDirectory", "Name": "iLO Resource Directory",
                    "Instances": instances}

        self.add(Resource(R + "ResourceDirectory/",
                          self.typ(f"{self.oem}iLOResourceDirectory", "v2_0_0"), render,
                          directory=False))

    # -- documents -----------------------------------------------------------------------------
    def document(self, res: Resource, ctx: Context) -> Any:
        """The resource's body as served: `@odata.*` decorations over its render."""
        body = res.render(ctx)
        if res.odata_type is None or not isinstance(body, dict):
            return body
        out = {"@odata.id": res.odata_id, "@odata.type": res.odata_type, **body}
        out["@odata.etag"] = f'W/"{etag_of(out)}"'
        return out

    def etag(self, res: Resource, ctx: Context) -> str:
        doc = self.document(res, ctx)
        return str(doc.get("@odata.etag", "")) if isinstance(doc, dict) else ""

    def json_schema(self, name: str) -> dict[str, Any]:
        """A JSON schema of one type, made from what this emulator serves: every property with
        its JSON type, `readonly` unless a PATCH may change it, and the allowed values."""
        sample = next(r for r in self if r.schema_name == name)
        writable: dict[PathKey, Attribute] = {}
        for r in self:
            if r.schema_name == name and r.patch is not None:
                writable.update(r.patch.fields())

        def schema(value: Any, path: PathKey) -> dict[str, Any]:
            if isinstance(value, dict):
                return {"type": "object", "readonly": True, "properties": {
                    k: schema(v, (*path, k)) for k, v in value.items()
                    if not k.startswith("@")}}
            if isinstance(value, list):
                return {"type": "array", "readonly": True,
                        "items": schema(value[0], (*path, 0)) if value else {}}
            kind = {bool: "boolean", int: "integer", float: "number", str: "string"}.get(
                type(value), "null")
            out: dict[str, Any] = {"type": kind, "readonly": path not in writable}
            attr = writable.get(path)
            if attr is not None and attr.values:
                out["enum"] = list(attr.values)
            return out

        body = sample.render(Context())
        doc = schema(body, ())
        full = sample.odata_type or ""
        return {"$schema": "http://json-schema.org/draft-04/schema#", "title": full,
                "type": "object", "properties": doc["properties"],
                "copyright": "Generated by the labharness iLO emulator"}

    def metadata(self) -> str:
        """`$metadata`: references to the DMTF CSDL of every type served (for validators)."""
        namespaces = sorted({(r.odata_type or "").lstrip("#").split(".")[0] for r in self
                             if r.odata_type and not r.odata_type.startswith(("#Hp", "#Hpe"))})
        refs = "\n".join(
            f'  <edmx:Reference Uri="http://redfish.dmtf.org/schemas/v1/{ns}_v1.xml">\n'
            f'    <edmx:Include Namespace="{ns}"/>\n  </edmx:Reference>'
            for ns in namespaces)
        return ('<?xml version="1.0" encoding="UTF-8"?>\n'
                '<edmx:Edmx xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx" '
                'Version="4.0">\n'
                f"{refs}\n"
                '  <edmx:DataServices>\n'
                '    <Schema xmlns="http://docs.oasis-open.org/odata/ns/edm" '
                'Namespace="Service">\n'
                '      <EntityContainer Name="Service" '
                'Extends="ServiceRoot.v1_0_0.ServiceContainer"/>\n'
                '    </Schema>\n  </edmx:DataServices>\n</edmx:Edmx>\n')

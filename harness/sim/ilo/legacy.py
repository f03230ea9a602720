"""iLO 4's legacy HPE RESTful API: the `/rest/v1` tree beside `/redfish/v1`.

HPE's "iLO RESTful API for iLO 4" (2.30 and later) says iLO 4 mirrors one resource model at both
entry points and, without an `OData-Version` header, returns the pre-Redfish compatibility
properties next to the Redfish ones: `Type` (`ComputerSystem.1.0.1`), a `links` object whose
entries are `{"href": "/rest/v1/..."}` with `self` among them, and collections of type
`Collection.1.0.0` with `MemberType`, `Total`, `Items` (the members inline) and
`links.Member[]`. Sessions are created at `/rest/v1/Sessions`. HPE's ilorest uses this tree
in its default mode (no `--redfish`) on an iLO 4: it reads the root's `Type` to decide that the
service is legacy REST, logs in at `links.Sessions.href` and reads `/rest/v1/Managers/1`.

This module only translates: a `/rest/v1` path to the `/redfish/v1` resource it mirrors, and
a rendered Redfish document to its legacy form. The resources, their state, PATCH and POST
stay those of `harness.sim.ilo.tree`, so both trees always show the same server.
"""

from __future__ import annotations

from typing import Any

PREFIX = "/rest/v1"
REDFISH = "/redfish/v1/"
# legacy entry points with no Redfish twin of the same name
ALIASES = {"sessions": "SessionService/Sessions/"}


def is_legacy(path: str) -> bool:
    p = path.lower()
    return p == PREFIX or p.startswith(PREFIX + "/")


def redfish_path(path: str) -> str:
    """`/rest/v1/Systems/1` -> `/redfish/v1/Systems/1`; `/rest/v1/Sessions/x` -> the session."""
    rest = path[len(PREFIX):].lstrip("/")
    head, _, tail = rest.partition("/")
    alias = ALIASES.get(head.lower())
    if alias is not None:
        return REDFISH + alias + tail
    return REDFISH + rest


def legacy_uri(uri: str) -> str:
    """`/redfish/v1/Systems/1/` -> `/rest/v1/Systems/1` (legacy hrefs carry no trailing slash)."""
    if not uri.startswith(REDFISH.rstrip("/")):
        return uri
    return PREFIX + uri[len(REDFISH.rstrip("/")):].rstrip("/")


def legacy_type(odata_type: str) -> str:
    """`#ComputerSystem.1.0.1.ComputerSystem` -> `ComputerSystem.1.0.1` (iLO 4's `Type`)."""
    name = odata_type.lstrip("#")
    return name.rsplit(".", 1)[0] if name.count(".") >= 2 else name


def _is_link(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"@odata.id"}


def _hrefs(value: Any) -> Any:
    """A Redfish link (or list of links) as legacy hrefs."""
    if isinstance(value, list):
        return [{"href": legacy_uri(v["@odata.id"])} for v in value if _is_link(v)]
    return {"href": legacy_uri(value["@odata.id"])}


def _links(doc: dict[str, Any]) -> dict[str, Any]:
    """`links` of one object: its own link properties and those under its `Links`."""
    out: dict[str, Any] = {}
    for name, value in doc.items():
        if _is_link(value) or (isinstance(value, list) and value and all(map(_is_link, value))):
            out[name] = _hrefs(value)
    for name, value in (doc.get("Links") or {}).items():
        if _is_link(value) or (isinstance(value, list) and all(map(_is_link, value))):
            out[name] = _hrefs(value)
    return out


def document(doc: dict[str, Any], members: list[dict[str, Any]] | None = None
             ) -> dict[str, Any]:
    """The legacy form of one rendered Redfish document (`members`: a collection's members,
    rendered, for `Items`)."""
    out = dict(doc)
    self_uri = str(doc.get("@odata.id", ""))
    links = {**_links(doc), "self": {"href": legacy_uri(self_uri)}}
    odata_type = str(doc.get("@odata.type", ""))
    if members is not None:
        items = [document(m) for m in members]
        out["Type"] = "Collection.1.0.0"
        if items:
            major = items[0].get("Type", "").split(".")[0]
            out["MemberType"] = f"{major}.1" if major else ""
        out["Total"] = len(items)
        out["Items"] = items
        links["Member"] = [{"href": legacy_uri(m.get("@odata.id", ""))} for m in members]
        links.pop("Members", None)
    elif odata_type:
        out["Type"] = legacy_type(odata_type)
    if isinstance(out.get("Instances"), list):  # the ResourceDirectory, as legacy clients read it
        out["Instances"] = [
            {**i, "href": legacy_uri(str(i.get("@odata.id", ""))),
             "Type": legacy_type(str(i.get("@odata.type", "")))}
            if isinstance(i, dict) else i for i in out["Instances"]]
    oem = out.get("Oem")
    if isinstance(oem, dict) and isinstance(oem.get("Hp"), dict):
        hp = dict(oem["Hp"])
        hp_links = _links(hp)
        if hp_links:
            hp["links"] = hp_links
            links = {**hp_links, **links}  # HpBios: links.Settings beside links.self
        out["Oem"] = {**oem, "Hp": hp}
    out["links"] = {**out.get("links", {}), **links}
    if self_uri.rstrip("/") == REDFISH.rstrip("/"):
        out["links"]["Sessions"] = {"href": PREFIX + "/Sessions"}
        if "JsonSchemas" in out["links"]:
            out["links"]["Schemas"] = out["links"].pop("JsonSchemas")
    return out


def error(body: dict[str, Any]) -> dict[str, Any]:
    """iLO 4's legacy error (and message) body: the Redfish `error` object plus
    `Type: ExtendedError.1.0.0` and `Messages[].MessageID`, as HPE's iLO 4 error handling
    documents for clients that send no OData-Version."""
    info = body.get("error", {}).get("@Message.ExtendedInfo", [])
    ids = [m.get("MessageId") or m.get("MessageID") for m in info if isinstance(m, dict)]
    return {**body, "Type": "ExtendedError.1.0.0",
            "Messages": [{"MessageID": i} for i in ids if i]}


def location(value: str) -> str:
    """A `Location` header for a legacy client: the same resource under `/rest/v1`."""
    head, sep, path = value.partition(REDFISH.rstrip("/"))
    return head + legacy_uri(sep + path) if sep else value

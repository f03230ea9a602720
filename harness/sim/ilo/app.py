"""HTTP for the emulated iLOs: one aiohttp application per BMC, generic over the resource tree.

Every request goes through `handle`: find the resource (case-insensitive, trailing slash
optional), authenticate (session token or Basic; only the service root, `$metadata`, `odata`
and the login POST are open), then GET renders, PATCH validates against the resource's writable
properties and If-Match, POST runs the resource's action or handler, DELETE its handler.
Errors are iLO's message bodies with the right status. `serve` runs every BMC of a spec in one
event loop, one HTTPS site per BMC address with its own certificate.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import socket
import ssl
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from harness.sim import readyfile
from harness.sim.ilo import legacy, messages
from harness.sim.ilo.hardware import HardwareFile
from harness.sim.ilo.spec import BmcSpec
from harness.sim.ilo.state import Server, StateError
from harness.sim.ilo.tree import Context, PathKey, Refusal, Reply, Resource, Tree, key
from harness.sim.ilo.uplinks import UplinkFollower, sync_all
from harness.sim.tlscert import make_self_signed

STATUS_OF = {"iLO:UnauthorizedLoginAttempt": 401, "Base:SessionLimitExceeded": 503}
COMMON_HEADERS = {"OData-Version": "4.0", "Cache-Control": "no-cache",
                  "X-Frame-Options": "sameorigin", "Server": "HPE-iLO-Server/1.30"}
STATS_PATH = "/lh/requests"  # the emulator's own counters (not Redfish): GET, DELETE resets


@dataclass
class Bmc:
    """One emulated iLO: its server state and its resource tree."""

    server: Server
    tree: Tree

    @classmethod
    def from_spec(cls, spec: BmcSpec) -> Bmc:
        server = Server(spec)
        return cls(server, Tree(server))


BMC_KEY = web.AppKey("bmc", Bmc)


def _opaque(tag: str) -> str:
    return tag.strip().removeprefix("W/").strip('"')


def _leaves(value: Any, path: PathKey = ()) -> Iterator[tuple[PathKey, Any]]:
    """Leaf properties of a PATCH body; `@` annotations skipped, `{}` in an array = unchanged."""
    if isinstance(value, dict) and path != () and not value:
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not str(k).startswith("@"):
                yield from _leaves(v, (*path, str(k)))
    elif isinstance(value, list) and value:
        for i, v in enumerate(value):
            yield from _leaves(v, (*path, i))
    else:
        yield path, value


def _exists(doc: Any, path: PathKey) -> bool:
    for part in path:
        if isinstance(doc, list) and isinstance(part, int) and part < len(doc):
            doc = doc[part]
            continue
        if not (isinstance(doc, dict) and part in doc):
            return False
        doc = doc[part]
    return True


def _name(path: PathKey) -> str:
    return next((str(p) for p in reversed(path) if isinstance(p, str)), "")


def _related(path: PathKey) -> str:
    return "/".join(str(p) for p in path)


class Handler:
    """The generic request handling of one BMC."""

    def __init__(self, bmc: Bmc) -> None:
        self.bmc = bmc
        self.gen = bmc.server.spec.generation

    def _auth(self, request: web.Request, open_: bool) -> str | None:
        """The session id (token auth) or None (Basic, or an open resource).

        Raises:
            Refusal: 401 NoValidSession.
        """
        server = self.bmc.server
        token = request.headers.get("X-Auth-Token")
        if token:
            session = server.session_for_token(token)
            if session is not None:
                return session.id
        auth = request.headers.get("Authorization", "")
        if not token and auth.lower().startswith("basic "):
            try:
                user, _, password = base64.b64decode(auth[6:].strip()).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                user, password = "", ""
            if server.basic_ok(user, password):
                return None
        if open_:
            return None
        raise Refusal(401, ("Base:NoValidSession", [], None))

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        server, tree = self.bmc.server, self.bmc.tree
        path = request.path
        if path == STATS_PATH:
            return await self._stats(request)
        label = f"{request.method} {path}"
        server.requests[label] = server.requests.get(label, 0) + 1
        # iLO 4 mirrors its tree at /rest/v1 (HPE's legacy RESTful API); iLO 5 has no /rest/v1
        rest = self.gen == "ilo4" and legacy.is_legacy(path)
        res = tree.get(legacy.redfish_path(path) if rest else path)
        ctx = Context(odata_version=not rest)
        try:
            is_login = res is not None and res.post is not None and request.method == "POST"
            if res is None:
                self._auth(request, False)
                raise Refusal(404, ("Base:ResourceMissingAtURI", [path], None))
            sid = self._auth(request, res.public or is_login)
            ctx = Context(sid, f"{request.scheme}://{request.host}",
                          "OData-Version" in request.headers and not rest)
            if request.method not in res.methods:
                raise Refusal(405, ("iLO:UnsupportedOperation", [], None),
                              headers={"Allow": ", ".join(res.methods)})
            if request.method in ("GET", "HEAD"):
                reply = self._get(res, ctx, request)
            elif request.method == "PATCH":
                reply = await self._patch(res, ctx, request)
            elif request.method == "POST":
                reply = await self._post(res, ctx, request)
            else:
                assert res.delete is not None
                reply = res.delete(ctx)
        except Refusal as refusal:
            reply = self._error(refusal.status, refusal.items, refusal.headers)
        except StateError as exc:
            reply = self._error(STATUS_OF.get(exc.message, 400), [(exc.message, exc.args_, None)])
        if rest:
            reply = self._legacy(reply, res, ctx)
        return self._respond(reply, res)

    def _legacy(self, reply: Reply, res: Resource | None, ctx: Context) -> Reply:
        """A reply in the legacy `/rest/v1` form (iLO 4): compatibility keys, `/rest/v1` links."""
        body = reply.body
        if isinstance(body, dict) and "@odata.id" in body:
            members = None
            if res is not None and res.collection:
                found = (self.bmc.tree.get(m["@odata.id"]) for m in body.get("Members", []))
                members = [self.bmc.tree.document(m, ctx) for m in found if m is not None]
            body = legacy.document(body, members)
        elif isinstance(body, dict) and "error" in body:
            body = legacy.error(body)
        headers = dict(reply.headers)
        if "Location" in headers:
            headers["Location"] = legacy.location(headers["Location"])
        return Reply(reply.status, body, headers)

    # -- methods -------------------------------------------------------------------------------
    def _get(self, res: Resource, ctx: Context, request: web.Request) -> Reply:
        tree = self.bmc.tree
        doc = tree.document(res, ctx)
        if isinstance(doc, str):
            return Reply(200, doc, {"Content-Type": "application/xml"})
        query = request.query
        if res.collection and isinstance(doc, dict):
            members = [tree.get(m["@odata.id"]) for m in doc.get("Members", [])]
            if "only" in query and len(members) == 1 and members[0] is not None:
                return Reply(200, tree.document(members[0], ctx),
                             self._etag_header(tree.document(members[0], ctx)))
            if query.get("$expand", "").startswith((".", "*", "~")):
                doc = {**doc, "Members": [tree.document(m, ctx) for m in members
                                          if m is not None]}
        select = query.get("$select")
        if select and isinstance(doc, dict):
            wanted = {s.strip() for s in select.split(",")}
            doc = {k: v for k, v in doc.items() if k.startswith("@odata") or k in wanted}
        return Reply(200, doc, self._etag_header(doc))

    @staticmethod
    def _etag_header(doc: Any) -> dict[str, str]:
        tag = doc.get("@odata.etag") if isinstance(doc, dict) else None
        return {"ETag": str(tag)} if tag else {}

    async def _body(self, request: web.Request, *, empty_ok: bool = False) -> dict[str, Any]:
        text = await request.text()
        if not text.strip() and empty_ok:
            return {}
        try:
            body = json.loads(text)
        except ValueError:
            raise Refusal(400, ("Base:MalformedJSON", [], None)) from None
        if not isinstance(body, dict):
            raise Refusal(400, ("Base:MalformedJSON", [], None))
        return body

    async def _patch(self, res: Resource, ctx: Context, request: web.Request) -> Reply:
        patch = res.patch
        assert patch is not None
        if_match = request.headers.get("If-Match")
        if if_match and if_match.strip() != "*":
            current = _opaque(self.bmc.tree.etag(res, ctx))
            if current not in {_opaque(t) for t in if_match.split(",")}:
                raise Refusal(412, ("Base:PreconditionFailed", [], None))
        body = await self._body(request)
        doc = self.bmc.tree.document(res, ctx)
        fields = patch.fields() if patch.writable() else {}
        changes: dict[PathKey, Any] = {}
        problems: list[tuple[str, list[str], str | None]] = []
        for path, value in _leaves(body):
            name, related = _name(path), _related(path)
            attr = fields.get(path)
            if attr is not None:
                why = attr.problem(value)
                if why is None:
                    changes[path] = value
                elif why == "type":
                    problems.append(("Base:PropertyValueTypeError",
                                     [json.dumps(value), name], related))
                else:
                    problems.append(("Base:PropertyValueNotInList", [str(value), name], related))
            elif patch.writable() and patch.lenient is not None and patch.lenient(path):
                changes[path] = value  # iLO BIOS: accepted now, judged at the next POST
            elif _exists(doc, path) or not patch.writable():
                problems.append(("Base:PropertyNotWritable", [name], related))
            else:
                problems.append(("Base:PropertyUnknown", [name], related))
        if problems:
            raise Refusal(400, *problems)
        if changes:
            patch.apply(changes)
        msg = "iLO:SystemResetRequired" if patch.pending else "Base:Success"
        return Reply(200, messages.body(self.gen, [messages.extended_info(self.gen, msg)]))

    async def _post(self, res: Resource, ctx: Context, request: web.Request) -> Reply:
        if res.post is not None:
            return res.post(ctx, await self._body(request))
        action = res.action
        assert action is not None
        body = await self._body(request, empty_ok=True)
        value = body.get(action.param)
        if value is None:
            if action.required:
                raise Refusal(400, ("Base:ActionParameterMissing",
                                    [action.name, action.param], action.param))
            value = action.allowed[0]
        if value not in action.allowed:
            raise Refusal(400, ("Base:ActionParameterValueNotInList",
                                [str(value), action.param, action.name], action.param))
        msg = action.run(str(value))
        return Reply(200, messages.body(self.gen, [messages.extended_info(self.gen, msg)]))

    # -- replies -------------------------------------------------------------------------------
    def _error(self, status: int, items: list[tuple[str, list[str], str | None]],
               headers: dict[str, str] | None = None) -> Reply:
        return Reply(status, messages.body(self.gen, [
            messages.extended_info(self.gen, m, args, rel) for m, args, rel in items]),
            dict(headers or {}))

    def _respond(self, reply: Reply, res: Resource | None) -> web.Response:
        headers = {**COMMON_HEADERS, **reply.headers}
        if res is not None:
            headers.setdefault("Allow", ", ".join(res.methods))
            if res.schema_name and reply.status < 300:
                headers["Link"] = (f"</redfish/v1/SchemaStore/en/{res.schema_name}.json/>; "
                                   "rel=describedby")
        if isinstance(reply.body, str):
            ctype = headers.pop("Content-Type", "text/plain")
            return web.Response(status=reply.status, text=reply.body, headers=headers,
                                content_type=ctype)
        if reply.body is None:
            return web.Response(status=reply.status, headers=headers)
        return web.Response(status=reply.status, headers=headers,
                            text=json.dumps(reply.body, separators=(",", ":")),
                            content_type="application/json", charset="utf-8")

    async def _stats(self, request: web.Request) -> web.Response:
        try:
            self._auth(request, False)
        except Refusal as refusal:
            return self._respond(self._error(refusal.status, refusal.items), None)
        counts = self.bmc.server.requests
        if request.method == "DELETE":
            counts.clear()
        return web.json_response({"total": sum(counts.values()), "requests": counts})


def make_app(bmc: Bmc) -> web.Application:
    """The aiohttp application of one BMC (every path goes to the generic handler)."""
    app = web.Application()
    app[BMC_KEY] = bmc
    app.router.add_route("*", "/{tail:.*}", Handler(bmc))
    return app


def _tls(cert: Path, key_file: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert), str(key_file))
    return ctx


@dataclass
class Running:
    """Every site of a running emulator, for `stop`."""

    bmcs: list[Bmc]
    runners: list[web.AppRunner]
    endpoints: list[dict[str, Any]]

    async def stop(self) -> None:
        for bmc in self.bmcs:
            await bmc.server.close()
        for runner in self.runners:
            await runner.cleanup()


async def start(specs: list[BmcSpec], cert_dir: Path,
                hardware_file: Path | None = None) -> Running:
    """Listen for every BMC, apply the starting data-plane state, return the endpoints.

    Args:
        hardware_file: where to keep the servers' applied adapter state for their hosts
            (harness.sim.ilo.hardware); None: nowhere.

    Raises:
        OSError: an address cannot be bound (with the address in the message), or the
            hardware file cannot be written.
    """
    bmcs = [Bmc.from_spec(s) for s in specs]
    if hardware_file is not None:
        hardware = HardwareFile(hardware_file, [b.server for b in bmcs])
        await asyncio.to_thread(hardware.write)  # in force before any host reads it
        for bmc in bmcs:
            bmc.server.applied_hooks.append(hardware)
    followers = [UplinkFollower(bmc.server) for bmc in bmcs
                 if any(p.uplink for a in bmc.server.spec.adapters for p in a.ports)]
    for follower in followers:
        follower.server.applied_hooks.append(follower)
    # at start a failure is fatal: a sim whose F10 state is not in force must not serve
    await asyncio.to_thread(sync_all, followers)
    runners: list[web.AppRunner] = []
    endpoints: list[dict[str, Any]] = []
    for bmc in bmcs:
        spec = bmc.server.spec
        cert, key_file = make_self_signed(spec.address, spec.name, cert_dir)
        family = socket.AF_INET6 if ":" in spec.address else socket.AF_INET
        try:
            sock = socket.create_server((spec.address, spec.port), family=family)
        except OSError as exc:
            raise OSError(exc.errno, f"{spec.name}: cannot listen on {spec.address}:"
                          f"{spec.port}: {exc.strerror}") from None
        runner = web.AppRunner(make_app(bmc), access_log=None)
        await runner.setup()
        await web.SockSite(runner, sock, ssl_context=_tls(cert, key_file)).start()
        runners.append(runner)
        port = sock.getsockname()[1]
        host = f"[{spec.address}]" if family == socket.AF_INET6 else spec.address
        endpoints.append({"name": spec.name, "generation": spec.generation,
                          "address": spec.address, "port": port,
                          "url": f"https://{host}" + ("" if port == 443 else f":{port}"),
                          "cert_file": str(cert)})
    return Running(bmcs, runners, endpoints)


async def serve(specs: list[BmcSpec], cert_dir: Path, ready_file: Path,
                hardware_file: Path | None = None) -> None:
    """Serve until SIGTERM or SIGINT; write the ready file once every BMC listens."""
    running = await start(specs, cert_dir, hardware_file)
    print(f"serving {len(specs)} emulated iLO(s): "
          f"{', '.join(e['url'] for e in running.endpoints)}", file=sys.stderr, flush=True)
    await readyfile.announce_and_wait(ready_file, {"endpoints": running.endpoints})
    await running.stop()


__all__ = ["Bmc", "Handler", "Running", "key", "make_app", "serve", "start"]

"""HTTP for one emulated OPNsense: its web GUI's HTTPS site with the REST API under /api.

Requests go the way OPNsense's router and API base controller take them (Mvc/Router.php,
ApiControllerBase, api.php): the path `/api/<module>/<controller>/<action>[/<param>...]` is
resolved first (segments match without case and underscores: `interfacesInfo`,
`interfaces_info` and `interfacesinfo` are one action), so an unknown endpoint is a 404
`{"errorMessage":"Endpoint not found"}` (400 with Phalcon's message before 24.7) even without
credentials; then HTTP Basic with the API key and secret (no header: 401 with an empty body;
wrong key: 401 `{"status":401,"message":"Authentication Failed"}`); then the action, which
reads the namespace's kernel state at that moment.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
import socket
import ssl
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from harness.sim import readyfile
from harness.sim.opnsense import answers
from harness.sim.opnsense.kernel import KernelState, read_state
from harness.sim.opnsense.monitor import LOSS_WAIT_S, Pinger, Report, has_data
from harness.sim.opnsense.spec import RouterSpec
from harness.sim.tlscert import make_self_signed

JSON_TYPE = "application/json; charset=UTF-8"
LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Login | OPNsense</title></head>
<body class="page-login"><main><form method="post" action="/">
<input type="text" name="usernamefld" placeholder="Username">
<input type="password" name="passwordfld" placeholder="Password">
<button type="submit" name="login" value="1">Login</button></form>
<p>OPNsense (c) 2014-2025 Deciso B.V.</p></main></body></html>
"""


@dataclass
class Call:
    """One resolved API call: its parameters and the state it may read."""

    router: Router
    params: list[str]
    form: Mapping[str, Any]

    async def state(self) -> KernelState:
        return await asyncio.to_thread(read_state, self.router.spec.netns)

    def recordset(self, rows: list[dict[str, Any]], fields: tuple[str, ...] | None
                  ) -> dict[str, Any]:
        def number(key: str, default: int) -> int:
            try:
                return int(self.form.get(key, default))
            except (TypeError, ValueError):
                return default
        return answers.recordset(rows, fields, row_count=number("rowCount", -1),
                                 current=number("current", 1),
                                 phrase=str(self.form.get("searchPhrase", "")))


Action = Callable[[Call], Awaitable[Any]]


@dataclass(frozen=True)
class Endpoint:
    """An action: what answers it, from which release, and how many path parameters."""

    action: Action
    since: tuple[int, int] = (0, 0)
    required: int = 0
    optional: int = 0


async def _interfaces_info(call: Call) -> Any:
    detailed = bool(call.params and call.params[0] not in ("", "0", "false"))
    rows = answers.overview(call.router.spec, await call.state(), detailed=detailed)
    return call.recordset(rows, answers.INTERFACES_SEARCH)


async def _export(call: Call) -> Any:
    return web.Response(
        text=json.dumps(answers.overview(call.router.spec, await call.state(), detailed=True)),
        headers={"Content-Type": "application/json",
                 "Content-Disposition": "attachment; filename=ifconfig.json"})


async def _get_interface(call: Call) -> Any:
    if not call.params:
        return {"message": "failed"}
    return answers.interface_detail(call.router.spec, await call.state(), call.params[0])


async def _routes(call: Call) -> Any:
    return answers.routes(call.router.spec, await call.state())


async def _arp(call: Call) -> Any:
    return answers.arp(call.router.spec, await call.state())


async def _search_arp(call: Call) -> Any:
    return call.recordset(answers.arp(call.router.spec, await call.state()), None)


async def _ifconfig(call: Call) -> Any:
    return answers.ifconfig(await call.state())


async def _tunables(call: Call) -> Any:
    return call.recordset(answers.tunables(await call.state()), None)


async def _source_nat(call: Call) -> Any:
    rows = answers.source_nat(call.router.spec, await call.state())
    return call.recordset(rows, ("enabled", "sequence", "description"))


async def _gateways(call: Call) -> Any:
    return answers.gateway_status(call.router.spec, call.router.reports())


def _static(make: Callable[[RouterSpec], Any]) -> Action:
    async def action(call: Call) -> Any:
        return make(call.router.spec)
    return action


# (module, controller, action) as the router matches them: lower case, no underscores
ENDPOINTS: dict[tuple[str, str, str], Endpoint] = {
    ("core", "firmware", "status"): Endpoint(_static(answers.firmware_status)),
    ("core", "firmware", "info"): Endpoint(_static(answers.firmware_info)),
    ("core", "system", "status"): Endpoint(_static(lambda _: answers.system_status())),
    ("core", "tunables", "searchitem"): Endpoint(_tunables, since=(25, 1)),
    ("diagnostics", "system", "systeminformation"): Endpoint(
        _static(answers.system_information), since=(24, 7)),
    ("diagnostics", "interface", "getinterfaceconfig"): Endpoint(_ifconfig),
    ("diagnostics", "interface", "getinterfacenames"): Endpoint(
        _static(answers.interface_names)),
    ("diagnostics", "interface", "getroutes"): Endpoint(_routes),
    ("diagnostics", "interface", "getarp"): Endpoint(_arp),
    ("diagnostics", "interface", "searcharp"): Endpoint(_search_arp),
    ("interfaces", "overview", "interfacesinfo"): Endpoint(_interfaces_info, since=(24, 1),
                                                           optional=1),
    ("interfaces", "overview", "export"): Endpoint(_export, since=(24, 1)),
    ("interfaces", "overview", "getinterface"): Endpoint(_get_interface, since=(24, 1),
                                                         optional=1),
    ("routes", "gateway", "status"): Endpoint(_gateways),
    ("firewall", "sourcenat", "searchrule"): Endpoint(_source_nat, since=(24, 1)),
}


def _word(segment: str) -> str:
    return segment.replace("_", "").lower()


def _camel(segment: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in segment.split("_"))


def _json(body: Any, status: int = 200, content_type: str = JSON_TYPE) -> web.Response:
    return web.Response(status=status, text=json.dumps(body),
                        headers={"Content-Type": content_type})


@dataclass
class Router:
    """One emulated OPNsense: its spec, its gateway monitors, its request counts."""

    spec: RouterSpec
    pingers: dict[str, Pinger] = field(default_factory=dict)
    requests: dict[str, int] = field(default_factory=dict)

    def start_monitors(self) -> None:
        for gw in self.spec.gateways:
            if gw.monitor:
                self.pingers[gw.name] = Pinger(gw.monitor, self.spec.netns).start()

    def wait_monitored(self, timeout: float) -> None:
        """Until every gateway monitor has a verdict (two echoes answered, or one lost), as
        a router that has been up a few seconds; a monitor still silent at the timeout is
        left pending (OPNsense then shows the gateway down)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not all(
                has_data(p.report()) for p in self.pingers.values()):
            time.sleep(0.1)

    def stop_monitors(self) -> None:
        for pinger in self.pingers.values():
            pinger.stop()

    def reports(self) -> dict[str, Report | None]:
        return {name: p.report() for name, p in self.pingers.items()}

    def _not_found(self, parts: list[str]) -> web.Response:
        if self.spec.series >= (24, 7):
            return _json({"errorMessage": "Endpoint not found"}, 404,
                         "application/json;charset=utf-8")
        module, controller = [*parts, "", ""][:2]
        known = {(m, c) for m, c, _ in ENDPOINTS}
        what = (f"action {_camel(parts[2]) if len(parts) > 2 else ''}Action not found"
                if (_word(module), _word(controller)) in known else
                f"controller OPNsense\\{_camel(module)}\\Api\\{_camel(controller)}Controller "
                "not found")
        return _json({"message": what, "status": 400}, 400)

    def _authorised(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization")
        if header is None:
            # no key: OPNsense tries the GUI session, finds none, and leaves its redirect
            return web.Response(status=401, headers={"Location": f"/?url={request.path}"})
        scheme, _, token = header.partition(" ")
        try:
            key, _, secret = base64.b64decode(token, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            key, secret = "", ""
        ok = (scheme.lower() == "basic" and hmac.compare_digest(key, self.spec.key)
              and hmac.compare_digest(secret, self.spec.secret))
        return None if ok else _json({"status": 401, "message": "Authentication Failed"}, 401)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if not path.startswith("/api/"):
            if path in ("/", "/index.php") and request.method in ("GET", "HEAD"):
                return web.Response(text=LOGIN_PAGE, content_type="text/html")
            return web.Response(status=404, text="Not Found")
        parts = [p for p in path[len("/api/"):].split("/")]
        key = tuple(_word(p) for p in parts[:3])
        endpoint = ENDPOINTS.get(key) if len(key) == 3 else None
        params = parts[3:]
        if (endpoint is None or self.spec.series < endpoint.since
                or not endpoint.required <= len(params) <= endpoint.required + endpoint.optional
                or request.method not in ("GET", "POST")):
            return self._not_found(parts)
        refused = self._authorised(request)
        if refused is not None:
            return refused
        form: dict[str, Any] = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                try:
                    body = await request.json()
                except ValueError:
                    return _json({"status": 400, "message": "Invalid JSON syntax"}, 400)
                if isinstance(body, dict):
                    form.update(body)
            else:
                form.update(await request.post())
        label = "/".join(key)
        self.requests[label] = self.requests.get(label, 0) + 1
        result = await endpoint.action(Call(self, params, form))
        return result if isinstance(result, web.StreamResponse) else _json(result)


def make_app(router: Router) -> web.Application:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", router.handle)
    return app


@dataclass
class Running:
    router: Router
    runner: web.AppRunner
    endpoint: dict[str, Any]

    async def stop(self) -> None:
        self.router.stop_monitors()
        await self.runner.cleanup()


async def start(spec: RouterSpec, cert_dir: Path) -> Running:
    """Listen on the spec's address with a fresh self-signed certificate and start the
    gateway monitors.

    Raises:
        OSError: the address cannot be bound (with the address in the message).
    """
    cert, key_file = make_self_signed(spec.address, spec.name, cert_dir,
                                      organization="OPNsense (emulated)",
                                      unit=f"web GUI {spec.hostname}")
    try:
        sock = socket.create_server((spec.address, spec.port))
    except OSError as exc:
        raise OSError(exc.errno, f"{spec.name}: cannot listen on {spec.address}:{spec.port}: "
                      f"{exc.strerror}") from None
    router = Router(spec)
    router.start_monitors()
    # ready once the gateways have a status, as the sim's other daemons are ready once they
    # work: a suite run at once must not see every gateway still pending
    await asyncio.to_thread(router.wait_monitored, 2 * LOSS_WAIT_S + 1)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert), str(key_file))
    runner = web.AppRunner(make_app(router), access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock, ssl_context=ctx).start()
    port = sock.getsockname()[1]
    return Running(router, runner, {
        "name": spec.name, "address": spec.address, "port": port,
        "url": f"https://{spec.address}" + ("" if port == 443 else f":{port}"),
        "cert_file": str(cert)})


async def serve(spec: RouterSpec, cert_dir: Path, ready_file: Path) -> None:
    """Serve until SIGTERM or SIGINT; write the ready file once listening."""
    running = await start(spec, cert_dir)
    print(f"serving the OPNsense API of {spec.name} (OPNsense {spec.version}) at "
          f"{running.endpoint['url']}", file=sys.stderr, flush=True)
    await readyfile.announce_and_wait(ready_file, {"endpoint": running.endpoint})
    await running.stop()

"""A real headless Chromium driven over the DevTools protocol (CDP), for the report's tests.

Debian's `chromium` with the flags a CI container needs, a throw-away profile, and a CDP
session over aiohttp's WebSocket client (already a labharness dependency): load a file, collect
every console error, uncaught exception and browser log error (a blocked fetch, a CSP
violation), evaluate expressions and take screenshots.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--window-size=1600,1200")


def chromium_binary() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class PageVisit:
    """What loading one page showed: the errors, the evaluated values, the screenshots."""

    errors: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    screenshots: list[Path] = field(default_factory=list)


class _Session:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse, visit: PageVisit) -> None:
        self.ws, self.visit, self.next_id = ws, visit, 0
        self.events: list[str] = []

    def _event(self, msg: dict[str, Any]) -> None:
        method, params = msg.get("method"), msg.get("params", {})
        self.events.append(str(method))
        if method == "Runtime.exceptionThrown":
            d = params["exceptionDetails"]
            text = d.get("exception", {}).get("description") or d.get("text")
            self.visit.errors.append(f"exception: {text}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            args = " ".join(str(a.get("value", a.get("description"))) for a in params["args"])
            self.visit.errors.append(f"console.{params['type']}: {args}")
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            self.visit.errors.append(f"log: {params['entry']['text']}")

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        await self.ws.send_str(json.dumps({"id": self.next_id, "method": method,
                                           "params": params}))
        while True:
            msg = json.loads((await self.ws.receive(timeout=60)).data)
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                result: dict[str, Any] = msg["result"]
                return result
            self._event(msg)

    async def wait_for(self, event: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while event not in self.events:
            msg = json.loads((await self.ws.receive(timeout=deadline - time.monotonic())).data)
            self._event(msg)


async def _visit(url: str, expressions: dict[str, str], shots: Path,
                 scroll_to: str | None) -> PageVisit:
    visit = PageVisit()
    binary = chromium_binary()
    assert binary is not None
    # chromium's helpers (zygote, crashpad) outlive the browser for a moment and write into
    # the profile: they run in their own session, ended together, and the profile is removed
    # after them
    with tempfile.TemporaryDirectory(prefix="lh-chromium-", ignore_cleanup_errors=True) as profile:
        proc = subprocess.Popen([binary, *FLAGS, f"--user-data-dir={profile}",
                                 "--remote-debugging-port=0", "about:blank"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        try:
            port_file = Path(profile) / "DevToolsActivePort"
            deadline = time.monotonic() + 60
            while not port_file.is_file() or not port_file.read_text().strip():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"chromium did not open its DevTools port "
                                       f"(exit {proc.returncode})")
                await asyncio.sleep(0.1)
            port = int(port_file.read_text().split()[0])
            async with aiohttp.ClientSession() as http:
                async with http.get(f"http://127.0.0.1:{port}/json/list") as resp:
                    targets = await resp.json()
                page = next(t for t in targets if t["type"] == "page")
                async with http.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                    s = _Session(ws, visit)
                    for domain in ("Page", "Runtime", "Log"):
                        await s.call(f"{domain}.enable")
                    await s.call("Page.navigate", url=url)
                    await s.wait_for("Page.loadEventFired")
                    for name, expression in expressions.items():
                        out = await s.call("Runtime.evaluate", expression=expression,
                                           returnByValue=True)
                        if "exceptionDetails" in out:
                            raise RuntimeError(f"{name}: {out['exceptionDetails']}")
                        visit.values[name] = out["result"].get("value")
                    shots.mkdir(parents=True, exist_ok=True)
                    if scroll_to is not None:
                        await s.call("Runtime.evaluate", expression=(
                            f"document.querySelector({json.dumps(scroll_to)})"
                            ".scrollIntoView({block: 'center'})"))
                    for name, full in (("report-view.png", False), ("report-full.png", True)):
                        shot = await s.call("Page.captureScreenshot", format="png",
                                            captureBeyondViewport=full)
                        (shots / name).write_bytes(base64.b64decode(shot["data"]))
                        visit.screenshots.append(shots / name)
                    await asyncio.sleep(0.2)  # late console messages
                    await s.call("Runtime.evaluate", expression="1")
        finally:
            _end_session(proc)
    return visit


def _end_session(proc: subprocess.Popen[bytes]) -> None:
    """End the browser and every helper it started (its own session, started here; a
    throw-away profile needs no graceful shutdown)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the helpers, reaped after the browser
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


def visit(path: Path, expressions: dict[str, str], screenshots: Path,
          scroll_to: str | None = None) -> PageVisit:
    """Load `path` in headless Chromium, evaluate `expressions`, save screenshots: the
    viewport (centred on the first element the CSS selector `scroll_to` selects) and the
    whole page."""
    return asyncio.run(_visit(path.resolve().as_uri(), expressions, screenshots, scroll_to))

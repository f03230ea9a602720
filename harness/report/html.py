"""report.html: one self-contained page per run, readable from a CI artifact with no server.

Made from what the run left in its report directory (summary.json, allure-results/) and the
lab file: the topology drawn by Graphviz with the elements the causes touch marked, the causes
and their evidence chains, every test by layer and incident, each finding's evidence inline,
the pcaps the probes attached as downloads (data: URIs, bounded in size) with a decoded line per
frame. No script, no external style, and a Content-Security-Policy that forbids fetching
anything: the page shows the same on an air-gapped laptop as in CI.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from harness.incidents import INCIDENTS
from harness.report.frames import pcap_summary

REPORT_NAME = "report.html"
PCAP_EMBED_MAX = 512 * 1024  # one pcap embedded as a data: URI at most this big
EMBED_BUDGET = 16 * 1024 * 1024  # all embedded attachments of one report together
TEXT_INLINE_MAX = 20_000  # characters of a text or JSON attachment shown inline
PCAP_TYPES = ("application/vnd.tcpdump.pcap", "application/vnd.tcpdump.pcap+xml")

_CSS = """
body{font:14px/1.4 system-ui,Helvetica,Arial,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#263238;color:#fff;padding:12px 20px}header h1{margin:0;font-size:20px}
main{padding:8px 20px 40px}section{margin:18px 0}h2{border-bottom:2px solid #ccc;font-size:17px}
.verdict{display:inline-block;padding:2px 10px;border-radius:4px;font-weight:bold}
.v-passed{background:#2e7d32}.v-failed,.v-errors,.v-unreachable,.v-interrupted{background:#c62828}
table{border-collapse:collapse;margin:4px 0}td,th{border:1px solid #ddd;padding:3px 6px;
text-align:left;vertical-align:top}th{background:#eceff1}
.o-passed{color:#2e7d32}.o-failed,.o-errors,.o-xpassed{color:#c62828;font-weight:bold}
.o-skipped,.o-xfailed{color:#777}
pre{background:#f3f3f3;padding:6px;overflow:auto;max-height:360px;white-space:pre-wrap;
margin:4px 0}
.cause{border-left:5px solid #d00000;background:#fff;padding:6px 12px;margin:10px 0}
.finding{border-left:4px solid #f9a825;background:#fff;padding:4px 10px;margin:8px 0}
.sev-error{border-left-color:#c62828}.muted{color:#666}.note{background:#fff3e0;padding:6px}
#topology{background:#fff;border:1px solid #ccc;overflow:auto}
#topology svg{width:100%;height:auto;max-width:1600px;display:block;margin:auto}
#topology svg .touched polygon,#topology svg .touched path,#topology svg .touched ellipse{
stroke:#d00000}
details>summary{cursor:pointer}code{background:#eee;padding:0 3px}
"""


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _json(value: object) -> str:
    return json.dumps(value, indent=2, default=str, sort_keys=True)


@dataclass
class Attachment:
    """One file a test attached (allure-results/<source>), ready to show or download."""

    anchor: str
    name: str
    source: str
    type: str
    path: Path

    @property
    def is_pcap(self) -> bool:
        return self.type in PCAP_TYPES or self.source.endswith(".pcap")


@dataclass
class _Embedder:
    """Attachments as HTML, within the size budget of one report."""

    budget: int = EMBED_BUDGET

    def html(self, att: Attachment) -> str:
        if Path(att.source).name != att.source:  # results name files, never paths
            return f"<p class=note>{_e(att.name)}: not a file name: {_e(att.source)}</p>"
        try:
            blob = att.path.read_bytes()
        except OSError as exc:
            return f"<p class=note>{_e(att.name)}: cannot read {_e(att.source)}: " \
                   f"{_e(exc.strerror)}</p>"
        head = f"<div id={_e(att.anchor)}><b>{_e(att.name)}</b> <span class=muted>" \
               f"({_e(att.type)}, {len(blob)} bytes)</span>"
        if att.is_pcap:
            if len(blob) <= PCAP_EMBED_MAX and len(blob) <= self.budget:
                self.budget -= len(blob)
                link = (f"<a download=\"{_e(_file_name(att.name))}.pcap\" href=\"data:"
                        f"application/vnd.tcpdump.pcap;base64,"
                        f"{base64.b64encode(blob).decode()}\">download pcap</a>")
            else:
                link = (f"<a href=\"allure-results/{_e(att.source)}\">allure-results/"
                        f"{_e(att.source)}</a> (too big to embed)")
            frames = "\n".join(pcap_summary(blob))
            return f"{head} {link}<pre class=frames>{_e(frames)}</pre></div>"
        if att.type.startswith("text/") or att.type == "application/json":
            text = blob.decode(errors="replace")
            if len(text) > TEXT_INLINE_MAX:
                text = text[:TEXT_INLINE_MAX] + f"\n... ({len(text) - TEXT_INLINE_MAX} more " \
                                                 "characters in allure-results)"
            return f"{head}<pre>{_e(text)}</pre></div>"
        return f"{head} <a href=\"allure-results/{_e(att.source)}\">allure-results/" \
               f"{_e(att.source)}</a></div>"


def _file_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:80] or "capture"


def nodeid_key(nodeid: str) -> tuple[str, str]:
    """`suites/a/test_b.py::Cls::test_c[x]` -> (`suites.a.test_b.Cls`, `test_c[x]`), the way
    allure-pytest names a test (fullName `module.Class#function`, name with parameters) and
    pytest's junit.xml its test cases (classname, name)."""
    parts = nodeid.split("::")
    module = parts[0].removesuffix(".py").replace("/", ".")
    return ".".join([module, *parts[1:-1]]), parts[-1]


def _walk_attachments(node: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    yield from node.get("attachments") or []
    for step in node.get("steps") or []:
        yield from _walk_attachments(step)


def load_allure_results(results_dir: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """allure-pytest's results keyed like `nodeid_key`; unreadable files are left out."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    if not results_dir.is_dir():
        return out
    for path in sorted(results_dir.glob("*-result.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict) or "name" not in data:
            continue
        full = str(data.get("fullName") or "")
        out[(full.split("#")[0], str(data["name"]))] = data
    return out


def _outcome(o: str | None) -> str:
    return f"<span class=\"o-{_e(o)}\">{_e(o)}</span>"


def _incident_label(incident: str | None) -> str:
    if not incident or incident == "-":
        return "no incident"
    found = INCIDENTS.get(incident)
    return f"{found.label}: {found.title}" if found else incident


def _evidence_html(evidence: Mapping[str, Any], pcaps: Mapping[str, str]) -> str:
    """A finding's evidence as a table: scalars as they are, lists of records (frames,
    adapters) as tables, anything else as JSON; a `pcap` names the attachment it links to."""
    rows: list[str] = []
    for key, value in evidence.items():
        if key == "pcap" and isinstance(value, str):
            anchor = pcaps.get(value)
            cell = (f"<a href=\"#{_e(anchor)}\">{_e(value)}</a>" if anchor else
                    f"{_e(value)} <span class=muted>(not among this run's attachments)</span>")
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            cols = list(dict.fromkeys(k for v in value for k in v))
            body = "".join("<tr>" + "".join(f"<td>{_e(_scalar(v.get(c)))}</td>" for c in cols)
                           + "</tr>" for v in value)
            title = "decoded frames" if key == "frames" else key
            cell = (f"<details{' open' if key == 'frames' else ''}><summary>{_e(title)} "
                    f"({len(value)})</summary><table><tr>"
                    + "".join(f"<th>{_e(c)}</th>" for c in cols) + f"</tr>{body}</table>"
                    "</details>")
        elif isinstance(value, dict | list):
            cell = f"<pre>{_e(_json(value))}</pre>"
        else:
            cell = _e(_scalar(value))
        rows.append(f"<tr><th>{_e(key)}</th><td>{cell}</td></tr>")
    return f"<table class=evidence>{''.join(rows)}</table>" if rows else ""


def _scalar(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict | list):
        return json.dumps(value, default=str, sort_keys=True)
    return str(value)


def _listed(value: object) -> str:
    return ", ".join(str(v) for v in value) or "-" if isinstance(value, list) else _scalar(value)


def _finding_anchor(finding: Mapping[str, Any], index: int) -> str:
    return f"finding-{finding.get('ref') or f'n{index + 1}'}"


def _findings_html(findings: list[Mapping[str, Any]], pcaps: Mapping[str, str]) -> str:
    if not findings:
        return "<p>No findings.</p>"
    parts = []
    for i, f in enumerate(findings):
        ref = f.get("ref")
        parts.append(
            f"<div class=\"finding sev-{_e(f.get('severity'))}\" id={_e(_finding_anchor(f, i))}>"
            f"<b>{_e(ref + ' ' if ref else '')}[{_e(_incident_label(f.get('id')))}]</b> "
            f"{_e(f.get('severity'))}: <b>{_e(f.get('subject'))}</b>: {_e(f.get('message'))}"
            f"<br><span class=muted>cause:</span> {_e(f.get('cause'))}"
            f"<br><span class=muted>fix:</span> {_e(f.get('fix'))}"
            f"<br><span class=muted>check {_e(f.get('check'))}, {_e(f.get('source'))}</span>"
            f"<details open><summary>evidence</summary>"
            f"{_evidence_html(f.get('evidence') or {}, pcaps)}</details></div>")
    return "".join(parts)


def _causes_html(causes: list[Mapping[str, Any]], refs: Mapping[str, str],
                 marked: set[str], drawn: bool) -> str:
    parts = []
    for c in sorted(causes, key=lambda c: (c.get("rank") or 0, str(c.get("id")))):
        chain = "".join(
            f"<li><b>{_e(step.get('layer'))}</b> {_e(step.get('subject'))}: {_e(step.get('text'))}"
            + (f" <a href=\"#{_e(refs[step['finding']])}\">{_e(step['finding'])}</a>"
               if step.get("finding") in refs else "") + "</li>"
            for step in c.get("evidence_chain") or [])
        explains = ", ".join(f"<a href=\"#{_e(refs[r])}\">{_e(r)}</a>" if r in refs else _e(r)
                             for r in c.get("explains") or [])
        touches = c.get("touches") or []
        shown = ", ".join(
            (f"<b>{_e(t)}</b>" if t in marked else f"{_e(t)}") for t in touches)
        unmarked = [t for t in touches if t not in marked]
        touch_note = ("" if not drawn or not unmarked else
                      f" <span class=muted>(not drawn: {_e(', '.join(unmarked))})</span>")
        parts.append(
            f"<div class=cause id=\"cause-{_e(c.get('id'))}\"><h3>{_e(c.get('id'))} "
            f"[{_e(_incident_label(c.get('incident')))}] {_e(c.get('title'))}</h3>"
            f"<p>rank {_e(c.get('rank'))}, layer {_e(c.get('layer'))}, subject "
            f"<b>{_e(c.get('subject'))}</b></p><ol class=chain>{chain}</ol>"
            f"<p>explains: {explains or '-'}</p><p>touches: {shown or '-'}{touch_note}</p></div>")
    return "".join(parts)


def _tests_html(results: list[Mapping[str, Any]],
                allure: Mapping[tuple[str, str], Mapping[str, Any]],
                attachments: Mapping[str, list[Attachment]], embed: _Embedder) -> str:
    by_layer: dict[str, dict[str, list[Mapping[str, Any]]]] = {}
    for r in results:
        by_layer.setdefault(str(r.get("layer") or "other"), {}).setdefault(
            str(r.get("incident") or "-"), []).append(r)
    parts = []
    for layer in sorted(by_layer):
        parts.append(f"<h3>layer {_e(layer)}</h3>")
        for incident in sorted(by_layer[layer]):
            tests = by_layer[layer][incident]
            bad = [t for t in tests if t.get("outcome") in ("failed", "errors", "xpassed")]
            counts: dict[str, int] = {}
            for t in tests:
                counts[str(t.get("outcome"))] = counts.get(str(t.get("outcome")), 0) + 1
            tally = ", ".join(f"{n} {o}" for o, n in sorted(counts.items()))
            rows = []
            for t in tests:
                nodeid = str(t.get("test"))
                detail = ""
                attached = "".join(embed.html(att) for att in attachments.get(nodeid, []))
                if t.get("outcome") in ("failed", "errors", "xpassed"):
                    a = allure.get(nodeid_key(nodeid), {})
                    message = (a.get("statusDetails") or {}).get("message") or t.get("reason")
                    detail = (f"<details><summary>details</summary>"
                              f"<pre>{_e(message or '(no message)')}</pre>{attached}</details>")
                elif attached:  # a passing verdict's evidence (its frames) is worth keeping
                    detail = (f"<details><summary>attachments "
                              f"({len(attachments[nodeid])})</summary>{attached}</details>")
                rows.append(
                    f"<tr class=\"test t-{_e(t.get('outcome'))}\"><td>{_outcome(t.get('outcome'))}"
                    f"</td><td>{_e(nodeid.split('::')[-1])}<br><span class=muted>{_e(nodeid)}"
                    f"</span>{detail}</td><td>{_e(t.get('subject') or '-')}</td>"
                    f"<td>{_e(t.get('reason') or '')}</td><td>{_e(t.get('duration_s'))}</td></tr>")
            parts.append(
                f"<details{' open' if bad else ''}><summary>{_e(_incident_label(incident))}: "
                f"{_e(tally)}</summary><table><tr><th>outcome</th><th>test</th><th>subject</th>"
                f"<th>reason</th><th>s</th></tr>{''.join(rows)}</table></details>")
    return "".join(parts)


def render_report(summary: Mapping[str, Any], *, topology_svg: str | None,
                  topology_note: str | None, marked: set[str],
                  results_dir: Path) -> str:
    """The page, as a string (pure but for reading the run's attachments)."""
    allure = load_allure_results(results_dir)
    attachments: dict[str, list[Attachment]] = {}
    pcaps: dict[str, str] = {}
    n = 0
    for r in summary.get("results") or []:
        nodeid = str(r.get("test"))
        for a in _walk_attachments(allure.get(nodeid_key(nodeid), {})):
            n += 1
            att = Attachment(f"att-{n}", str(a.get("name")), str(a.get("source")),
                             str(a.get("type") or ""), results_dir / str(a.get("source")))
            attachments.setdefault(nodeid, []).append(att)
            if att.is_pcap:
                pcaps.setdefault(att.name, att.anchor)
    embed = _Embedder()
    findings = list(summary.get("findings") or [])
    refs = {str(f["ref"]): _finding_anchor(f, i) for i, f in enumerate(findings) if f.get("ref")}
    causes = list(summary.get("causes") or [])
    counts = summary.get("tests") or {}
    verdict = str(summary.get("verdict") or "unknown")
    title = f"labharness run: lab {summary.get('lab')} {verdict}"
    meta = "".join(
        f"<tr><th>{_e(k)}</th><td>{_e(_listed(summary.get(k)))}</td></tr>"
        for k in ("lab", "inventory", "backend", "scenarios", "started", "finished",
                  "exit_code", "interrupted", "internal_error"))
    tally = ", ".join(f"{counts.get(k, 0)} {k}" for k in
                      ("passed", "failed", "errors", "skipped", "xfailed", "xpassed"))
    notes = "".join(f"<li>{_e(n)}</li>" for n in summary.get("notes") or [])
    unreachable = "".join(
        f"<li>{_e(e.get('kind'))} {_e(e.get('name'))} ({_e(e.get('address'))}): "
        f"{_e(e.get('reason') or '')}</li>"
        for e in summary.get("endpoints") or [] if not e.get("reachable", True))
    topology = (f"<div id=topology>{topology_svg}</div><p class=muted>Red: elements a cause "
                "touches. Dotted: adapter port to vmnic; solid: cables; dashed: addresses on "
                "networks.</p>" if topology_svg is not None else
                f"<p class=note id=topology-missing>Topology not drawn: {_e(topology_note)}</p>")
    page = [
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>",
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; img-src data:\">",
        "<meta name=viewport content=\"width=device-width, initial-scale=1\">",
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
        f"<header><h1>labharness run: lab {_e(summary.get('lab'))} "
        f"<span class=\"verdict v-{_e(verdict)}\" id=verdict>{_e(verdict.upper())}</span></h1>"
        f"<div>{_e(tally)} of {_e(counts.get('total', 0))} tests</div></header><main>",
        f"<section id=run><table>{meta}</table>"
        + (f"<h3>notes</h3><ul>{notes}</ul>" if notes else "")
        + (f"<h3>unreachable endpoints</h3><ul class=note>{unreachable}</ul>"
           if unreachable else "") + "</section>",
        "<section id=causes-section><h2>Causes</h2>"
        + (_causes_html(causes, refs, marked, topology_svg is not None) if causes else
           "<p class=muted>No causes in this run's summary.</p>") + "</section>",
        f"<section id=topology-section><h2>Topology (from the lab file)</h2>{topology}</section>",
        f"<section id=findings><h2>Findings ({len(findings)})</h2>"
        f"{_findings_html(findings, pcaps)}</section>",
        f"<section id=tests><h2>Tests by layer and incident</h2>"
        f"{_tests_html(summary.get('results') or [], allure, attachments, embed)}</section>",
    ]
    page.append("</main></body></html>\n")
    return "\n".join(page)


def write_atomic(path: Path, text: str) -> None:
    """Write through a temporary name: a reader (a CI artifact upload) never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)

"""From a run's findings to its causes: which finding explains which, the roots, the chains.

Pure: the lab (for the relations between its elements) and the findings in, ranked causes out.
A finding is explained when a rule (rules.RULES) connects a finding of the same incident to it
through the lab; the findings nothing explains are the roots. Roots of one incident and one
check are one cause (three hosts whose vmk1 shares vmk0's subnet are one mistake made three
times); a cause accounts for its roots and everything they explain, and its evidence chain
walks from the root's layer up to the symptoms', one step per check.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.checks.finding import Finding
from harness.diagnosis.relations import Edge, Relations, relations
from harness.diagnosis.rules import CHECKS, LAYERS, RULES
from harness.facts import JsonValue
from harness.lab.model import Lab

# what the elements a cause touches are cabled to or part of, for reports that mark them
_PHYSICAL: tuple[Edge, ...] = ("port-vmnic", "port-server", "vmnic-switchport",
                               "interface-switchport")


@dataclass(frozen=True)
class ChainStep:
    """One link of an evidence chain: what one check saw, where, citing its first finding."""

    layer: str
    subject: str
    text: str
    finding: str  # the ref (`f3`) of the finding quoted
    check: str = ""  # the check whose findings the step quotes (not in summary.json)

    def to_dict(self) -> dict[str, JsonValue]:
        return {"layer": self.layer, "subject": self.subject, "text": self.text,
                "finding": self.finding}


@dataclass(frozen=True)
class Cause:
    """One root cause of a run's findings.

    Attributes:
        subject: the root finding's subject (several roots of one check: theirs, joined).
        layer: the root finding's layer (a key of rules.LAYERS).
        explains: the refs of every finding the cause accounts for, its roots first.
        touches: the lab elements its findings are about or sit on, as subjects name them.
    """

    id: str
    rank: int
    incident: str
    subject: str
    layer: str
    title: str
    explains: tuple[str, ...]
    evidence_chain: tuple[ChainStep, ...]
    touches: tuple[str, ...]

    @property
    def layers(self) -> list[str]:
        return list(dict.fromkeys(step.layer for step in self.evidence_chain))

    def to_dict(self) -> dict[str, JsonValue]:
        """The summary.json form (the HTML report and the history database read this)."""
        return {"id": self.id, "rank": self.rank, "incident": self.incident,
                "subject": self.subject, "layer": self.layer, "title": self.title,
                "explains": list(self.explains),
                "evidence_chain": [s.to_dict() for s in self.evidence_chain],
                "touches": list(self.touches)}


def finding_layer(finding: Finding) -> str:
    """Where a finding's evidence comes from: the lab file for a design check on intent, else
    the layer its check reads (rules.CHECKS)."""
    if finding.source == "intent":
        return "lab"
    kind = CHECKS.get(finding.check)
    return kind.layer if kind is not None else "other"


def _says(check: str) -> str:
    kind = CHECKS.get(check)
    return kind.says if kind is not None else check


def _own(rel: Relations, finding: Finding) -> set[str]:
    """The elements a finding's subject names, as they are (the start of a rule's walk)."""
    return {p.strip() for p in finding.subject.split("->")} & rel.elements


def _touches(rel: Relations, finding: Finding) -> set[str]:
    """Every element a finding is about: its subject, the probe's source and target, the
    vmknics its message names, each with what it sits on."""
    out = rel.named(finding.subject)
    for key in ("source", "target"):
        value = finding.evidence.get(key)
        if isinstance(value, str):
            out |= rel.named(value)
    return out | rel.mentions(finding.message) | rel.mentions(finding.cause)


def _explanations(rel: Relations, faults: Sequence[Finding]) -> dict[int, set[int]]:
    """finding index -> the indices of the findings it explains (same incident, by a rule)."""
    touches = [_touches(rel, f) for f in faults]
    edges: dict[int, set[int]] = {i: set() for i in range(len(faults))}
    for rule in RULES:
        for i, root in enumerate(faults):
            if root.check != rule.root:
                continue
            reach = rel.step(rule.via, _own(rel, root))
            for j, other in enumerate(faults):
                if (j != i and other.check in rule.explains and other.id == root.id
                        and reach & touches[j]):
                    edges[i].add(j)
    return edges


def _descendants(roots: list[int], edges: dict[int, set[int]]) -> set[int]:
    seen = set(roots)
    todo = list(roots)
    while todo:
        for j in edges[todo.pop()]:
            if j not in seen:
                seen.add(j)
                todo.append(j)
    return seen


def _subjects(findings: Sequence[Finding]) -> str:
    return ", ".join(dict.fromkeys(f.subject for f in findings))


def _chain(faults: Sequence[Finding], refs: Sequence[str], members: list[int]
           ) -> tuple[ChainStep, ...]:
    """One step per check, the root's first, then in the order faults travel; each quotes
    its first finding."""
    by_check: dict[str, list[int]] = {}
    for i in members:
        by_check.setdefault(faults[i].check, []).append(i)
    order = list(CHECKS)
    root_check = faults[members[0]].check

    def key(check: str) -> tuple[int, int, int]:
        """The root's check first, then the order faults travel in (rules.CHECKS)."""
        return (check != root_check, order.index(check) if check in order else len(order),
                by_check[check][0])

    steps = []
    for check in sorted(by_check, key=key):
        idx = by_check[check]
        first = faults[idx[0]]
        more = f" (+{len(idx) - 1} more)" if len(idx) > 1 else ""
        steps.append(ChainStep(layer=finding_layer(first),
                               subject=_subjects([faults[i] for i in idx]),
                               text=f"{_says(check)}: {first.message}{more}",
                               finding=refs[idx[0]], check=check))
    return tuple(steps)


def diagnose(lab: Lab, findings: Sequence[Finding],
             refs: Sequence[str] | None = None) -> list[Cause]:
    """The causes of a run's findings, most telling first.

    Args:
        findings: every finding of the run (info notes are not faults and are left out).
        refs: how summary.json names each finding; default `f1`, `f2`, ... in this order.

    Returns:
        Causes ranked by how many layers their chain crosses, then how many findings they
        account for; an empty list when nothing is wrong.
    """
    names = list(refs) if refs is not None else [f"f{n}" for n in range(1, len(findings) + 1)]
    if len(names) != len(findings):
        raise ValueError(f"{len(names)} refs for {len(findings)} findings")
    kept = [(r, f) for r, f in zip(names, findings, strict=True) if f.severity != "info"]
    faults = [f for _, f in kept]
    fault_refs = [r for r, _ in kept]
    if not faults:
        return []
    rel = relations(lab)
    edges = _explanations(rel, faults)
    explained = {j for targets in edges.values() for j in targets}
    roots = [i for i in range(len(faults)) if i not in explained]
    # a ring of findings explaining each other (no rule makes one, but stay total): its first
    # member stands as a root
    for i in range(len(faults)):
        if i not in _descendants(roots, edges):
            roots.append(i)
    groups: dict[tuple[str, str], list[int]] = {}
    for i in roots:
        groups.setdefault((faults[i].id, faults[i].check), []).append(i)

    candidates = []
    for group_roots in groups.values():
        members = _descendants(group_roots, edges)
        layers = {finding_layer(faults[i]) for i in members}
        candidates.append((group_roots, members, layers))
    candidates.sort(key=lambda c: (-len(c[2]), -len(c[1]), min(c[0])))

    causes: list[Cause] = []
    taken: set[int] = set()
    for rank, (group_roots, members, _) in enumerate(candidates, start=1):
        own = group_roots + [i for i in sorted(members - set(group_roots)) if i not in taken]
        taken |= set(own)
        chain = _chain(faults, fault_refs, own)
        root = faults[group_roots[0]]
        subject = _subjects([faults[i] for i in group_roots])
        layer = finding_layer(root)
        title = f"{subject}: {_says(root.check)} ({LAYERS.get(layer, layer)})"
        if len(chain) > 1:  # where it ends up: the last symptom in the order faults travel
            last = chain[-1]
            title += f" -> {_says(last.check)} ({LAYERS.get(last.layer, last.layer)})"
        # what its findings are about (not where a probe was sent from), and what that is
        # cabled to or part of
        touched: set[str] = set()
        for i in own:
            touched |= rel.named(faults[i].subject) | rel.mentions(faults[i].message)
        touched = rel.step(_PHYSICAL, touched)
        causes.append(Cause(
            id=f"C{rank}", rank=rank, incident=root.id, subject=subject, layer=layer,
            title=title, explains=tuple(fault_refs[i] for i in own), evidence_chain=chain,
            touches=tuple(sorted(touched))))
    return causes

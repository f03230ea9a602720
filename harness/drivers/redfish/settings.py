"""Pending settings through Redfish Settings objects: write with If-Match, reset, verify.

On iLO a 200 on the PATCH only means "pending": BIOS and the adapter apply the values during the
next POST and then write the verdict into `@Redfish.Settings.Messages` (Success, or
PropertyValueNotInList / PropertyUnknown naming what was rejected). So a change counts as applied
only when, after the reset, the messages hold no failure and a re-read of the resource shows the
intended values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.drivers.redfish.client import RedfishBmc
from harness.drivers.redfish.errors import (
    RemediationRefused,
    SettingsNotAppliedError,
    SettingsOutcome,
    messages_of,
)
from harness.drivers.redfish.parse import at, etag_of, parse_settings
from harness.drivers.redfish.power import DEFAULT_POLL_S, DEFAULT_TIMEOUT_S, ResetRecord, restart
from harness.facts.redfish import FixPlan, RedfishMessage, SettingsChange


@dataclass(frozen=True)
class ApplyResult:
    """The verified outcome of applying settings: per resource, and the reset that applied it."""

    outcomes: tuple[SettingsOutcome, ...]
    reset: ResetRecord
    requests: int
    patch_replies: Mapping[str, tuple[RedfishMessage, ...]] = field(default_factory=dict)


def _merge(into: dict[str, Any], body: Mapping[str, Any]) -> None:
    for key, value in body.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value if not isinstance(value, Mapping) else dict(value)


def apply_settings(bmc: RedfishBmc, system_uri: str, changes: Sequence[SettingsChange], *,
                   timeout: float = DEFAULT_TIMEOUT_S, poll: float = DEFAULT_POLL_S,
                   reset_type: str | None = None) -> ApplyResult:
    """Write each change to its Settings object with If-Match, reset once, wait for FinishedPost
    and verify every change from the settings messages and a re-read.

    Raises:
        PreconditionFailedError: a settings object changed between read and write (412).
        PropertyValueError, PropertyNotWritableError, ...: the BMC refused a value outright.
        ResetTimeoutError: the server did not come back in time.
        SettingsNotAppliedError: after the reset a change is reported failed or not in effect.
    """
    start_count = bmc.requests
    bodies: dict[str, dict[str, Any]] = {}
    for change in changes:
        _merge(bodies.setdefault(change.settings_uri, {}), change.body)
    before: dict[str, tuple[str | None, str | None]] = {}
    for resource in dict.fromkeys(c.resource for c in changes):
        state = parse_settings(bmc.get(resource).body)
        before[resource] = (state.time, state.etag) if state else (None, None)
    replies: dict[str, tuple[RedfishMessage, ...]] = {}
    for uri, body in bodies.items():
        read = bmc.get(uri)  # the If-Match ETag is that of the settings object as read now
        reply = bmc.patch(uri, body, etag_of(read.body, read.etag))
        replies[uri] = messages_of(reply.body)
    record = restart(bmc, system_uri, reset_type=reset_type, timeout=timeout, poll=poll)
    outcomes = []
    for resource, wanted in _expectations(changes).items():
        doc = bmc.get(resource).body
        state = parse_settings(doc)
        messages = state.messages if state else ()
        mismatches = {path: (want, at(doc, path)) for path, want in wanted.items()
                      if at(doc, path) != want}
        if mismatches and state is not None and (state.time, state.etag) == before[resource]:
            # say why: the settings object was not processed by this reset at all
            mismatches["@Redfish.Settings"] = ("processed by the reset",
                                               f"unchanged since {state.time}")
        failures = state.failures if state else ()
        outcomes.append(SettingsOutcome(resource, not failures and not mismatches, messages,
                                        mismatches))
    result = ApplyResult(tuple(outcomes), record, bmc.requests - start_count, replies)
    failed = [o for o in outcomes if not o.applied]
    if failed:
        detail = "; ".join(
            f"{o.resource}: " + ", ".join(
                [m.text() for m in o.messages if m.short_id not in ("Success",)]
                + [f"{k} is {got!r}, wanted {want!r}" for k, (want, got) in o.mismatches.items()])
            for o in failed)
        raise SettingsNotAppliedError(f"not applied by the {record.reset_type} reset: {detail}",
                                      bmc=bmc.name, outcomes=outcomes)
    return result


def _expectations(changes: Sequence[SettingsChange]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for change in changes:
        out.setdefault(change.resource, {}).update(change.expect)
    return out


def remediate(bmc: RedfishBmc, system_uri: str, plan: FixPlan, *,
              timeout: float = DEFAULT_TIMEOUT_S, poll: float = DEFAULT_POLL_S
              ) -> ApplyResult | None:
    """Carry out a fix plan through Redfish; None when there is nothing to change.

    Raises:
        RemediationRefused: part of the plan must be done (or checked) by hand: iLO 4, or an
            adapter whose RedfishConfiguration is Disabled. Nothing is changed then: the operator
            has to reboot into System Utilities anyway, and does it all there.
        and whatever apply_settings raises.
    """
    by_hand = [*plan.manual, *plan.unverified]
    if by_hand:
        raise RemediationRefused(
            f"{len(by_hand)} adapter setting(s) cannot be read or written through this BMC's "
            "Redfish service; nothing was changed", bmc=bmc.name,
            manual_fix=" | ".join(by_hand))
    if not plan.changes:
        return None
    return apply_settings(bmc, system_uri, plan.changes, timeout=timeout, poll=poll)

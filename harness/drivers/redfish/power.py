"""Resets and power cycles through ComputerSystem.Reset, waiting for POST to finish.

iLO reports boot progress in `Oem.Hpe.PostState` (iLO 5) or `Oem.Hp.PostState` (iLO 4):
FinishedPost -> Reset -> InPost -> InPostDiscoveryComplete -> FinishedPost. A reset counts as
done only once the state has been seen to leave FinishedPost (or the BMC's POST timestamp has
changed) and then reached FinishedPost again, so a poll that comes before the reset takes effect
is never mistaken for the server coming back.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from harness.drivers.redfish.client import RedfishBmc
from harness.drivers.redfish.errors import (
    PropertyValueError,
    RedfishError,
    RedfishPayloadError,
    ResetTimeoutError,
)
from harness.drivers.redfish.parse import parse_power
from harness.facts.redfish import PowerFacts

FINISHED = "FinishedPost"
DEFAULT_TIMEOUT_S = 900.0  # a DL360 with several option ROMs can take 5-10 minutes to POST
DEFAULT_POLL_S = 2.0


@dataclass(frozen=True)
class ResetRecord:
    """What a reset did: the ResetType sent and every (PowerState, PostState) seen, in order."""

    reset_type: str
    states: tuple[tuple[str | None, str | None], ...]
    elapsed_s: float


def read_power(bmc: RedfishBmc, system_uri: str) -> PowerFacts:
    """Power/POST state and reset actions (one GET of the ComputerSystem)."""
    return parse_power(bmc.get(system_uri).body, system_uri)


def send_reset(bmc: RedfishBmc, system_uri: str, reset_type: str,
               power: PowerFacts | None = None) -> PowerFacts:
    """POST ComputerSystem.Reset with a ResetType the BMC advertises.

    Raises:
        PropertyValueError: the BMC does not offer this ResetType (lists the ones it does).
    """
    power = power or read_power(bmc, system_uri)
    if power.reset is None:
        raise RedfishPayloadError("no ComputerSystem.Reset action", bmc=bmc.name,
                                  path=system_uri, json_path="Actions/#ComputerSystem.Reset")
    if power.reset.types and reset_type not in power.reset.types:
        raise PropertyValueError(f"ResetType {reset_type} is not offered by this BMC",
                                 allowed=power.reset.types, bmc=bmc.name, method="POST",
                                 path=power.reset.target)
    bmc.post(power.reset.target, {"ResetType": reset_type})
    return power


def wait_for_post(bmc: RedfishBmc, system_uri: str, before: PowerFacts, *,
                  timeout: float = DEFAULT_TIMEOUT_S, poll: float = DEFAULT_POLL_S,
                  want_power: str = "On") -> tuple[tuple[str | None, str | None], ...]:
    """Poll until the server has been through a reset and reached `want_power` (On: and
    FinishedPost). Returns the states seen.

    Raises:
        ResetTimeoutError: not there within `timeout` (carries the states seen).
    """
    deadline = time.monotonic() + timeout
    states: list[tuple[str | None, str | None]] = []
    left = before.power_state != "On" or before.post_state != FINISHED
    while True:
        now = read_power(bmc, system_uri)
        state = (now.power_state, now.post_state)
        if not states or states[-1] != state:
            states.append(state)
        if state != ("On", FINISHED):
            left = True
        if before.boot_marker is not None and now.boot_marker not in (None, before.boot_marker):
            left = True  # POST ran between two polls
        if want_power == "Off" and now.power_state == "Off":
            return tuple(states)
        if want_power == "On" and left and state == ("On", FINISHED):
            return tuple(states)
        if time.monotonic() >= deadline:
            seen = " -> ".join(f"{p}/{s}" for p, s in states)
            raise ResetTimeoutError(
                f"server not {'off' if want_power == 'Off' else 'back at FinishedPost'} after "
                f"{timeout:.0f} s (states seen: {seen})", bmc=bmc.name, timeout=timeout,
                states=states)
        time.sleep(poll)


def restart(bmc: RedfishBmc, system_uri: str, *, reset_type: str | None = None,
            timeout: float = DEFAULT_TIMEOUT_S, poll: float = DEFAULT_POLL_S) -> ResetRecord:
    """Reset the server (ForceRestart when on, On when off) and wait for FinishedPost."""
    start = time.monotonic()
    before = read_power(bmc, system_uri)
    chosen = reset_type or ("ForceRestart" if before.power_state == "On" else "On")
    send_reset(bmc, system_uri, chosen, before)
    states = wait_for_post(bmc, system_uri, before, timeout=timeout, poll=poll)
    return ResetRecord(chosen, states, time.monotonic() - start)


class PowerCycleUnsupported(RedfishError):
    """This kind of power cycle cannot be done by labharness yet; says what to do instead."""


def power_cycle(bmc: RedfishBmc, system_uri: str, *, blade_enclosure: str | None = None,
                timeout: float = DEFAULT_TIMEOUT_S, poll: float = DEFAULT_POLL_S
                ) -> ResetRecord:
    """A full power cycle that proves the server came back: ForceOff, wait for Off, On, wait
    for FinishedPost (rack servers, through iLO).

    A blade's NIC may need its e-fuse reset from the Onboard Administrator (`reset server
    <bay>`): a Redfish power off/on keeps the mezzanine on auxiliary power (F07).

    Raises:
        PowerCycleUnsupported: the server is a blade (`blade_enclosure` set).
    """
    if blade_enclosure is not None:
        raise PowerCycleUnsupported(
            f"{bmc.name} is a blade in enclosure {blade_enclosure}: its power cycle is an e-fuse "
            "reset from the Onboard Administrator (`reset server <bay>` on the OA CLI), which "
            "labharness does not drive yet", bmc=bmc.name)
    start = time.monotonic()
    before = read_power(bmc, system_uri)
    states: list[tuple[str | None, str | None]] = []
    if before.power_state != "Off":
        send_reset(bmc, system_uri, "ForceOff", before)
        states += wait_for_post(bmc, system_uri, before, timeout=timeout, poll=poll,
                                want_power="Off")
    off = read_power(bmc, system_uri)
    send_reset(bmc, system_uri, "On", off)
    states += wait_for_post(bmc, system_uri, off, timeout=timeout, poll=poll)
    return ResetRecord("ForceOff+On", tuple(states), time.monotonic() - start)

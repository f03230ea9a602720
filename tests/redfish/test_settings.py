"""Settings objects through the driver: pending -> reset -> applied, judged from the settings
messages; bad values and stale ETags raise typed errors carrying iLO's MessageIds; resets wait
for FinishedPost and time out with the states seen; power cycles know rack from blade (F07)."""

from __future__ import annotations

import pytest

from harness.drivers.redfish import (
    InvalidStateError,
    PowerCycleUnsupported,
    PreconditionFailedError,
    PropertyNotWritableError,
    PropertyUnknownError,
    PropertyValueError,
    ResetTimeoutError,
    SettingsChange,
    SettingsNotAppliedError,
    apply_settings,
    power_cycle,
    read_server,
    restart,
)
from harness.drivers.redfish.power import read_power, send_reset
from tests.redfish.conftest import GEN9, GEN10, POLL_S, Ilo, StartIlo


def _bios_change(facts_settings: str, resource: str, attrs: dict[str, object], gen10: bool,
                 expect: dict[str, object] | None = None) -> SettingsChange:
    body = {"Attributes": attrs} if gen10 else dict(attrs)
    prefix = "Attributes/" if gen10 else ""
    return SettingsChange("bios", resource, facts_settings, body,
                          expect if expect is not None else
                          {prefix + k: v for k, v in attrs.items()}, "bios")


@pytest.mark.parametrize("server", [GEN9, GEN10])
def test_bios_change_is_pending_until_reset_then_applied(ilo: Ilo, server: str) -> None:
    bmc = ilo.bmc(server)
    facts = read_server(bmc)
    assert facts.bios.settings_uri is not None
    gen10 = facts.generation == "ilo5"
    change = _bios_change(facts.bios.settings_uri, facts.bios.uri, {"Sriov": "Disabled"}, gen10)
    # pending: written with If-Match, the reply says a reset is needed, current is unchanged
    reply = bmc.patch(facts.bios.settings_uri, change.body, facts.bios.pending_etag)
    assert [m for m in reply.body["error"]["@Message.ExtendedInfo"]
            if m["MessageId"].endswith(".SystemResetRequired")]
    pending = read_server(bmc)
    assert pending.bios.current["Sriov"] == "Enabled"
    assert pending.bios.pending_changes() == {"Sriov": ("Enabled", "Disabled")}
    # applied by the reset, verified from the messages and a re-read
    result = apply_settings(bmc, facts.system_uri, [change], timeout=30, poll=POLL_S)
    (outcome,) = result.outcomes
    assert outcome.applied and [m.short_id for m in outcome.messages] == ["Success"]
    post_states = [s for _, s in result.reset.states]
    assert post_states[0] != "FinishedPost" and post_states[-1] == "FinishedPost"
    assert "InPostDiscoveryComplete" in post_states
    after = read_server(bmc)
    assert after.bios.current["Sriov"] == "Disabled" and not after.bios.pending_changes()


def test_unknown_bios_name_is_accepted_then_reported_after_the_reset(ilo: Ilo) -> None:
    """Like iLO: 200 on the PATCH, PropertyUnknown in @Redfish.Settings.Messages after POST."""
    bmc = ilo.bmc(GEN10)
    facts = read_server(bmc)
    assert facts.bios.settings_uri is not None
    change = _bios_change(facts.bios.settings_uri, facts.bios.uri,
                          {"Dhcpv8": "Enabled", "Sriov": "Disabled"}, True,
                          expect={"Attributes/Sriov": "Disabled"})
    with pytest.raises(SettingsNotAppliedError) as err:
        apply_settings(bmc, facts.system_uri, [change], timeout=30, poll=POLL_S)
    assert "PropertyUnknown" in err.value.short_ids
    assert any(m.endswith("PropertyUnknown") for m in err.value.message_ids)
    assert "Dhcpv8" in str(err.value)
    assert read_server(bmc).bios.current["Sriov"] == "Disabled"  # the valid one still applied


def test_bad_values_raise_typed_errors_with_message_ids(ilo: Ilo) -> None:
    bmc = ilo.bmc(GEN10)
    facts = read_server(bmc)
    settings = facts.bios.settings_uri
    assert settings is not None
    with pytest.raises(PropertyValueError) as bad:
        bmc.patch(settings, {"Attributes": {"EmbNicEnable": "Bogus"}}, None)
    assert bad.value.status == 400 and bad.value.short_ids == ("PropertyValueNotInList",)
    assert bad.value.message_ids[0].startswith("Base.1.")
    with pytest.raises(PropertyNotWritableError) as ro:  # BIOS would defer it to the reset
        bmc.patch(facts.system_uri, {"SerialNumber": "X"}, None)
    assert ro.value.short_ids == ("PropertyNotWritable",) and "read-only" in str(ro.value)
    flexlom = facts.adapter_in("flexlom")
    assert flexlom is not None
    fn = flexlom.functions[0]
    assert fn.result is not None and fn.result.settings_uri
    with pytest.raises(PropertyValueError) as ndf:
        bmc.patch(fn.result.settings_uri, {"NetDevFuncType": "Bogus"}, None)
    assert "not allowed for NetDevFuncType" in str(ndf.value)
    with pytest.raises(PropertyUnknownError) as unknown:
        bmc.patch(fn.result.settings_uri, {"NoSuchThing": 1}, None)
    assert unknown.value.short_ids == ("PropertyUnknown",)


def test_stale_etag_is_refused_with_412(ilo: Ilo) -> None:
    bmc = ilo.bmc(GEN10)
    facts = read_server(bmc)
    settings, stale = facts.bios.settings_uri, facts.bios.pending_etag
    assert settings is not None and stale is not None
    bmc.patch(settings, {"Attributes": {"Sriov": "Disabled"}}, stale)  # changes the ETag
    with pytest.raises(PreconditionFailedError) as err:
        bmc.patch(settings, {"Attributes": {"Sriov": "Enabled"}}, stale)
    assert err.value.status == 412 and err.value.short_ids == ("PreconditionFailed",)
    assert read_server(bmc).bios.pending["Sriov"] == "Disabled"  # the stale write did nothing


def test_settings_cannot_change_during_post(start_ilo: StartIlo) -> None:
    ilo = start_ilo(post_step_s=1.0)
    bmc = ilo.bmc(GEN10)
    facts = read_server(bmc)
    send_reset(bmc, facts.system_uri, "ForceRestart")
    assert facts.bios.settings_uri is not None
    with pytest.raises(InvalidStateError) as err:
        bmc.patch(facts.bios.settings_uri, {"Attributes": {"Sriov": "Disabled"}}, None)
    assert err.value.short_ids == ("UnableToModifyDuringSystemPOST",)


def test_reset_types_the_bmc_does_not_offer_are_refused(ilo: Ilo) -> None:
    bmc = ilo.bmc(GEN9)
    facts = read_server(bmc)
    with pytest.raises(PropertyValueError) as local:
        send_reset(bmc, facts.system_uri, "GracefulShutdown")  # iLO 4 has no such value
    assert "ForceRestart" in local.value.allowed and bmc.log.records[-1].method == "GET"
    assert facts.power.reset is not None
    with pytest.raises(PropertyValueError) as remote:
        bmc.post(facts.power.reset.target, {"ResetType": "Bogus"})
    assert remote.value.short_ids == ("ActionParameterValueNotInList",)
    with pytest.raises(InvalidStateError) as state:
        send_reset(bmc, facts.system_uri, "On")  # already on
    assert state.value.short_ids == ("InvalidOperationForSystemState",)


def test_reset_that_does_not_finish_in_time_says_where_it_stopped(start_ilo: StartIlo) -> None:
    ilo = start_ilo(post_step_s=2.0)
    bmc = ilo.bmc(GEN10)
    system = read_server(bmc).system_uri
    with pytest.raises(ResetTimeoutError) as err:
        restart(bmc, system, timeout=0.3, poll=POLL_S)
    assert err.value.states and err.value.states[-1] != ("On", "FinishedPost")
    assert "FinishedPost" in str(err.value)


def test_power_cycle_of_a_rack_server_goes_off_and_back(ilo: Ilo) -> None:
    bmc = ilo.bmc(GEN10)
    system = read_server(bmc).system_uri
    record = power_cycle(bmc, system, timeout=30, poll=POLL_S)
    powers = [p for p, _ in record.states]
    assert "Off" in powers and record.states[-1] == ("On", "FinishedPost")
    now = read_power(bmc, system)
    assert (now.power_state, now.post_state) == ("On", "FinishedPost")


def test_power_cycle_of_a_blade_needs_the_onboard_administrator(ilo: Ilo) -> None:
    bmc = ilo.bmc(GEN9)
    with pytest.raises(PowerCycleUnsupported) as err:
        power_cycle(bmc, "/redfish/v1/Systems/1/", blade_enclosure="enc01")
    assert "reset server <bay>" in str(err.value) and "Onboard Administrator" in str(err.value)
    assert read_power(bmc, "/redfish/v1/Systems/1/").power_state == "On"  # nothing was done

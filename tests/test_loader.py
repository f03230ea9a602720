"""The strict loader: located errors, all at once; inventories and secret references."""

from __future__ import annotations

import json
import typing
from pathlib import Path

import pytest

from harness.lab import InputFileError, Secret, SecretError, load_inventory, load_lab
from harness.lab.catalog import ADAPTERS
from harness.lab.model import AdapterModelName, nlb_cluster_mac
from harness.lab.schema import committed_schema_path, render_schema
from harness.lab.source import load_yaml, render_path
from tests.conftest import ROOT, SIM_INVENTORY, SIM_LAB


def _problems(tmp_path: Path, text: str, name: str = "lab.yaml") -> list[str]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputFileError) as info:
        load_lab(path)
    return [str(p) for p in info.value.problems]


@pytest.mark.parametrize("path", sorted((ROOT / "labs").rglob("*.yaml")),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shipped_lab_validates(path: Path) -> None:
    load_lab(path)


@pytest.mark.parametrize("path", sorted((ROOT / "inventory").rglob("*.yaml")),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shipped_inventory_validates(path: Path) -> None:
    inv = load_inventory(path).inventory
    lab_file = ROOT / "labs" / f"{inv.lab}.yaml"
    candidates = [lab_file, *(ROOT / "labs").rglob(f"{inv.lab}.yaml")]
    lab = load_lab(next(p for p in candidates if p.exists()))
    load_inventory(path, lab)


def test_all_problems_of_a_file_are_reported_at_once(tmp_path: Path) -> None:
    problems = _problems(tmp_path, (
        "name: t\n"
        "hosts:\n"
        "  esx01:\n"
        "    kind: virtual\n"
        "    version: '6.5.0'\n"
        "    build: abc\n"
        "    colour: blue\n"
    ))
    assert len(problems) == 3
    assert any(p.startswith(f"{tmp_path / 'lab.yaml'}:4:11: hosts.esx01.kind:") for p in problems)
    assert any(":6:12: hosts.esx01.build:" in p for p in problems)
    assert any(":7:5: hosts.esx01.colour: unknown key 'colour'; allowed here: kind, server"
               in p for p in problems)


def test_every_duplicate_key_is_reported_with_the_first_line(tmp_path: Path) -> None:
    problems = _problems(tmp_path, "name: a\nntp: {servers: []}\nname: b\nntp: {}\n")
    assert problems == [
        f"{tmp_path / 'lab.yaml'}:3:1: name: duplicate key 'name' (first defined on line 1); "
        "each key may appear once",
        f"{tmp_path / 'lab.yaml'}:4:1: ntp: duplicate key 'ntp' (first defined on line 2); "
        "each key may appear once",
    ]


def test_cross_reference_problem_points_at_the_reference(tmp_path: Path) -> None:
    text = SIM_LAB.read_text(encoding="utf-8").replace(
        "vmk1: {port_group: dvpg-vmotion, ip: 198.18.20.11/24",
        "vmk1: {port_group: dvpg-vmotoin, ip: 198.18.20.11/24", 1)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "dvpg-vmotoin" in t)
    problems = _problems(tmp_path, text)
    assert len(problems) == 1
    assert f"lab.yaml:{line}:" in problems[0]
    assert "hosts.esx01.vmknics.vmk1.port_group: esx01 has no port group 'dvpg-vmotoin'" \
        in problems[0]
    assert "dvpg-vmotion" in problems[0]  # lists what is there


def test_yaml_12_semantics(tmp_path: Path) -> None:
    """MACs stay strings (YAML 1.1 would read 00:50:56 as a base-60 number), `no` is text."""
    path = tmp_path / "x.yaml"
    path.write_text("a: 00:50:56:01:02:03\nb: no\nc: 010\n", encoding="utf-8")
    assert load_yaml(path).data == {"a": "00:50:56:01:02:03", "b": "no", "c": 10}


def test_merge_keys_fill_in_and_are_overridden(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("base: &b {x: 1, y: 2}\nitem:\n  <<: *b\n  y: 3\n", encoding="utf-8")
    assert load_yaml(path).data["item"] == {"x": 1, "y": 3}


def test_render_path() -> None:
    assert render_path(("hosts", "esx01", "vmknics", "vmk1", "ip")) == \
        "hosts.esx01.vmknics.vmk1.ip"
    assert render_path(("port_groups", "Management Network", "vlan")) == \
        'port_groups["Management Network"].vlan'
    assert render_path(("cabling", 3, "a")) == "cabling[3].a"
    assert render_path(("advanced_options", "Mem.ShareForceSalting")) == \
        'advanced_options["Mem.ShareForceSalting"]'


def test_nlb_cluster_mac_derivation() -> None:
    from ipaddress import IPv4Address

    vip = IPv4Address("198.18.40.100")
    assert nlb_cluster_mac("unicast", vip) == "02:bf:c6:12:28:64"
    assert nlb_cluster_mac("multicast", vip) == "03:bf:c6:12:28:64"
    assert nlb_cluster_mac("igmp_multicast", vip) == "01:00:5e:7f:28:64"


def test_adapter_literal_matches_catalogue() -> None:
    assert set(typing.get_args(AdapterModelName)) == set(ADAPTERS)


@pytest.mark.parametrize("kind", ["lab", "inventory"])
def test_committed_schema_is_in_sync(kind: typing.Literal["lab", "inventory"]) -> None:
    """Editors complete lab files from the committed schema; regenerate it with
    `labharness schema --kind KIND --output harness/lab/schema/KIND.schema.json`."""
    committed = committed_schema_path(kind).read_text(encoding="utf-8")
    assert committed == render_schema(kind)
    assert json.loads(committed)["additionalProperties"] is False


# -- inventories and secrets ------------------------------------------------------------------


def _inventory(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "inv.yaml"
    path.write_text(text, encoding="utf-8")
    return path


REAL = ("name: site\nlab: sim\nbackend: real\n"
        "vcenter: {url: 'https://vc.example.test/sdk', username: u, password: %s}\n")


def test_real_inventory_refuses_plain_secrets(tmp_path: Path) -> None:
    with pytest.raises(InputFileError) as info:
        load_inventory(_inventory(tmp_path, REAL % "plain:hunter2"))
    (problem,) = info.value.problems
    assert problem.path == "vcenter.password" and problem.line == 4
    assert "env:NAME or file:PATH" in problem.message
    assert "hunter2" not in str(info.value)


def test_tls_verification_is_on_unless_turned_off(tmp_path: Path) -> None:
    inv = load_inventory(_inventory(tmp_path, REAL % "env:LH_TEST_VC")).inventory
    assert inv.vcenter is not None and inv.vcenter.verify_tls is True


def test_secret_references_resolve_and_never_show(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.lab import resolve_secret

    monkeypatch.setenv("LH_TEST_SECRET", "s3cr3t")
    (tmp_path / "pw").write_text("filepw\n", encoding="utf-8")
    env = resolve_secret("env:LH_TEST_SECRET", tmp_path)
    fil = resolve_secret("file:pw", tmp_path)  # relative to the inventory's directory
    assert (env.reveal(), fil.reveal()) == ("s3cr3t", "filepw")
    for secret in (env, fil):
        assert isinstance(secret, Secret)
        assert "s3cr3t" not in repr(secret) + str(secret) + f"{secret}"
        assert "filepw" not in repr(secret) + str(secret)
    monkeypatch.delenv("LH_TEST_SECRET")
    with pytest.raises(SecretError, match="LH_TEST_SECRET is not set"):
        resolve_secret("env:LH_TEST_SECRET", tmp_path)
    with pytest.raises(SecretError, match="cannot read secret file"):
        resolve_secret("file:missing", tmp_path)


def test_inventory_is_checked_against_its_lab(tmp_path: Path) -> None:
    lab = load_lab(SIM_LAB)
    text = SIM_INVENTORY.read_text(encoding="utf-8").replace("  srv-esx03:", "  srv-esx09:")
    with pytest.raises(InputFileError) as info:
        load_inventory(_inventory(tmp_path, text), lab)
    (problem,) = info.value.problems
    assert problem.path == "bmcs.srv-esx09"
    assert "no server 'srv-esx09'" in problem.message and "srv-esx01" in problem.message

"""F13: `labharness depot profiles` on offline bundles built here the way VMware lays them out.

A bundle is index.xml -> vendor-index.xml -> metadata.zip (a ZIP inside the ZIP) holding
profiles/, vibs/, bulletins/ and vmware.xml. Healthy bundles list their profiles; every broken
one gives one line naming the file and the member, exit 2, and never a traceback.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from harness.cli import app
from harness.depot import DepotError, read_bundle
from harness.depot import bundle as bundle_module

INDEX_XML = """<?xml version="1.0" encoding="utf-8"?>
<vendorList>
  <vendor>
    <name>{vendor}</name>
    <code>{code}</code>
    <indexfile>{indexfile}</indexfile>
    <patchUrl></patchUrl>
    <relativePath>{relative}</relativePath>
    <content>
      <name>VMware ESX</name>
      <type>http://www.vmware.com/depotmanagement/esx</type>
    </content>
  </vendor>
</vendorList>
"""

VENDOR_INDEX_XML = """<?xml version="1.0" encoding="utf-8"?>
<metaList>
{entries}</metaList>
"""

METADATA_ENTRY = """  <metadata>
    <productId>embeddedEsx</productId>
    <version>{version}</version>
    <locale></locale>
    <url>{url}</url>
    <channelName>default</channelName>
  </metadata>
"""

PROFILE_XML = """<imageProfile>
  <name>{name}</name>
  <creator>{creator}</creator>
  <profileID>{profile_id}</profileID>
  <creationtime>{created}</creationtime>
  <modifiedtime>{created}</modifiedtime>
  <readonly>true</readonly>
  <description>{description}</description>
  <acceptancelevel>{level}</acceptancelevel>
  <viblist>{vibs}</viblist>
</imageProfile>
"""

VIB_XML = """<vib version="5.0"><type>bootbank</type><name>{name}</name><version>{version}</version>
<vendor>VMware</vendor><summary>{name}</summary><relative-path>vib20/{name}/{vib_id}.vib
</relative-path><acceptance-level>certified</acceptance-level></vib>"""

ESX65U1_VIBS = [
    "VMware_bootbank_esx-base_6.5.0-1.26.5969303",
    "VMware_bootbank_vsan_6.5.0-1.26.5912974",
    "VMware_bootbank_vsanhealth_6.5.0-1.26.5912976",
    "VMware_bootbank_esx-tboot_6.5.0-1.26.5969303",
    "VMW_bootbank_ixgben_1.4.1-2vmw.650.1.26.5969303",
    "VMware_locker_tools-light_6.5.0-0.23.5969300",
]
TOOLS = "VMware_locker_tools-light_6.5.0-0.23.5969300"


def profile_xml(name: str, vibs: list[str], *, creator: str = "VMware, Inc.",
                level: str = "partner", created: str = "2017-07-20T10:42:32.361318+00:00",
                description: str = "Updates ESXi 6.5 Image Profile") -> str:
    return PROFILE_XML.format(
        name=name, creator=creator, profile_id=f"{name}-id", created=created,
        description=description, level=level,
        vibs="".join(f"<vib><vib-id>{v}</vib-id></vib>" for v in vibs))


def zip_bytes(members: dict[str, bytes | str], *, stored: bool = False) -> bytes:
    buf = io.BytesIO()
    method = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(name, data.encode() if isinstance(data, str) else data)
    return buf.getvalue()


@dataclass
class Bundle:
    """An offline bundle under construction; `write()` puts it in tmp_path."""

    root: Path
    vendor: str = "VMware"
    code: str = "vmw"
    relative: str = ""
    urls: list[str] = field(default_factory=lambda: ["metadata.zip"])
    profiles: dict[str, str] = field(default_factory=lambda: {
        "profiles/ESXi-6.5.0-20170702001-standard": profile_xml(
            "ESXi-6.5.0-20170702001-standard", ESX65U1_VIBS),
        "profiles/ESXi-6.5.0-20170702001-no-tools": profile_xml(
            "ESXi-6.5.0-20170702001-no-tools", [v for v in ESX65U1_VIBS if v != TOOLS],
            description="Updates ESXi 6.5 Image Profile (no VMware Tools)"),
        "profiles/ESXi-6.5.0-20170701001s-standard": profile_xml(
            "ESXi-6.5.0-20170701001s-standard", [*ESX65U1_VIBS[:2], TOOLS],
            created="2017-07-20T10:41:02+00:00", description="Security-only fixes"),
    })
    extra_metadata: dict[str, bytes | str] = field(default_factory=dict)
    extra_outer: dict[str, bytes | str] = field(default_factory=dict)
    drop_outer: tuple[str, ...] = ()

    def metadata(self) -> dict[str, bytes | str]:
        vibs = {f"vibs/{v.split('_')[2]}-{i}.xml": VIB_XML.format(
            name=v.split("_")[2], version=v.split("_")[3], vib_id=v)
            for i, v in enumerate(ESX65U1_VIBS)}
        return {
            "vendor-index.xml": self.vendor_index(),
            "vmware.xml": "<metadataResponse><version>3.0</version><timestamp>"
                          "2017-07-20T10:45:00</timestamp></metadataResponse>",
            "bulletins/ESXi650-201707201-UG.xml": "<bulletin><id>ESXi650-201707201-UG</id>"
                                                  "</bulletin>",
            **vibs, **self.profiles, **self.extra_metadata,
        }

    def vendor_index(self) -> str:
        return VENDOR_INDEX_XML.format(entries="".join(
            METADATA_ENTRY.format(version="6.5.0", url=u) for u in self.urls))

    def write(self, name: str = "update-from-esxi6.5-6.5_update01.zip") -> Path:
        vendor_dir = f"{self.relative}/" if self.relative else ""
        members: dict[str, bytes | str] = {
            "index.xml": INDEX_XML.format(vendor=self.vendor, code=self.code,
                                          indexfile="vendor-index.xml", relative=self.relative),
            f"{vendor_dir}vendor-index.xml": self.vendor_index(),
            f"{vendor_dir}metadata.zip": zip_bytes(self.metadata()),
            "vib20/esx-base/VMware_bootbank_esx-base_6.5.0-1.26.5969303.vib": b"!<arch>\n",
            **self.extra_outer,
        }
        for gone in self.drop_outer:
            members.pop(gone)
        path = self.root / name
        path.write_bytes(zip_bytes(members))
        return path


@pytest.fixture
def make_bundle(tmp_path: Path) -> Callable[..., Bundle]:
    def make(**kwargs: object) -> Bundle:
        return Bundle(tmp_path, **kwargs)  # type: ignore[arg-type]
    return make


runner = CliRunner()


def cli(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["depot", "profiles", *args], env={"COLUMNS": "220"})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    text = result.stdout + result.stderr
    assert "Traceback" not in text, text
    return result.exit_code, result.stdout, result.stderr


# -- healthy bundles ---------------------------------------------------------------------------


def test_lists_every_profile_with_vendor_level_and_vib_count(make_bundle: Callable[..., Bundle]
                                                             ) -> None:
    depot = read_bundle(make_bundle().write())
    summary = {p.name: (p.vendor, p.acceptance_level, p.vib_count) for p in depot.profiles}
    assert summary == {
        "ESXi-6.5.0-20170701001s-standard": ("VMware, Inc.", "PartnerSupported", 3),
        "ESXi-6.5.0-20170702001-no-tools": ("VMware, Inc.", "PartnerSupported", 5),
        "ESXi-6.5.0-20170702001-standard": ("VMware, Inc.", "PartnerSupported", 6),
    }
    standard = depot.profiles[2]
    assert standard.created is not None and standard.created.isoformat().startswith(
        "2017-07-20T10:42:32")
    assert standard.description == "Updates ESXi 6.5 Image Profile"
    assert standard.member == "metadata.zip:profiles/ESXi-6.5.0-20170702001-standard"
    assert depot.vendors == ("VMware",)
    (meta,) = depot.metadata
    assert (meta.member, meta.product_id, meta.version, meta.profile_count, meta.vib_count) == (
        "metadata.zip", "embeddedEsx", "6.5.0", 3, len(ESX65U1_VIBS))


def test_cli_prints_a_table(make_bundle: Callable[..., Bundle]) -> None:
    code, out, _ = cli(str(make_bundle().write()))
    assert code == 0
    for text in ("ESXi-6.5.0-20170702001-standard", "ESXi-6.5.0-20170702001-no-tools",
                 "VMware, Inc.", "PartnerSupported", "2017-07-20 10:42", "Security-only fixes",
                 "3 image profile(s), from metadata.zip", "--allow-downgrades"):
        assert text in out, (text, out)
    row = next(line for line in out.splitlines() if "20170702001-no-tools" in line)
    assert " 5 " in row


def test_cli_json(make_bundle: Callable[..., Bundle]) -> None:
    path = make_bundle().write()
    code, out, _ = cli(str(path), "--json")
    assert code == 0
    data = json.loads(out)
    assert data["file"] == str(path)
    assert [(p["name"], p["acceptance_level"], p["vib_count"]) for p in data["profiles"]] == [
        ("ESXi-6.5.0-20170701001s-standard", "PartnerSupported", 3),
        ("ESXi-6.5.0-20170702001-no-tools", "PartnerSupported", 5),
        ("ESXi-6.5.0-20170702001-standard", "PartnerSupported", 6),
    ]
    assert data["metadata"][0]["vibs"] == len(ESX65U1_VIBS)


def test_vendor_bundle_in_a_subfolder_with_two_metadata_entries(
        make_bundle: Callable[..., Bundle]) -> None:
    """An OEM bundle: relativePath, short and long acceptance names, one archive named twice
    (6.5.0 and 6.7.0 entries) read once, and a second archive repeating a profile."""
    hpe = make_bundle(
        vendor="Hewlett Packard Enterprise", code="HPE", relative="hpe",
        urls=["metadata.zip", "metadata.zip", "extra/metadata-2.zip"],
        profiles={"profiles/HPE-ESXi-6.5.0-Update1-iso-650.U1.10.1.0.14": profile_xml(
            "HPE-ESXi-6.5.0-Update1-iso-650.U1.10.1.0.14", ESX65U1_VIBS,
            creator="Hewlett Packard Enterprise", level="PartnerSupported")})
    second = zip_bytes({"profiles/a.xml": hpe.profiles[
        "profiles/HPE-ESXi-6.5.0-Update1-iso-650.U1.10.1.0.14"],
        "profiles/b.xml": profile_xml("HPE-ESXi-6.5.0-Update1-community", ESX65U1_VIBS[:1],
                                      creator="Hewlett Packard Enterprise", level="community")})
    hpe.extra_outer = {"hpe/extra/metadata-2.zip": second}
    depot = read_bundle(hpe.write())
    assert [(p.name, p.acceptance_level) for p in depot.profiles] == [
        ("HPE-ESXi-6.5.0-Update1-community", "CommunitySupported"),
        ("HPE-ESXi-6.5.0-Update1-iso-650.U1.10.1.0.14", "PartnerSupported"),
    ]
    assert [m.member for m in depot.metadata] == ["hpe/metadata.zip",
                                                  "hpe/extra/metadata-2.zip"]


def test_driver_bundle_without_profiles_is_not_an_error(make_bundle: Callable[..., Bundle]
                                                        ) -> None:
    code, out, _ = cli(str(make_bundle(profiles={}).write()))
    assert code == 0
    assert "no image profiles (6 VIB(s) in its metadata" in out


def test_a_bare_metadata_archive_is_read_too(tmp_path: Path,
                                             make_bundle: Callable[..., Bundle]) -> None:
    path = tmp_path / "metadata.zip"
    path.write_bytes(zip_bytes(make_bundle().metadata()))
    depot = read_bundle(path)
    assert depot.is_bare_metadata and len(depot.profiles) == 3
    assert depot.profiles[0].member == "profiles/ESXi-6.5.0-20170701001s-standard"


# -- broken bundles: one line, file and member, exit 2 -----------------------------------------


def _bad(path: Path, *expected: str) -> str:
    with pytest.raises(DepotError) as info:
        read_bundle(path)
    message = str(info.value)
    for text in expected:
        assert text in message, (text, message)
    code, out, err = cli(str(path))
    assert code == 2 and out == ""
    assert err.strip() == message, err
    assert "\n" not in err.strip()
    return message


def test_not_a_zip(tmp_path: Path) -> None:
    path = tmp_path / "notes.zip"
    path.write_text("ESXi-6.5.0-20170702001-standard\n")
    _bad(path, f"{path}: is not a ZIP archive")


def test_missing_file_and_directory(tmp_path: Path) -> None:
    _bad(tmp_path / "nope.zip", "nope.zip: no such file")
    _bad(tmp_path, "is a directory")


def test_zip_without_index(tmp_path: Path) -> None:
    path = tmp_path / "photos.zip"
    path.write_bytes(zip_bytes({"a.jpg": b"x", "docs/readme.txt": "hi"}))
    _bad(path, "index.xml: missing", "this ZIP holds: a.jpg, docs")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda b: b.extra_outer.update({"index.xml": "<vendorList><vendor>"}),
         ["index.xml: malformed XML: no element found"]),
        (lambda b: b.extra_outer.update({"index.xml": "<vendorList/>"}),
         ["index.xml: lists no <vendor> with an <indexfile>"]),
        (lambda b: setattr(b, "drop_outer", ("vendor-index.xml",)),
         ["vendor-index.xml: missing: index.xml names it as the index of vendor VMware"]),
        (lambda b: b.extra_outer.update({"vendor-index.xml": "<metaList><metadata/></metaList>"}),
         ["vendor-index.xml: lists no <metadata> with a <url>"]),
        (lambda b: setattr(b, "drop_outer", ("metadata.zip",)),
         ["metadata.zip: missing: vendor-index.xml names it (<url>metadata.zip</url>)"]),
        (lambda b: b.extra_outer.update({"metadata.zip": b"PK\x03\x04 not really"}),
         ["metadata.zip: is not a ZIP archive (the metadata archive must be a ZIP"]),
        (lambda b: setattr(b, "urls", ["https://depot.example.test/metadata.zip"]),
         ["vendor-index.xml: points outside the bundle", "fetches nothing"]),
        (lambda b: setattr(b, "urls", ["../../metadata.zip"]),
         ["vendor-index.xml: refers to '../../metadata.zip', which is outside the bundle"]),
        (lambda b: b.profiles.update({"profiles/broken": "<imageProfile><name>x</name>"}),
         ["metadata.zip:profiles/broken: malformed XML: no element found (line 1"]),
        (lambda b: b.profiles.update({"profiles/wrong": "<bulletin><id>x</id></bulletin>"}),
         ["metadata.zip:profiles/wrong: root element is <bulletin>, expected <imageProfile>"]),
        (lambda b: b.profiles.update({"profiles/nolevel": profile_xml("p1", ESX65U1_VIBS).replace(
            "<acceptancelevel>partner</acceptancelevel>", "")}),
         ["metadata.zip:profiles/nolevel: profile 'p1' has no <acceptancelevel>"]),
        (lambda b: b.profiles.update({"profiles/odd": profile_xml("p2", [], level="trusted")}),
         ["<acceptancelevel> 'trusted' is not an acceptance level; allowed: certified "
          "(VMwareCertified), accepted (VMwareAccepted), partner (PartnerSupported), "
          "community (CommunitySupported)"]),
        (lambda b: b.profiles.update({"profiles/novendor": profile_xml("p3", []).replace(
            "<creator>VMware, Inc.</creator>", "")}),
         ["profile 'p3' has no <creator> (its vendor)"]),
        (lambda b: b.profiles.update({"profiles/vib": profile_xml("p4", []).replace(
            "<viblist></viblist>", "<viblist><vib><vib-id> </vib-id></vib></viblist>")}),
         ["profile 'p4': <vib> number 1 of <viblist> has no <vib-id>"]),
        (lambda b: b.profiles.update({"profiles/time": profile_xml("p5", [], created="July")}),
         ["<creationtime> 'July' is not an ISO 8601 time"]),
    ],
    ids=["index-malformed", "index-no-vendor", "vendor-index-missing", "vendor-index-no-url",
         "metadata-missing", "metadata-not-zip", "url-outside", "path-escape",
         "profile-malformed", "profile-not-a-profile", "profile-no-level", "profile-bad-level",
         "profile-no-vendor", "profile-empty-vib-id", "profile-bad-time"],
)
def test_broken_bundle(make_bundle: Callable[..., Bundle], change: Callable[[Bundle], None],
                       expected: list[str]) -> None:
    b = make_bundle()
    change(b)
    _bad(b.write(), *expected)


def test_entities_are_refused_not_expanded(make_bundle: Callable[..., Bundle]) -> None:
    laughs = ('<?xml version="1.0"?><!DOCTYPE p [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;">]>'
              "<imageProfile><name>&b;</name></imageProfile>")
    external = ('<?xml version="1.0"?><!DOCTYPE p [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                "<imageProfile><name>&x;</name></imageProfile>")
    for doc in (laughs, external):
        b = make_bundle()
        b.profiles["profiles/evil"] = doc
        _bad(b.write(), "metadata.zip:profiles/evil: has a DOCTYPE/entity declaration")


def test_sizes_are_bounded(make_bundle: Callable[..., Bundle],
                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A zip bomb is refused from the size it declares, before anything is unpacked."""
    b = make_bundle()
    b.profiles["profiles/huge"] = profile_xml("huge", ESX65U1_VIBS,
                                              description=" " * 4096)
    path = b.write()
    monkeypatch.setattr(bundle_module, "MAX_PROFILE_BYTES", 2048)
    _bad(path, "metadata.zip:profiles/huge: is ", "bytes uncompressed, more than the 2048 "
         "bytes allowed")
    monkeypatch.setattr(bundle_module, "MAX_METADATA_BYTES", 100)
    _bad(path, "metadata.zip: is ", "more than the 100 bytes allowed")


def test_damaged_member(tmp_path: Path, make_bundle: Callable[..., Bundle]) -> None:
    data = bytearray(zip_bytes({**make_bundle().metadata()}, stored=True))
    at = data.find(b"<name>ESXi-6.5.0-20170702001-standard</name>")
    data[at + 7] ^= 0x20  # one flipped bit in a stored member: its CRC no longer matches
    path = tmp_path / "metadata.zip"
    path.write_bytes(bytes(data))
    _bad(path, "profiles/ESXi-6.5.0-20170702001-standard: is damaged: Bad CRC-32")


def _outcome(path: Path) -> str:
    try:
        depot = read_bundle(path)
    except DepotError as exc:
        return str(exc)
    return f"{path}: {len(depot.profiles)} profiles"


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.data_too_large])
@given(st.data())
def test_mangled_bundles_never_escape_as_other_errors(tmp_path_factory: pytest.TempPathFactory,
                                                      data: st.DataObject) -> None:
    """Whatever the bytes (members stored, so damage reaches headers, the nested ZIP and the
    XML), the reader returns profiles or raises DepotError naming the file."""
    root = tmp_path_factory.mktemp("fuzz")
    b = Bundle(root)
    raw = bytearray(zip_bytes({
        "index.xml": INDEX_XML.format(vendor="VMware", code="vmw", indexfile="vendor-index.xml",
                                      relative=""),
        "vendor-index.xml": b.vendor_index(),
        "metadata.zip": zip_bytes(b.metadata(), stored=True)}, stored=True))
    for _ in range(data.draw(st.integers(1, 8))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    path = root / "mangled.zip"
    path.write_bytes(bytes(raw[:data.draw(st.integers(len(raw) // 2, len(raw)))]))
    assert _outcome(path).startswith(str(path))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mangled_profiles_never_escape_as_other_errors(tmp_path_factory: pytest.TempPathFactory,
                                                       data: st.DataObject) -> None:
    """Damaged profile documents inside an intact archive: DepotError or a listing, nothing
    else."""
    root = tmp_path_factory.mktemp("fuzz")
    members = Bundle(root).metadata()
    name = data.draw(st.sampled_from(sorted(n for n in members if n.startswith("profiles/"))))
    text = bytearray(str(members[name]).encode())
    for _ in range(data.draw(st.integers(1, 5))):
        text[data.draw(st.integers(0, len(text) - 1))] = data.draw(st.integers(0, 255))
    members[name] = bytes(text)
    path = root / "metadata.zip"
    path.write_bytes(zip_bytes(members))
    assert _outcome(path).startswith(str(path))

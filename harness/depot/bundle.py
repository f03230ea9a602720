"""Read an ESXi offline bundle (depot ZIP) the way esxcli does, without unpacking it to disk.

index.xml names each vendor's vendor-index.xml, which names the metadata archive(s)
(`metadata.zip`); that nested ZIP is read in memory and holds `profiles/*` (image profiles),
`vibs/*`, `bulletins/*` and `vmware.xml`. Every read is bounded, member paths may not leave the
bundle, nothing is fetched from URLs, and XML is parsed without a DTD (safexml). Any problem is a
DepotError naming the bundle and the member.
"""

from __future__ import annotations

import io
import posixpath
import re
import xml.etree.ElementTree as ET
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from harness.depot.errors import DepotError
from harness.depot.index import IndexFormatError, MetadataEntry, parse_index, parse_vendor_index
from harness.depot.profile import ImageProfile, ProfileFormatError, parse_image_profile
from harness.depot.safexml import XmlError, parse_xml

MiB = 1 << 20
MAX_INDEX_BYTES = 1 * MiB  # index.xml, vendor-index.xml: a few hundred bytes in practice
MAX_METADATA_BYTES = 128 * MiB  # metadata.zip of an ESXi 8 depot: a few MiB
MAX_PROFILE_BYTES = 16 * MiB  # one profile lists a few hundred VIB ids
MAX_XML_TOTAL = 256 * MiB  # all XML read from one bundle
MAX_MEMBERS = 100_000

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


@dataclass(frozen=True)
class MetadataArchive:
    """One metadata archive of the bundle and what vendor-index.xml says it is for."""

    member: str
    product_id: str
    version: str
    profile_count: int
    vib_count: int  # vibs/* documents: the VIBs the depot carries


@dataclass(frozen=True)
class DepotBundle:
    """What an offline bundle offers."""

    path: Path
    vendors: tuple[str, ...]
    metadata: tuple[MetadataArchive, ...]
    profiles: tuple[ImageProfile, ...]  # sorted by name

    @property
    def is_bare_metadata(self) -> bool:
        """True when the file is itself a metadata archive (no index.xml)."""
        return not self.vendors

    def to_dict(self) -> dict[str, object]:
        """The `--json` form."""
        return {
            "file": str(self.path),
            "vendors": list(self.vendors),
            "metadata": [
                {"member": m.member, "product_id": m.product_id, "version": m.version,
                 "profiles": m.profile_count, "vibs": m.vib_count}
                for m in self.metadata
            ],
            "profiles": [p.to_dict() for p in self.profiles],
        }


def _normal(name: str) -> str:
    return posixpath.normpath(name.replace("\\", "/")).lstrip("/")


class _Archive:
    """One ZIP (the bundle, or a metadata archive inside it) with members found by name."""

    def __init__(self, bundle: Path, zf: zipfile.ZipFile, prefix: str) -> None:
        self.zf = zf
        self.prefix = prefix
        infos = zf.infolist()
        if len(infos) > MAX_MEMBERS:
            raise DepotError(bundle, prefix.rstrip(":") or None,
                             f"has {len(infos)} members, more than the {MAX_MEMBERS} allowed")
        self.members: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            if info.filename and not info.filename.endswith("/"):
                self.members.setdefault(_normal(info.filename), info)
        self._folded: dict[str, str] = {}
        for name in self.members:
            self._folded.setdefault(name.lower(), name)

    def label(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def find(self, name: str) -> str | None:
        """The member called `name` (exact, else ignoring case, as Windows-made zips vary)."""
        name = _normal(name)
        if name in self.members:
            return name
        return self._folded.get(name.lower())

    def top_level(self) -> list[str]:
        return sorted({name.split("/", 1)[0] for name in self.members})


class _Reader:
    """Bounded reads from one bundle, with a budget for all XML read."""

    def __init__(self, bundle: Path) -> None:
        self.bundle = bundle
        self.xml_bytes = 0

    def fail(self, member: str | None, problem: str) -> DepotError:
        return DepotError(self.bundle, member, problem)

    def read(self, archive: _Archive, name: str, limit: int) -> bytes:
        info = archive.members[name]
        label = archive.label(name)
        too_big = f"more than the {limit} bytes allowed for it; refusing to read it"
        if info.file_size > limit:
            raise self.fail(label, f"is {info.file_size} bytes uncompressed, {too_big}")
        try:
            with archive.zf.open(info) as fh:
                data = fh.read(limit + 1)
        except RuntimeError as exc:  # zipfile's way of saying "encrypted"
            raise self.fail(label, f"cannot be read: {exc}") from None
        except NotImplementedError as exc:
            raise self.fail(label, f"uses a compression this reader cannot unpack ({exc})"
                            ) from None
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            raise self.fail(label, f"is damaged: {exc}") from None
        if len(data) > limit:
            raise self.fail(label, f"unpacks to {too_big}")
        return data

    def xml(self, archive: _Archive, name: str, limit: int) -> ET.Element:
        data = self.read(archive, name, limit)
        self.xml_bytes += len(data)
        if self.xml_bytes > MAX_XML_TOTAL:
            raise self.fail(archive.label(name), f"the bundle's XML adds up to more than "
                            f"{MAX_XML_TOTAL} bytes; refusing to read further")
        try:
            return parse_xml(data)
        except XmlError as exc:
            raise self.fail(archive.label(name), str(exc)) from None

    def resolve(self, base_dir: str, ref: str, named_in: str) -> str:
        """A member path from a reference inside the bundle; never a URL, never outside."""
        if _SCHEME.match(ref):
            raise self.fail(named_in, f"points outside the bundle ({ref!r}); an offline bundle "
                            "carries its metadata inside the ZIP, and this tool fetches nothing")
        joined = posixpath.normpath(posixpath.join(base_dir, ref.replace("\\", "/").lstrip("/")))
        if joined == ".." or joined.startswith("../"):
            raise self.fail(named_in, f"refers to {ref!r}, which is outside the bundle")
        return joined


def _open_zip(reader: _Reader, data: bytes | Path, member: str | None) -> zipfile.ZipFile:
    source = io.BytesIO(data) if isinstance(data, bytes) else data
    what = ("the metadata archive must be a ZIP holding profiles/, vibs/ and vmware.xml"
            if member else "an offline bundle is a .zip with index.xml, vendor-index.xml and "
            "metadata.zip at its top level")
    try:
        return zipfile.ZipFile(source)
    except zipfile.BadZipFile:
        raise reader.fail(member, f"is not a ZIP archive ({what})") from None
    except (NotImplementedError, ValueError, EOFError, OverflowError) as exc:
        raise reader.fail(member, f"is a ZIP archive this reader cannot open ({exc})") from None
    except OSError as exc:
        raise reader.fail(member, f"cannot be read: {exc.strerror or exc}") from None


def _metadata_paths(reader: _Reader, outer: _Archive, index_name: str
                    ) -> tuple[list[str], dict[str, MetadataEntry], list[str]]:
    """Follow index.xml -> vendor-index.xml: the metadata archives and the vendors."""
    try:
        vendors = parse_index(reader.xml(outer, index_name, MAX_INDEX_BYTES))
    except IndexFormatError as exc:
        raise reader.fail(index_name, str(exc)) from None
    paths: list[str] = []
    entries: dict[str, MetadataEntry] = {}
    for vendor in vendors:
        wanted = reader.resolve(vendor.relative_path, vendor.index_file, index_name)
        found = outer.find(wanted)
        if found is None:
            raise reader.fail(wanted, f"missing: index.xml names it as the index of vendor "
                              f"{vendor.name or vendor.code or '?'}")
        try:
            metadata = parse_vendor_index(reader.xml(outer, found, MAX_INDEX_BYTES))
        except IndexFormatError as exc:
            raise reader.fail(found, str(exc)) from None
        for entry in metadata:
            target = reader.resolve(posixpath.dirname(found), entry.url, found)
            member = outer.find(target)
            if member is None:
                raise reader.fail(target, f"missing: {found} names it (<url>{entry.url}</url>) "
                                  "as the metadata archive")
            if member not in entries:
                paths.append(member)
                entries[member] = entry
    return paths, entries, [v.name or v.code for v in vendors]


def _profiles_of(reader: _Reader, archive: _Archive) -> tuple[list[ImageProfile], int]:
    profiles: list[ImageProfile] = []
    vibs = 0
    for name in sorted(archive.members):
        folder, _, base = name.lower().rpartition("/")
        if base.startswith("."):
            continue  # .DS_Store and friends
        if folder == "vibs":
            vibs += 1
        if folder != "profiles":
            continue
        root = reader.xml(archive, name, MAX_PROFILE_BYTES)
        try:
            profiles.append(parse_image_profile(root, archive.label(name)))
        except ProfileFormatError as exc:
            raise reader.fail(archive.label(name), str(exc)) from None
    return profiles, vibs


def read_bundle(path: Path | str) -> DepotBundle:
    """The image profiles (and what else the metadata says) of an offline bundle.

    A ZIP without index.xml that holds profiles/ or vmware.xml is read as a bare metadata
    archive (someone unpacked one level already).

    Raises:
        DepotError: the file, the member and what is wrong with it.
    """
    path = Path(path)
    reader = _Reader(path)
    if path.is_dir():
        raise reader.fail(None, "is a directory, not an offline bundle (.zip)")
    if not path.exists():
        raise reader.fail(None, "no such file")
    with _open_zip(reader, path, None) as zf:
        outer = _Archive(path, zf, "")
        index_name = outer.find("index.xml")
        if index_name is None:
            if outer.find("vmware.xml") is None and not any(
                    n.lower().startswith("profiles/") for n in outer.members):
                shown = ", ".join(outer.top_level()[:8]) or "nothing"
                raise reader.fail("index.xml", "missing: an ESXi offline bundle has index.xml "
                                  f"at its top level (this ZIP holds: {shown})")
            profiles, vibs = _profiles_of(reader, outer)
            archives = [MetadataArchive(path.name, "", "", len(profiles), vibs)]
            vendors: list[str] = []
        else:
            paths, entries, vendors = _metadata_paths(reader, outer, index_name)
            profiles = []
            archives = []
            for member in paths:
                data = reader.read(outer, member, MAX_METADATA_BYTES)
                with _open_zip(reader, data, member) as nested:
                    found, vibs = _profiles_of(reader, _Archive(path, nested, f"{member}:"))
                profiles.extend(found)
                entry = entries[member]
                archives.append(MetadataArchive(member, entry.product_id, entry.version,
                                                len(found), vibs))
    unique: dict[tuple[str, str | None], ImageProfile] = {}
    for profile in profiles:  # several metadata archives may carry the same profile
        unique.setdefault((profile.name, profile.profile_id), profile)
    return DepotBundle(path, tuple(vendors), tuple(archives),
                       tuple(sorted(unique.values(), key=lambda p: (p.name, p.member))))

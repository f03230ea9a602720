"""Image profiles: the `profiles/*.xml` documents of a depot's metadata archive.

An image profile names a set of VIBs that together make one ESXi image (the thing
`esxcli software profile update -p NAME --allow-downgrades` installs). The document, as VMware's
image tools write it::

    <imageProfile>
      <name>ESXi-6.5.0-20170702001-standard</name>
      <creator>VMware, Inc.</creator>              shown as "Vendor" by esxcli and PowerCLI
      <profileID>...</profileID>
      <creationtime>2017-07-20T10:42:32.361318+00:00</creationtime>
      <description>...</description>
      <acceptancelevel>partner</acceptancelevel>   certified | accepted | partner | community
      <viblist><vib><vib-id>VMware_bootbank_esx-base_6.5.0-1.26.5969303</vib-id></vib>...</viblist>
    </imageProfile>
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime

from harness.depot.safexml import child, children, local_name, text_of

# The XML stores the short form; esxcli, PowerCLI and the docs show the long one.
ACCEPTANCE_LEVELS = {
    "certified": "VMwareCertified",
    "accepted": "VMwareAccepted",
    "partner": "PartnerSupported",
    "community": "CommunitySupported",
}
_BY_DISPLAY = {v.lower(): v for v in ACCEPTANCE_LEVELS.values()}


class ProfileFormatError(ValueError):
    """An image profile document that is not a usable profile."""


@dataclass(frozen=True)
class ImageProfile:
    """One image profile as esxcli lists it."""

    name: str
    vendor: str
    acceptance_level: str  # VMwareCertified | VMwareAccepted | PartnerSupported | ...
    vib_ids: tuple[str, ...]
    created: datetime | None = None
    modified: datetime | None = None
    description: str | None = None
    profile_id: str | None = None
    member: str = ""  # where it was found: metadata.zip:profiles/x.xml

    @property
    def vib_count(self) -> int:
        return len(self.vib_ids)

    def to_dict(self) -> dict[str, str | int | None]:
        """The `--json` form (VIB ids left out: the count is what a reader compares)."""
        return {
            "name": self.name, "vendor": self.vendor, "acceptance_level": self.acceptance_level,
            "vib_count": self.vib_count,
            "created": self.created.isoformat() if self.created else None,
            "modified": self.modified.isoformat() if self.modified else None,
            "description": self.description, "profile_id": self.profile_id,
            "member": self.member,
        }


def acceptance_level(value: str) -> str:
    """`partner` or `PartnerSupported` -> `PartnerSupported`.

    Raises:
        ProfileFormatError: any other value (the four levels are the whole set).
    """
    key = value.strip().lower()
    level = ACCEPTANCE_LEVELS.get(key) or _BY_DISPLAY.get(key)
    if level is None:
        allowed = ", ".join(f"{k} ({v})" for k, v in ACCEPTANCE_LEVELS.items())
        raise ProfileFormatError(f"<acceptancelevel> {value!r} is not an acceptance level; "
                                 f"allowed: {allowed}")
    return level


def _time(element: ET.Element, name: str) -> datetime | None:
    text = text_of(element, name)
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise ProfileFormatError(f"<{name}> {text!r} is not an ISO 8601 time") from None


def parse_image_profile(root: ET.Element, member: str = "") -> ImageProfile:
    """An ImageProfile from a parsed `profiles/*.xml` document.

    Raises:
        ProfileFormatError: not an `<imageProfile>`, or name, vendor, acceptance level or a
            VIB id missing.
    """
    if local_name(root.tag) != "imageprofile":
        raise ProfileFormatError(f"root element is <{local_name(root.tag)}>, expected "
                                 "<imageProfile>")
    name = text_of(root, "name")
    if name is None:
        raise ProfileFormatError("<imageProfile> has no <name>")
    vendor = text_of(root, "creator") or text_of(root, "vendor")
    if vendor is None:
        raise ProfileFormatError(f"profile {name!r} has no <creator> (its vendor)")
    level = text_of(root, "acceptancelevel")
    if level is None:
        raise ProfileFormatError(f"profile {name!r} has no <acceptancelevel>")
    vib_ids: list[str] = []
    viblist = child(root, "viblist")
    for i, vib in enumerate(children(viblist, "vib") if viblist is not None else [], start=1):
        vib_id = text_of(vib, "vib-id")
        if vib_id is None:
            raise ProfileFormatError(f"profile {name!r}: <vib> number {i} of <viblist> has no "
                                     "<vib-id>")
        if vib_id not in vib_ids:
            vib_ids.append(vib_id)
    description = text_of(root, "description")
    return ImageProfile(
        name=name, vendor=vendor, acceptance_level=acceptance_level(level),
        vib_ids=tuple(vib_ids), created=_time(root, "creationtime"),
        modified=_time(root, "modifiedtime"),
        description=" ".join(description.split()) if description else None,
        profile_id=text_of(root, "profileid"), member=member,
    )

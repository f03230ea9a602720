"""The two index files of an offline depot: `index.xml` (vendors) and `vendor-index.xml`
(metadata archives).

Layout, as VMware's tools and vendors write it (VIB2ZIP, ESXi-Customizer, PowerCLI exports)::

    index.xml          <vendorList><vendor><name/><code/><indexfile>vendor-index.xml</indexfile>
                       <relativePath/>...</vendor></vendorList>
    vendor-index.xml   <metaList|metadataList><metadata><productId>embeddedEsx</productId>
                       <version>6.5.0</version><url>metadata.zip</url>...</metadata></...>

Parsers take a parsed document and never open anything.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from harness.depot.safexml import children, text_of


class IndexFormatError(ValueError):
    """An index document without the entries a depot needs."""


@dataclass(frozen=True)
class VendorEntry:
    """One `<vendor>` of index.xml."""

    name: str
    code: str
    index_file: str  # vendor-index path, relative to relative_path
    relative_path: str


@dataclass(frozen=True)
class MetadataEntry:
    """One `<metadata>` of vendor-index.xml: where a metadata archive is and what it is for."""

    url: str  # relative to the vendor-index file
    product_id: str
    version: str


def parse_index(root: ET.Element) -> list[VendorEntry]:
    """The vendors of index.xml.

    Raises:
        IndexFormatError: no `<vendor>` with an `<indexfile>`.
    """
    vendors = [
        VendorEntry(
            name=text_of(v, "name") or "", code=text_of(v, "code") or "",
            index_file=text_of(v, "indexfile") or "",
            relative_path=text_of(v, "relativepath") or "",
        )
        for v in children(root, "vendor")
    ]
    found = [v for v in vendors if v.index_file]
    if not found:
        raise IndexFormatError(
            "lists no <vendor> with an <indexfile> (expected <vendorList><vendor><indexfile>"
            "vendor-index.xml</indexfile></vendor></vendorList>)")
    return found


def parse_vendor_index(root: ET.Element) -> list[MetadataEntry]:
    """The metadata archives of a vendor-index.xml.

    Raises:
        IndexFormatError: no `<metadata>` with a `<url>`.
    """
    entries = [
        MetadataEntry(url=text_of(m, "url") or "", product_id=text_of(m, "productid") or "",
                      version=text_of(m, "version") or "")
        for m in children(root, "metadata")
    ]
    found = [e for e in entries if e.url]
    if not found:
        raise IndexFormatError(
            "lists no <metadata> with a <url> (expected <metaList><metadata><url>metadata.zip"
            "</url></metadata></metaList>)")
    return found

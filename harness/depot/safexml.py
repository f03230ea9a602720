"""Parse depot XML with expat, refusing DTDs so no entity (internal or external) is ever expanded.

Bundles come from vendors, download mirrors and colleagues' shares. A document type declaration
is the only way to declare entities (billion laughs, external files), and no depot document needs
one, so we refuse it outright instead of trusting expansion limits.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import NoReturn
from xml.parsers import expat


class XmlError(ValueError):
    """The bytes are not a well-formed XML document we are willing to parse."""


def _refuse_dtd(*_args: object) -> NoReturn:
    raise XmlError("has a DOCTYPE/entity declaration; depot metadata never needs one, so it is "
                   "refused (it could expand entities)")


def parse_xml(data: bytes) -> ET.Element:
    """The root element of one XML document.

    Raises:
        XmlError: malformed XML, no root element, or a DTD.
    """
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate()
    parser.buffer_text = True
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse_dtd
    parser.EntityDeclHandler = _refuse_dtd
    parser.ExternalEntityRefHandler = _refuse_dtd
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        reason = expat.ErrorString(exc.code) if exc.code is not None else str(exc)
        raise XmlError(f"malformed XML: {reason} (line {exc.lineno}, column {exc.offset + 1})"
                       ) from None
    root = builder.close()
    if not isinstance(root, ET.Element):  # pragma: no cover - expat rejects a rootless document
        raise XmlError("malformed XML: no root element")
    return root


def local_name(tag: object) -> str:
    """`{ns}imageProfile` or `ns:imageProfile` -> `imageprofile`: depot tags vary in case and
    namespace between VMware, vendor and community tools."""
    text = str(tag)
    return text.rsplit("}", 1)[-1].rsplit(":", 1)[-1].lower()


def child(element: ET.Element, name: str) -> ET.Element | None:
    """The first direct child called `name` (case-insensitive, namespace ignored)."""
    for item in element:
        if local_name(item.tag) == name:
            return item
    return None


def children(element: ET.Element, name: str) -> list[ET.Element]:
    """Every direct child called `name` (case-insensitive, namespace ignored)."""
    return [item for item in element if local_name(item.tag) == name]


def text_of(element: ET.Element, name: str) -> str | None:
    """Stripped text of the first child `name`; None when the child is absent or empty."""
    found = child(element, name)
    if found is None:
        return None
    text = "".join(found.itertext()).strip()
    return text or None

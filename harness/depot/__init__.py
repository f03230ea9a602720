"""ESXi offline bundles (depot ZIPs): list their image profiles without unpacking by hand (F13).

Picking the image profile to downgrade a host that was patched past its vCenter (F08) meant
opening a ZIP inside a ZIP; `read_bundle` does it safely and `labharness depot profiles` prints it.
"""

from harness.depot.bundle import DepotBundle, MetadataArchive, read_bundle
from harness.depot.errors import DepotError
from harness.depot.profile import ACCEPTANCE_LEVELS, ImageProfile

__all__ = [
    "ACCEPTANCE_LEVELS",
    "DepotBundle",
    "DepotError",
    "ImageProfile",
    "MetadataArchive",
    "read_bundle",
]

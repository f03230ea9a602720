"""Facts: typed, immutable records of what was read from a lab (vCenter, BMCs, the wire).

The layer between the lab model and everything that talks to a lab: drivers and probes fill
these records, checks read them. Nothing here imports a transport (pyVmomi, Redfish, scapy).
"""

from typing import Any

JsonValue = str | int | float | bool | None | list[Any] | dict[str, Any]
"""A value that goes into evidence and summary.json as it is."""

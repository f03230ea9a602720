"""vSphere driver: one pyVmomi session per vCenter, facts in one PropertyCollector call, and
each host's own view through esxcli over the same session.

`VsphereDriver` is the entry point (see driver.py); facts are typed records
(harness.facts.vsphere, harness.facts.esxcli); every failure is a `VsphereError` (errors.py).
"""

from harness.drivers.vsphere.connection import VsphereConnection
from harness.drivers.vsphere.driver import PerHost, PingBatch, VsphereDriver
from harness.drivers.vsphere.errors import (
    DisruptiveOperationRefused,
    VsphereAuthError,
    VsphereConfigError,
    VsphereConnectionError,
    VsphereError,
    VsphereFaultError,
    VsphereHostUnreachableError,
    VsphereInvalidRequestError,
    VsphereNotFoundError,
    VspherePermissionError,
    VsphereTaskError,
    VsphereTimeoutError,
    VsphereTlsError,
)
from harness.drivers.vsphere.esxcli import EsxcliError, EsxcliNotFoundError
from harness.drivers.vsphere.operations import NtpState, PolicyPatch
from harness.facts.vsphere import DEFAULT_OPTION_KEYS, ClockOffset, NetworkHintFacts, Snapshot

__all__ = [
    "DEFAULT_OPTION_KEYS",
    "ClockOffset",
    "DisruptiveOperationRefused",
    "EsxcliError",
    "EsxcliNotFoundError",
    "NetworkHintFacts",
    "NtpState",
    "PerHost",
    "PingBatch",
    "PolicyPatch",
    "Snapshot",
    "VsphereAuthError",
    "VsphereConfigError",
    "VsphereConnection",
    "VsphereConnectionError",
    "VsphereDriver",
    "VsphereError",
    "VsphereFaultError",
    "VsphereHostUnreachableError",
    "VsphereInvalidRequestError",
    "VsphereNotFoundError",
    "VspherePermissionError",
    "VsphereTaskError",
    "VsphereTimeoutError",
    "VsphereTlsError",
]

"""Redfish driver for HPE iLO 4 and iLO 5, on DMTF python-redfish-library.

`RedfishBmc` is one session (login/logout, typed errors, If-Match, request count); `read_server`
walks one BMC into `ServerFacts`; `restart`/`power_cycle` reset and wait for FinishedPost;
`apply_settings`/`remediate` write Settings objects and verify them after the reset.
"""

from harness.drivers.redfish.client import RedfishBmc, Reply, RequestLog
from harness.drivers.redfish.errors import (
    InvalidStateError,
    PreconditionFailedError,
    PropertyNotWritableError,
    PropertyUnknownError,
    PropertyValueError,
    RedfishAuthError,
    RedfishConnectionError,
    RedfishError,
    RedfishPayloadError,
    RedfishRequestError,
    RemediationRefused,
    ResetTimeoutError,
    ResourceMissingError,
    SettingsNotAppliedError,
)
from harness.drivers.redfish.power import PowerCycleUnsupported, power_cycle, restart
from harness.drivers.redfish.settings import ApplyResult, apply_settings, remediate
from harness.drivers.redfish.walk import read_server
from harness.facts.redfish import (
    AdapterFacts,
    BiosFacts,
    FixPlan,
    FunctionFacts,
    PortFacts,
    PowerFacts,
    RedfishMessage,
    ServerFacts,
    SettingsChange,
    SettingsState,
)

__all__ = [
    "AdapterFacts",
    "ApplyResult",
    "BiosFacts",
    "FixPlan",
    "FunctionFacts",
    "InvalidStateError",
    "PortFacts",
    "PowerCycleUnsupported",
    "PowerFacts",
    "PreconditionFailedError",
    "PropertyNotWritableError",
    "PropertyUnknownError",
    "PropertyValueError",
    "RedfishAuthError",
    "RedfishBmc",
    "RedfishConnectionError",
    "RedfishError",
    "RedfishMessage",
    "RedfishPayloadError",
    "RedfishRequestError",
    "RemediationRefused",
    "Reply",
    "RequestLog",
    "ResetTimeoutError",
    "ResourceMissingError",
    "ServerFacts",
    "SettingsChange",
    "SettingsNotAppliedError",
    "SettingsState",
    "apply_settings",
    "power_cycle",
    "read_server",
    "remediate",
    "restart",
]

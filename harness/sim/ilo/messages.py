"""Redfish messages the emulator reports, with the registry versions each iLO generation uses.

Messages are named `Prefix:Key` inside the emulator and versioned only on the wire (iLO 5 2.x:
`Base.1.10.PropertyUnknown`, `iLO.2.14.SystemResetRequired`; iLO 4: `Base.0.10.*`, `iLO.0.10.*`),
so clients that match on the last segment work on both. Like real iLO, bodies carry MessageId
and MessageArgs only; the text is in the registries the emulator serves.
"""

from __future__ import annotations

from typing import Any

VERSIONS = {"ilo5": {"Base": "1.10", "iLO": "2.14"}, "ilo4": {"Base": "0.10", "iLO": "0.10"}}

# Prefix:Key -> (message text, number of args, severity)
MESSAGES: dict[str, tuple[str, int, str]] = {
    "Base:Success": ("Successfully Completed Request", 0, "OK"),
    "Base:Created": ("The resource has been created successfully", 0, "OK"),
    "Base:PropertyValueNotInList": (
        "The value %1 for the property %2 is not in the list of acceptable values.", 2, "Warning"),
    "Base:PropertyValueTypeError": (
        "The value %1 for the property %2 is of a different type than the property can accept.",
        2, "Warning"),
    "Base:PropertyUnknown": (
        "The property %1 is not in the list of valid properties for the resource.", 1, "Warning"),
    "Base:PropertyNotWritable": (
        "The property %1 is a read only property and cannot be assigned a value.", 1, "Warning"),
    "Base:PropertyMissing": (
        "The property %1 is a required property and must be included in the request.", 1,
        "Warning"),
    "Base:MalformedJSON": ("The request body submitted was malformed JSON and could not be "
                           "parsed by the receiving service.", 0, "Critical"),
    "Base:NoValidSession": (
        "There is no valid session established with the implementation.", 0, "Critical"),
    "Base:ResourceMissingAtURI": ("The resource at the URI %1 was not found.", 1, "Critical"),
    "Base:PreconditionFailed": (
        "The ETag supplied did not match the ETag required to change this resource.", 0,
        "Critical"),
    "Base:SessionLimitExceeded": (
        "The session establishment failed due to the number of simultaneous sessions exceeding "
        "the limit of the implementation.", 0, "Critical"),
    "Base:ActionParameterMissing": (
        "The action %1 requires the parameter %2 to be present in the request body.", 2,
        "Critical"),
    "Base:ActionParameterValueNotInList": (
        "The value %1 for the parameter %2 in the action %3 is not in the list of acceptable "
        "values.", 3, "Warning"),
    "iLO:SystemResetRequired": ("One or more properties were changed and will not take effect "
                                "until system is reset.", 0, "Warning"),
    "iLO:UnauthorizedLoginAttempt": ("Login failed: the user name or password is incorrect.", 0,
                                     "Critical"),
    "iLO:InvalidOperationForSystemState": (
        "The operation is not valid for the current system power state.", 0, "Warning"),
    "iLO:UnableToModifyDuringSystemPOST": (
        "The value cannot be modified while the system is in POST.", 0, "Warning"),
    "iLO:UnsupportedOperation": ("The operation is not supported on this resource.", 0,
                                 "Warning"),
    "iLO:ExtendedInfo": ("See @Message.ExtendedInfo for more information.", 0, "OK"),
}


def message_id(generation: str, name: str) -> str:
    """`Base:PropertyUnknown` -> `Base.1.10.PropertyUnknown` (per generation)."""
    prefix, key = name.split(":")
    return f"{prefix}.{VERSIONS[generation][prefix]}.{key}"


def extended_info(generation: str, name: str, args: list[str] | None = None,
                  related: str | None = None, key: str = "MessageId") -> dict[str, Any]:
    """One `@Message.ExtendedInfo` entry (iLO 4's SettingsResult spells the key `MessageID`)."""
    entry: dict[str, Any] = {key: message_id(generation, name)}
    if args:
        entry["MessageArgs"] = list(args)
    if related:
        entry["RelatedProperties"] = [f"#/{related}"]
    return entry


def body(generation: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    """iLO's message wrapper, used for errors *and* successes."""
    return {"error": {"code": message_id(generation, "iLO:ExtendedInfo"),
                      "message": MESSAGES["iLO:ExtendedInfo"][0],
                      "@Message.ExtendedInfo": items}}


def registry_id(generation: str, prefix: str) -> str:
    return f"{prefix}.{VERSIONS[generation][prefix]}.0"


def registry_document(generation: str, prefix: str, odata_id: str) -> dict[str, Any]:
    """A MessageRegistry with the messages this emulator sends under `prefix`."""
    rid = registry_id(generation, prefix)
    return {
        "@odata.id": odata_id, "@odata.type": "#MessageRegistry.v1_0_0.MessageRegistry",
        "Id": rid, "Name": f"{prefix} Message Registry", "Language": "en",
        "OwningEntity": "DMTF" if prefix == "Base" else "HPE", "RegistryPrefix": prefix,
        "RegistryVersion": rid.split(".", 1)[1],
        "Messages": {
            name.split(":")[1]: {"Description": text, "Message": text, "NumberOfArgs": nargs,
                                 "ParamTypes": ["string"] * nargs, "Severity": severity,
                                 "Resolution": "None."}
            for name, (text, nargs, severity) in MESSAGES.items()
            if name.startswith(prefix + ":")}}

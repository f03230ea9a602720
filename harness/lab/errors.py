"""Turn pydantic validation errors into located, readable problems.

pydantic says *what* is wrong at a data path; the SourceDocument knows *where* that path is in the
file. Unknown keys additionally list the keys that are allowed at that place.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterator
from typing import Any, Union

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from harness.lab.source import PathPart, Problem, SourceDocument
from harness.lab.types import PATTERN_HELP


def _unwrap(annotation: Any) -> Iterator[Any]:
    """Yield the concrete types inside Optional/Union/Annotated."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        yield from _unwrap(typing.get_args(annotation)[0])
    elif origin in (Union, types.UnionType):
        for arg in typing.get_args(annotation):
            yield from _unwrap(arg)
    else:
        yield annotation


def model_at(root: type[BaseModel], loc: tuple[PathPart, ...]) -> type[BaseModel] | None:
    """The model class that validates the mapping at `loc`, following dict/list containers."""
    current: Any = root
    for part in loc:
        model = _as_model(current)
        if model is not None:
            field = model.model_fields.get(str(part))
            if field is None:
                return None
            current = field.annotation
            continue
        item = None  # a container: the key or index `part` selects one of its values
        for candidate in _unwrap(current):
            origin = typing.get_origin(candidate)
            if origin is dict:
                item = typing.get_args(candidate)[1]
            elif origin is list:
                item = typing.get_args(candidate)[0]
        if item is None:
            return None
        current = item
    return _as_model(current)


def _as_model(annotation: Any) -> type[BaseModel] | None:
    for candidate in _unwrap(annotation):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing (null)"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _message(root: type[BaseModel], error: ErrorDetails) -> str:
    kind = error["type"]
    loc = tuple(error["loc"])
    if kind == "extra_forbidden":
        parent = model_at(root, loc[:-1])
        fields = list(parent.model_fields) if parent else []
        close = difflib.get_close_matches(str(loc[-1]), fields, n=1, cutoff=0.75)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        allowed = ", ".join(fields)
        return f"unknown key {loc[-1]!r}{hint}" + (f"; allowed here: {allowed}" if allowed else "")
    if kind == "missing":
        return "required key is missing"
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return f"{_describe(error.get('input'))} is not allowed; use one of {expected}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a mapping (key: value), got {_describe(error.get('input'))}"
    if kind == "list_type":
        return f"expected a list, got {_describe(error.get('input'))}"
    msg = error["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    if kind == "string_pattern_mismatch":
        desc = PATTERN_HELP.get(str(error.get("ctx", {}).get("pattern", "")), "")
        field = model_at(root, loc[:-1])
        if not desc and field is not None and isinstance(loc[-1], str) \
                and loc[-1] in field.model_fields:
            desc = field.model_fields[loc[-1]].description or ""
        return f"{_describe(error.get('input'))} is not valid" + (f" ({desc})" if desc else "")
    if "input" in error and kind not in ("value_error", "assertion_error"):
        return f"{msg} (got {_describe(error['input'])})"
    return msg


def problems_from_validation(
    doc: SourceDocument,
    root: type[BaseModel],
    exc: ValidationError,
    base: tuple[PathPart, ...] = (),
) -> list[Problem]:
    """Every validation error of `exc`, located in `doc` and worded for a lab author."""
    problems: list[Problem] = []
    seen: set[tuple[tuple[PathPart, ...], str]] = set()
    errors = exc.errors(include_url=False)
    # A misspelt key shows up twice: as an unknown key and as the required key it was meant to
    # be. Report it once, as the typo, with the suggestion.
    missing = {tuple(e["loc"]) for e in errors if e["type"] == "missing"}
    typo_of: dict[tuple[Any, ...], str] = {}
    for e in errors:
        loc = tuple(e["loc"])
        if e["type"] == "extra_forbidden" and isinstance(loc[-1], str):
            siblings = [str(m[-1]) for m in missing if m[:-1] == loc[:-1]]
            match = difflib.get_close_matches(loc[-1], siblings, n=1, cutoff=0.6)
            if match:
                typo_of[loc] = match[0]
                missing.discard((*loc[:-1], match[0]))
    for error in errors:
        # pydantic marks an invalid mapping key with a trailing "[key]": report at the key
        is_key = error["loc"][-1:] == ("[key]",)
        loc = tuple(p for p in error["loc"] if isinstance(p, (str, int)) and p != "[key]")
        if error["type"] == "missing" and tuple(error["loc"]) not in missing:
            continue
        message = _message(root, error)
        meant = typo_of.get(tuple(error["loc"]))
        if meant is not None:
            message = message.replace(f" (did you mean {meant!r}?)", "").replace(
                ";", f" (did you mean {meant!r}, which is required?);", 1)
        path = (*base, *loc)
        if (path, message) in seen:
            continue
        seen.add((path, message))
        # unknown and invalid keys point at the key; a missing key at its owner's key line
        key = is_key or error["type"] in ("extra_forbidden", "missing")
        problems.append(doc.problem(path, message, key=key))
    return problems

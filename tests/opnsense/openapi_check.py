"""Validate OPNsense API answers against the OpenAPI spec opnsense-openapi ships for a release.

Runs in the opnsense-openapi client venv (it brings jsonschema): `python openapi_check.py
ANSWERS.json` where the file holds `{"version": "25.7", "answers": [{"path", "method",
"body"}]}`; prints one JSON object: the spec file used and, per answer, `ok`, `absent` (the
spec has no such path or method), `no-schema` (the spec gives no response schema) or
`invalid` with the validator's message.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import jsonschema
from opnsense_openapi import find_best_matching_spec


def operation(spec: dict[str, Any], path: str, method: str) -> dict[str, Any] | None:
    """The spec's operation for a concrete path: exact, or a template with one trailing
    `{param}` segment (the specs list some parameterless actions as `.../{uuid}`)."""
    paths = spec["paths"]
    item = paths.get(path)
    if item is None:
        item = next((v for k, v in paths.items()
                     if k.rsplit("/", 1)[0] == path and k.rsplit("/", 1)[1].startswith("{")),
                    None)
    return None if item is None else item.get(method.lower())


def schema_of(spec: dict[str, Any], op: dict[str, Any]) -> dict[str, Any] | None:
    content = (op.get("responses", {}).get("200", {}) or {}).get("content") or {}
    media = content.get("application/json") or {}
    # some operations put the $ref straight into the media object instead of under `schema`
    schema = media.get("schema") or ({"$ref": media["$ref"]} if "$ref" in media else None)
    if schema is None:
        return None
    return {**schema, "components": spec.get("components", {})}


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as f:
        request = json.load(f)
    path = find_best_matching_spec(request["version"])
    spec = json.loads(path.read_text(encoding="utf-8"))
    # the specs' refs are `#/components/schemas/X`: resolve them inside the wrapped schema
    results = []
    for answer in request["answers"]:
        op = operation(spec, answer["path"], answer["method"])
        if op is None:
            results.append({"path": answer["path"], "result": "absent"})
            continue
        schema = schema_of(spec, op)
        if schema is None:
            results.append({"path": answer["path"], "result": "no-schema"})
            continue
        try:
            jsonschema.validate(answer["body"], schema)
        except jsonschema.ValidationError as exc:
            results.append({"path": answer["path"], "result": "invalid",
                            "message": exc.message})
            continue
        results.append({"path": answer["path"], "result": "ok"})
    print(json.dumps({"spec": path.name, "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

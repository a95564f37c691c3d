"""Per-operation JSON schemas from MasonHub's OpenAPI document, ready for jsonschema.

The document as a whole is not valid OpenAPI, but each operation's schemas are usable JSON
Schema once two OpenAPI habits are translated:

- ``nullable: true`` becomes ``type: [<type>, "null"]``;
- ``minimum``/``maximum`` on a ``type: string`` mean a *length* there (contracts §B.3), so
  they become ``minLength``/``maxLength`` (jsonschema would otherwise ignore them on strings).

OpenAPI-only keywords (``readOnly``, ``example``…) are ignored by jsonschema as unknown keys.
The spec file is looked up at ``$MASONHUB_OPENAPI_PATH``, then ``contracts/`` in the repo,
then ``../shared/contracts/`` next to it.
"""

from __future__ import annotations

import copy
import functools
import os
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SPEC_NAME = "masonhub-openapi.yaml"


def spec_path() -> Path | None:
    """Where the MasonHub spec lives, or None when this checkout has no copy."""
    candidates = [
        os.environ.get("MASONHUB_OPENAPI_PATH"),
        REPO / "contracts" / SPEC_NAME,
        REPO.parent / "shared" / "contracts" / SPEC_NAME,
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


@functools.cache
def load_spec() -> dict[str, Any]:
    """The parsed document (skips the calling test when no copy is available)."""
    path = spec_path()
    if path is None:
        pytest.skip(f"{SPEC_NAME} not found (set MASONHUB_OPENAPI_PATH)")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with path.open(encoding="utf-8") as fh:
        doc: dict[str, Any] = yaml.load(fh, Loader=loader)
    return doc


def to_json_schema(node: Any, *, string_lengths: bool = True) -> Any:
    """Translate one OpenAPI 3.0 schema node (recursively) into plain JSON Schema."""
    if isinstance(node, list):
        return [to_json_schema(n, string_lengths=string_lengths) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: to_json_schema(v, string_lengths=string_lengths) for k, v in node.items()}
    if "properties" in node:
        # Property *names* are not schema nodes; rebuild so a property called "example"
        # or "minimum" is never mistaken for a keyword.
        out["properties"] = {
            name: to_json_schema(sub, string_lengths=string_lengths)
            for name, sub in node["properties"].items()
        }
    if out.pop("nullable", False) and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    if string_lengths and out.get("type") == "string":
        if "minimum" in out:
            out["minLength"] = out.pop("minimum")
        if "maximum" in out:
            out["maxLength"] = out.pop("maximum")
    return out


def operation(path: str, method: str) -> dict[str, Any]:
    """The raw operation object, e.g. ``operation("/rmas", "post")``."""
    op: dict[str, Any] = load_spec()["paths"][path][method.lower()]
    return op


def request_schema(path: str, method: str) -> dict[str, Any]:
    """JSON schema of an operation's application/json request body."""
    raw = operation(path, method)["requestBody"]["content"]["application/json"]["schema"]
    schema: dict[str, Any] = to_json_schema(copy.deepcopy(raw))
    return schema


def response_schema(path: str, method: str, status: str = "200") -> dict[str, Any]:
    """JSON schema of an operation's application/json response for one status."""
    content = operation(path, method)["responses"][status]["content"]
    schema: dict[str, Any] = to_json_schema(copy.deepcopy(content["application/json"]["schema"]))
    return schema


def component_schema(name: str) -> dict[str, Any]:
    """JSON schema of ``components.schemas.<name>``."""
    raw = load_spec()["components"]["schemas"][name]
    schema: dict[str, Any] = to_json_schema(copy.deepcopy(raw))
    return schema


def examples(path: str, method: str, *, request: bool = True, status: str = "200") -> list[Any]:
    """The example values the spec gives for a request body or a response."""
    op = operation(path, method)
    holder = op["requestBody"] if request else op["responses"][status]
    media = holder["content"]["application/json"]
    found = [e["value"] for e in (media.get("examples") or {}).values() if "value" in e]
    if "example" in media:
        found.append(media["example"])
    return found


def errors_of(schema: dict[str, Any], instance: Any) -> list[str]:
    """Every validation error as ``path: message`` (empty when the instance is valid)."""
    validator = jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())
    return [
        f"{'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message[:300]}"
        for e in sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.path)))
    ]


def assert_valid(schema: dict[str, Any], instance: Any, what: str = "instance") -> None:
    """Fail with every validation error listed."""
    problems = errors_of(schema, instance)
    assert not problems, f"{what} does not match the spec schema:\n  " + "\n  ".join(problems)

"""Pydantic's JSON Schema turned into a Kubernetes structural schema.

The apiserver accepts only a subset of OpenAPI v3 in a CRD: no $ref, no anyOf for optional fields, no
`additionalProperties: false` next to `properties`, and every node typed. Pydantic emits all of those,
so this walks its output and rewrites it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

# Keys a structural schema may carry that pydantic also emits; the rest (title, ...) is dropped.
_KEPT = {
    "type",
    "description",
    "default",
    "enum",
    "format",
    "pattern",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "items",
    "properties",
    "required",
    "additionalProperties",
    "anyOf",
    "x-kubernetes-validations",
    "x-kubernetes-int-or-string",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-preserve-unknown-fields",
}


def structural_schema(model: type[BaseModel]) -> dict[str, Any]:
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs: dict[str, Any] = raw.pop("$defs", {})
    return _convert(raw, defs)


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Inline a $ref; keys beside the $ref (default, description) win over the definition's."""
    if "$ref" not in node:
        return node
    target = defs[node["$ref"].rsplit("/", 1)[-1]]
    siblings = {k: v for k, v in node.items() if k != "$ref"}
    return {**_resolve(target, defs), **siblings}


def _drop_null(node: dict[str, Any]) -> dict[str, Any]:
    """`X | None` becomes X: an absent field is how the API says "unset"."""
    options = node.get("anyOf")
    if not options or not any(opt.get("type") == "null" for opt in options):
        return node
    rest = [opt for opt in options if opt.get("type") != "null"]
    outer = {k: v for k, v in node.items() if k != "anyOf"}
    if outer.get("default", ...) is None:
        del outer["default"]
    if len(rest) != 1:
        return {**outer, "anyOf": rest}
    return {**rest[0], **outer}


def _convert(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    node = _drop_null(_resolve(node, defs))
    node = _resolve(node, defs)  # an optional model is a $ref inside the anyOf
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key not in _KEPT:
            continue
        if key == "properties":
            out[key] = {name: _convert(sub, defs) for name, sub in value.items()}
        elif key == "items":
            out[key] = _convert(value, defs)
        elif key == "additionalProperties":
            if isinstance(value, dict):
                out[key] = _convert(value, defs)
            # `false` (extra="forbid") is what the apiserver's pruning already does.
        elif key == "anyOf":
            out[key] = [_strip_anyof_branch(_convert(opt, defs)) for opt in value]
        else:
            out[key] = value
    if "x-kubernetes-validations" in out:
        out["x-kubernetes-validations"] = _unique(out["x-kubernetes-validations"])
    return _ordered(out)


_FIRST = ("description", "type", "default", "required", "properties")


def _ordered(node: dict[str, Any]) -> dict[str, Any]:
    """Description, type and default first, then the rest alphabetically: a readable, stable CRD."""
    keys = [k for k in _FIRST if k in node] + sorted(k for k in node if k not in _FIRST)
    return {k: node[k] for k in keys}


def _strip_anyof_branch(branch: dict[str, Any]) -> dict[str, Any]:
    # Inside anyOf a structural schema allows only value validations, not description or defaults.
    return {k: v for k, v in branch.items() if k not in {"description", "default"}}


def _unique(rules: list[dict[str, str]]) -> list[dict[str, str]]:
    seen: list[dict[str, str]] = []
    for rule in rules:
        if rule not in seen:
            seen.append(rule)
    return seen


def walk(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every schema node with its path, for checks over the whole schema."""
    if not isinstance(node, dict):
        return []
    found = [(path, node)]
    for name, sub in node.get("properties", {}).items():
        found += walk(sub, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        found += walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        found += walk(node["additionalProperties"], f"{path}{{}}")
    return found

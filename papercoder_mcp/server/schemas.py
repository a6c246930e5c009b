"""Tool schemas as the client sees them: short enough not to fill an agent's context.

`tools/list` is read into every agent's context. The output schemas pydantic derives from our result
models spell out every nested model (handoffs, steps, rubric leaves, ...) and made the list ~71 KB,
mostly repeats. A client needs the top level to find its way (which fields, their types, what they
mean); the nested detail is in the structured result itself, and what a field means is in the tool's
description and the server's instructions. So the published output schema keeps each top-level field
with its JSON type(s) and, for a short enumeration, its values, and drops descriptions and nested
definitions. It stays a true description of
the result: every structured result validates against it (tests check that with a JSON Schema
validator), and the server still validates each result against the full model before sending it.
Input schemas lose only pydantic's generated `title`s, which repeat the argument names.
"""

from __future__ import annotations

from typing import Any

_JSON_TYPES = ("object", "array", "string", "integer", "number", "boolean", "null")
MAX_ENUM = 12


def _value_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return _resolve(defs.get(ref.removeprefix("#/$defs/"), {}), defs)
    return node


def _types_and_enum(node: dict[str, Any], defs: dict[str, Any]) -> tuple[set[str], list[Any] | None]:
    """The JSON types a schema node allows, and its values when it is an enumeration (else None)."""
    node = _resolve(node, defs)
    for key in ("anyOf", "oneOf"):
        if key in node:
            types: set[str] = set()
            values: list[Any] | None = []
            for option in node[key]:
                t, v = _types_and_enum(option, defs)
                types |= t
                if v is None:
                    if t == {"null"}:
                        values = None if values is None else [*values, None]
                        continue
                    values = None
                elif values is not None:
                    values += v
            return types, values if values and any(x is not None for x in values) else None
    if "allOf" in node and node["allOf"]:
        return _types_and_enum(node["allOf"][0], defs)
    if "const" in node:
        return {_value_type(node["const"])}, [node["const"]]
    if "enum" in node:
        return {_value_type(v) for v in node["enum"]}, list(node["enum"])
    kind = node.get("type")
    if isinstance(kind, str):
        return {kind}, None
    if isinstance(kind, list):
        return set(kind), None
    return set(_JSON_TYPES), None  # anything


def _shallow(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    types, values = _types_and_enum(node, defs)
    out: dict[str, Any] = {}
    if "integer" in types and "number" in types:
        types.discard("integer")
    if types != set(_JSON_TYPES):
        ordered = [t for t in _JSON_TYPES if t in types]
        out["type"] = ordered[0] if len(ordered) == 1 else ordered
    if values is not None and len(values) <= MAX_ENUM:
        out["enum"] = values
    return out


def compact_output_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The top level of an object schema: each field's type(s) and, for an enumeration, its values."""
    defs = schema.get("$defs", {})
    top = _resolve(schema, defs)
    if top.get("type") != "object" or "properties" not in top:
        return {"type": "object"}
    out: dict[str, Any] = {
        "type": "object",
        "properties": {name: _shallow(prop, defs) for name, prop in top["properties"].items()},
    }
    return out  # no "required": looser, still true, and every result carries its fields anyway


def compact_input_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """An input schema without generated titles, with `X | None` as a type list and no `default: null`."""
    out = strip_titles(schema)
    for prop in out.get("properties", {}).values():
        options = prop.get("anyOf")
        if isinstance(options, list) and all(
            set(o) == {"type"} and isinstance(o["type"], str) for o in options
        ):
            prop["type"] = [o["type"] for o in options]
            del prop["anyOf"]
        if "default" in prop and prop["default"] is None:
            del prop["default"]
    return out


def strip_titles(schema: Any) -> Any:
    """The schema without pydantic's generated `title` keys (a property *named* title is kept)."""
    if isinstance(schema, dict):
        return {
            k: (
                {name: strip_titles(v) for name, v in value.items()}
                if k == "properties" and isinstance(value, dict)
                else strip_titles(value)
            )
            for k, value in schema.items()
            if k != "title"
        }
    if isinstance(schema, list):
        return [strip_titles(v) for v in schema]
    return schema

"""Would a schema change break a consumer? Compares a released JSON Schema with the current one.

Breaking (a consumer coded against the released schema, or history stored under it, stops working):

* a field removed (or renamed, which is a removal plus an addition);
* a type narrowed: a value the released schema allowed (a type, null) the current one refuses;
* a required field added (events already on the topics and in history do not have it);
* an enum value removed.

Adding an optional field, widening a type and adding an enum value are not breaking. The schemas are those
pydantic exports (schemas/export.py): `$ref` to `#/$defs/...`, `anyOf` for unions and optional fields.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Schema = dict[str, Any]

RELEASED_DIR = Path(__file__).resolve().parent / "released"


@dataclass(frozen=True)
class Break:
    path: str  # e.g. "takeback.settled_by[].amount"
    what: str

    def __str__(self) -> str:
        return f"{self.path}: {self.what}"


def breaking_changes(released: Schema, current: Schema, name: str = "$") -> list[Break]:
    """Every change from `released` to `current` that would break a consumer (empty when compatible)."""
    breaks: list[Break] = []
    _compare(released, current, name, released, current, breaks, set())
    return breaks


def released_versions(event: str, released_dir: Path = RELEASED_DIR) -> dict[int, Path]:
    """version -> released schema file of one event type (schemas/released/<event>/v<N>.json)."""
    folder = released_dir / event
    if not folder.is_dir():
        return {}
    return {int(p.stem[1:]): p for p in folder.glob("v*.json") if p.stem[1:].isdigit()}


def check_event(event: str, version: int, current: Schema, released_dir: Path = RELEASED_DIR) -> list[str]:
    """What is wrong with the current schema of `event` at contract `version`, as sentences (empty: fine).

    The released file of that version must exist, and the current schema must not break it. A breaking change
    is therefore allowed only with a raised version and its own released file.
    """
    versions = released_versions(event, released_dir)
    if versions and version < max(versions):
        return [f"{event}: version {version} is older than the released v{max(versions)}"]
    if version not in versions:
        return [f"{event}: v{version} is not released: run `python -m schemas.release` and commit the file"]
    released = json.loads(versions[version].read_text())
    return [f"{event} v{version} breaks consumers at {b}" for b in breaking_changes(released, current, event)]


# --------------------------------------------------------------------------- the walk


def _resolve(node: Schema, root: Schema) -> Schema:
    while "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            raise ValueError(f"only local references are supported, not {ref}")
        target: Any = root
        for part in ref[2:].split("/"):
            target = target[part]
        node = target
    return node


def _branches(node: Schema, root: Schema) -> list[Schema]:
    """The alternatives a value may match: anyOf/oneOf flattened, references resolved."""
    node = _resolve(node, root)
    union = node.get("anyOf") or node.get("oneOf")
    if union:
        return [b for branch in union for b in _branches(branch, root)]
    return [node]


def _type_of(branch: Schema) -> set[str]:
    if "const" in branch:
        return {_json_type(branch["const"])}
    declared = branch.get("type")
    if declared is None:
        if "properties" in branch:
            return {"object"}
        if "enum" in branch:
            return {_json_type(v) for v in branch["enum"]}
        return {"any"}
    return set(declared) if isinstance(declared, list) else {declared}


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return {str: "string", list: "array", dict: "object"}[type(value)]


def _types(branches: list[Schema]) -> set[str]:
    types = set().union(*(_type_of(b) for b in branches))
    if "number" in types:
        types.add("integer")  # an integer is a number
    return types


def _enum(branches: list[Schema], of_type: str) -> set[Any] | None:
    """Allowed values of one JSON type, or None when any value of that type is allowed."""
    values: set[Any] = set()
    for branch in branches:
        if of_type not in _type_of(branch):
            continue
        if "const" in branch:
            values.add(branch["const"])
        elif "enum" in branch:
            values.update(branch["enum"])
        else:
            return None
    return values


def _compare(
    old: Schema, new: Schema, path: str, old_root: Schema, new_root: Schema, breaks: list[Break], seen: set
) -> None:
    marker = (id(old), id(new))
    if marker in seen:  # recursive definitions
        return
    seen = seen | {marker}
    old_branches, new_branches = _branches(old, old_root), _branches(new, new_root)
    old_types, new_types = _types(old_branches), _types(new_branches)
    if "any" not in new_types:
        lost = ["any type"] if "any" in old_types else sorted(old_types - new_types)
        if lost:
            breaks.append(Break(path, f"type narrowed: {', '.join(lost)} no longer allowed"))
    for json_type in sorted(old_types & new_types - {"null", "object", "array"}):
        old_values, new_values = _enum(old_branches, json_type), _enum(new_branches, json_type)
        if new_values is None:
            continue
        if old_values is None:
            breaks.append(Break(path, f"type narrowed: any {json_type} became one of {sorted(new_values)}"))
        elif old_values - new_values:
            breaks.append(Break(path, f"enum value removed: {sorted(old_values - new_values)}"))
    old_object = next((b for b in old_branches if "object" in _type_of(b)), None)
    new_object = next((b for b in new_branches if "object" in _type_of(b)), None)
    if old_object is not None and new_object is not None:
        _compare_objects(old_object, new_object, path, old_root, new_root, breaks, seen)
    old_array = next((b for b in old_branches if "array" in _type_of(b)), None)
    new_array = next((b for b in new_branches if "array" in _type_of(b)), None)
    if old_array is not None and new_array is not None and "items" in old_array and "items" in new_array:
        _compare(old_array["items"], new_array["items"], path + "[]", old_root, new_root, breaks, seen)


def _compare_objects(
    old: Schema, new: Schema, path: str, old_root: Schema, new_root: Schema, breaks: list[Break], seen: set
) -> None:
    old_properties, new_properties = old.get("properties", {}), new.get("properties", {})
    for name, old_property in old_properties.items():
        if name not in new_properties:
            breaks.append(Break(f"{path}.{name}", "field removed (or renamed)"))
        else:
            _compare(old_property, new_properties[name], f"{path}.{name}", old_root, new_root, breaks, seen)
    for name in sorted(set(new.get("required", [])) - set(old.get("required", []))):
        breaks.append(Break(f"{path}.{name}", "required field added"))
    old_values, new_values = old.get("additionalProperties"), new.get("additionalProperties")
    if isinstance(old_values, dict) and isinstance(new_values, dict):  # maps, e.g. takebacks_by_kind
        _compare(old_values, new_values, f"{path}{{}}", old_root, new_root, breaks, seen)

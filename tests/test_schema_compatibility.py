"""Released event schemas stay readable: a breaking change fails unless the event type's version is raised."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

from schemas import EVENT_TYPES, EVENT_VERSIONS
from schemas.compatibility import RELEASED_DIR, breaking_changes, check_event, released_versions
from schemas.export import rendered_schemas

CHANGELOG = Path(__file__).resolve().parents[1] / "schemas" / "CHANGELOG.md"


def current(name: str) -> dict:
    return json.loads(rendered_schemas()[f"{name}.schema.json"])


@pytest.mark.parametrize("name", sorted(EVENT_TYPES))
def test_current_schema_does_not_break_its_released_version(name: str) -> None:
    assert check_event(name, EVENT_VERSIONS[name], current(name)) == []


@pytest.mark.parametrize("name", sorted(EVENT_TYPES))
def test_released_file_is_the_current_schema(name: str) -> None:
    """Compatible changes are released too (python -m schemas.release), so the next check compares with them."""
    released = released_versions(name)[EVENT_VERSIONS[name]]
    assert released.read_text() == rendered_schemas()[f"{name}.schema.json"], "run `python -m schemas.release`"


def test_changelog_names_every_released_version() -> None:
    text = CHANGELOG.read_text()
    for name in EVENT_TYPES:
        for version in released_versions(name):
            assert re.search(rf"^## v{version}\b", text, re.M), f"schemas/CHANGELOG.md has no v{version} section"
            assert f"`{name}`" in text, f"schemas/CHANGELOG.md does not name {name}"


# --------------------------------------------------------------------------- the check catches breaking changes


def takeback() -> dict:
    return current("takeback")


def test_identical_and_additive_changes_are_compatible() -> None:
    schema = takeback()
    assert breaking_changes(schema, copy.deepcopy(schema)) == []
    added = copy.deepcopy(schema)
    added["properties"]["new_optional"] = {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None}
    added["$defs"]["ReasonCategory"]["enum"].append("new_category")
    assert breaking_changes(schema, added) == []


def test_a_removed_or_renamed_field_breaks() -> None:
    schema, changed = takeback(), takeback()
    changed["properties"]["payer_identifier"] = changed["properties"].pop("payer_id")
    changed["required"] = [("payer_identifier" if f == "payer_id" else f) for f in changed["required"]]
    found = [str(b) for b in breaking_changes(schema, changed, "takeback")]
    assert "takeback.payer_id: field removed (or renamed)" in found
    assert "takeback.payer_identifier: required field added" in found


def test_a_narrowed_type_breaks() -> None:
    schema, changed = takeback(), takeback()
    changed["properties"]["claim_id"] = {"type": "string"}  # was string or null
    changed["properties"]["revision"] = {"type": "string"}  # was an integer
    found = [str(b) for b in breaking_changes(schema, changed, "takeback")]
    assert "takeback.claim_id: type narrowed: null no longer allowed" in found
    assert "takeback.revision: type narrowed: integer no longer allowed" in found


def test_a_narrowed_nested_type_breaks() -> None:
    schema, changed = takeback(), takeback()
    changed["$defs"]["Settlement"]["properties"]["amount"] = {"type": "integer"}
    assert [str(b) for b in breaking_changes(schema, changed, "takeback")] == [
        "takeback.settled_by[].amount: type narrowed: string no longer allowed"
    ]


def test_an_added_required_field_breaks() -> None:
    schema, changed = takeback(), takeback()
    changed["required"].append("status")
    assert [str(b) for b in breaking_changes(schema, changed, "takeback")] == ["takeback.status: required field added"]


def test_a_removed_enum_value_breaks() -> None:
    schema, changed = takeback(), takeback()
    changed["$defs"]["ReasonCategory"]["enum"].remove("timely_filing")
    assert [str(b) for b in breaking_changes(schema, changed, "takeback")] == [
        "takeback.reason_category: enum value removed: ['timely_filing']"
    ]


def test_a_breaking_change_passes_only_with_a_raised_version_and_its_release(tmp_path: Path) -> None:
    """The repository's rule end to end, on a copy of the released folder with a deliberately broken schema."""
    released = tmp_path / "released"
    (released / "takeback").mkdir(parents=True)
    (released / "takeback" / "v1.json").write_text((RELEASED_DIR / "takeback" / "v1.json").read_text())
    broken = takeback()
    del broken["properties"]["reason_category"]
    broken["required"].remove("reason_category")

    problems = check_event("takeback", 1, broken, released)
    assert problems == ["takeback v1 breaks consumers at takeback.reason_category: field removed (or renamed)"]

    assert "v2 is not released" in check_event("takeback", 2, broken, released)[0]
    (released / "takeback" / "v2.json").write_text(json.dumps(broken))
    assert check_event("takeback", 2, broken, released) == []
    assert "older than the released v2" in check_event("takeback", 1, broken, released)[0]

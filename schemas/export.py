"""Write the JSON Schema of every event type into schemas/json/ (run: python -m schemas.export).

Downstream services code against these files; tests/test_schemas.py fails when
one is stale, so a contract change always shows up in review.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from schemas.events import EVENT_TYPES

SCHEMA_DIR = Path(__file__).resolve().parent / "json"


def rendered_schemas() -> dict[str, str]:
    """File name -> JSON text, as events appear on the topics (serialization mode: money as strings)."""
    return {
        f"{name}.schema.json": json.dumps(model.model_json_schema(mode="serialization"), indent=2, sort_keys=True)
        + "\n"
        for name, model in EVENT_TYPES.items()
    }


def main() -> int:
    SCHEMA_DIR.mkdir(exist_ok=True)
    for file_name, text in rendered_schemas().items():
        (SCHEMA_DIR / file_name).write_text(text)
        print(f"wrote schemas/json/{file_name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Release the current event schemas: python -m schemas.release

Writes schemas/released/<event>/v<N>.json (N = the event's version in schemas.EVENT_VERSIONS) when that version
has no released file yet, and refreshes an existing one only with compatible changes (new optional fields): a
breaking change needs a raised version. Add a line to schemas/CHANGELOG.md for every change.
"""

from __future__ import annotations

import json
import sys

from schemas.compatibility import RELEASED_DIR, breaking_changes
from schemas.events import EVENT_TYPES, EVENT_VERSIONS
from schemas.export import rendered_schemas


def main() -> int:
    rendered = rendered_schemas()
    failures = 0
    for name in EVENT_TYPES:
        version = EVENT_VERSIONS[name]
        text = rendered[f"{name}.schema.json"]
        target = RELEASED_DIR / name / f"v{version}.json"
        if target.exists():
            if target.read_text() == text:
                continue
            breaks = breaking_changes(json.loads(target.read_text()), json.loads(text), name)
            if breaks:
                failures += 1
                print(f"{name}: not released, it breaks v{version} (raise EVENT_VERSIONS['{name}']):", file=sys.stderr)
                for item in breaks:
                    print(f"  {item}", file=sys.stderr)
                continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        print(f"released schemas/released/{name}/v{version}.json")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

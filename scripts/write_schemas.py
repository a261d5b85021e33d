"""Write the event contracts under schemas/: `.venv/bin/python scripts/write_schemas.py [DIR]`.

Run it after changing an event model; tests/unit/test_event_schemas.py fails until you do.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from mailroute.events.asyncapi import documents


def render(document: dict[str, object]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(folder: str = "schemas") -> None:
    root = Path(folder)
    for path, document in documents().items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render(document), encoding="utf-8")
        sys.stdout.write(f"wrote {target}\n")


if __name__ == "__main__":
    main(*sys.argv[1:2])

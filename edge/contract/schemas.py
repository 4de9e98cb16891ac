"""`python -m edge.contract.schemas`: write the JSON Schemas of the officer-device messages
(docs/schemas/officer_*.schema.json) from their pydantic models; a test checks they are current."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .messages import OfficerPosition, OfficerTask, TaskState

GENERATED = {"officer_position": OfficerPosition, "officer_task": OfficerTask, "officer_task_state": TaskState}


def schema(name: str) -> dict:
    model = GENERATED[name]
    body = model.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://edge.example/schemas/{name}.schema.json", **body}


def write(folder: Path) -> list[Path]:
    out = []
    for name in GENERATED:
        path = folder / f"{name}.schema.json"
        path.write_text(json.dumps(schema(name), indent=2, ensure_ascii=False) + "\n")
        out.append(path)
    return out


if __name__ == "__main__":
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "docs" / "schemas"
    for p in write(folder):
        print(p)

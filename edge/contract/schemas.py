"""`python -m edge.contract.schemas [FOLDER]`: write docs/schemas/*.schema.json from the contract's
pydantic models; tests/test_contract.py fails when the committed files differ (drift)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pydantic import BaseModel

from .commands import ARGS
from .messages import (
    CmdResult,
    CommandEnvelope,
    LifecycleMessage,
    OfficerPosition,
    OfficerTask,
    Stats,
    Status,
    TaskState,
)
from .receipt import Receipt

GENERATED: dict[str, type[BaseModel]] = {
    "alert": LifecycleMessage, "status": Status, "stats": Stats, "cmd_result": CmdResult,
    "command": CommandEnvelope, "receipt": Receipt,
    "officer_position": OfficerPosition, "officer_task": OfficerTask, "officer_task_state": TaskState,
}

DESCRIPTIONS = {
    "receipt": "edge/{node}/receipt: QoS 1, from the hub only (ACL). The lifecycle messages of the node the hub "
               "has stored, by id and stage; the node deletes them from its outbox.",
}


def _command_args(body: dict) -> dict:
    """The envelope's `args` by command name: each args model in $defs, chosen by `name`."""
    defs = body.setdefault("$defs", {})
    cases = []
    for name, model in ARGS.items():
        schema = model.model_json_schema(ref_template="#/$defs/{model}")
        defs.update(schema.pop("$defs", {}))
        defs[model.__name__] = schema
        cases.append({"if": {"properties": {"name": {"const": name}}},
                      "then": {"properties": {"args": {"$ref": f"#/$defs/{model.__name__}"}}}})
    body["allOf"] = cases
    return body


def schema(name: str) -> dict:
    model = GENERATED[name]
    body = model.model_json_schema()
    if name in DESCRIPTIONS:
        body["description"] = f"{DESCRIPTIONS[name]} Generated from {model.__module__}.{model.__name__}."
    if model is CommandEnvelope:
        body = _command_args(body)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://edge.example/schemas/{name}.schema.json", **body}


def write(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
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

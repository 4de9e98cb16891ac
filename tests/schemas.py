"""Validate payloads against the JSON Schemas in docs/schemas (the MQTT API contract)."""

from __future__ import annotations

import json
from functools import cache

from jsonschema import Draft202012Validator

from .conftest import REPO

SCHEMAS = REPO / "docs" / "schemas"


@cache
def validator(name: str) -> Draft202012Validator:
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def assert_valid(name: str, payload: dict | bytes) -> dict:
    body = json.loads(payload) if isinstance(payload, bytes | str) else payload
    errors = sorted(validator(name).iter_errors(body), key=lambda e: list(e.path))
    assert not errors, f"{name}: " + "; ".join(f"{'.'.join(map(str, e.path)) or '(top)'}: {e.message}" for e in errors)
    return body

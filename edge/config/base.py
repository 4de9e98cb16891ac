"""Shared pieces of the profile models: strict sections, secret policy, paths."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic_core import PydanticCustomError

# Keys that would put a secret inline in a profile.  Profiles are committed and copied around;
# secrets are referenced by file path or environment variable instead.
INLINE_SECRET_KEYS = frozenset({"password", "passwd", "secret", "token", "api_key", "private_key", "key_pem"})


class Section(BaseModel):
    """A profile section: unknown keys are errors, inline secrets are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _no_inline_secrets(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in data:
                if isinstance(key, str) and key.lower() in INLINE_SECRET_KEYS:
                    raise PydanticCustomError(
                        "inline_secret",
                        "'{key}' would put a secret inline; reference it with {key}_env (an environment "
                        "variable) or {key}_file (a path) instead",
                        {"key": key},
                    )
        return data

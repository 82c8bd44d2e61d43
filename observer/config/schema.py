"""The JSON Schema of probe files, for editors (yaml-language-server) and linting."""

from __future__ import annotations

from typing import Any

from .models import Config


def json_schema() -> dict[str, Any]:
    """Draft 2020-12 schema generated from the config models."""
    schema = Config.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "observer probe file"
    return schema

"""config.yaml checks: it must parse, be a mapping, and numbers must load as numbers.

PyYAML follows YAML 1.1, where `1e-5` (no dot) is a *string*. Generated code that
reads `lr = config["lr"]` would then get "1e-5" and fail at the first arithmetic.
Papers write learning rates exactly that way, so instead of re-asking the model
we rewrite such plain scalars to the YAML 1.1 float form (`1.0e-5`), touching
nothing else in the text (comments and layout stay).
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from papercoder_mcp.errors import LimitExceeded, ValidationFailed
from papercoder_mcp.limits import MAX_YAML_CHARS, load_yaml

# YAML 1.2 core-schema float that YAML 1.1 (PyYAML) does not resolve as one.
_FLOAT_12 = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)$")


def _as_yaml11_float(text: str) -> str:
    mantissa, _, exponent = text.lower().partition("e")
    sign = ""
    if mantissa[:1] in "+-":
        sign, mantissa = mantissa[0], mantissa[1:]
    if mantissa.startswith("."):
        mantissa = "0" + mantissa
    if "." not in mantissa:
        mantissa += ".0"
    elif mantissa.endswith("."):
        mantissa += "0"
    if exponent[:1] not in "+-":
        exponent = "+" + exponent
    return f"{sign}{mantissa}e{exponent}"


def fix_yaml11_floats(text: str) -> tuple[str, list[str]]:
    """Rewrite plain scalars like `1e-5` to `1.0e-05`-style floats PyYAML reads as numbers."""
    edits: list[tuple[int, int, str]] = []
    try:
        tokens = list(yaml.scan(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError:
        return text, []
    for tok in tokens:
        if isinstance(tok, yaml.ScalarToken) and tok.plain and _FLOAT_12.match(tok.value):
            new = _as_yaml11_float(tok.value)
            if new != text[tok.start_mark.index : tok.end_mark.index]:
                edits.append((tok.start_mark.index, tok.end_mark.index, new))
    fixed = text
    for start, end, new in reversed(edits):
        fixed = fixed[:start] + new + fixed[end:]
    return fixed, [f"{text[s:e]} -> {n}" for s, e, n in edits]


def validate_config_yaml(text: str) -> tuple[str, dict[str, Any], list[str]]:
    """Return (normalised text, parsed mapping, notes about rewrites); raise ValidationFailed."""
    if not text.strip():
        raise ValidationFailed("config.yaml is empty", ["config.yaml is empty"])
    if len(text) > MAX_YAML_CHARS:
        raise LimitExceeded(
            f"config.yaml is {len(text):,} characters, over the cap of {MAX_YAML_CHARS:,} (MAX_YAML_CHARS)"
        )
    fixed, notes = fix_yaml11_floats(text)
    try:
        data = load_yaml(fixed, "config.yaml")
    except yaml.YAMLError as exc:
        raise ValidationFailed(f"config.yaml does not parse as YAML: {exc}", [str(exc)]) from exc
    if not isinstance(data, dict) or not data:
        raise ValidationFailed(
            "config.yaml must be a non-empty mapping of settings", ["top level is not a non-empty mapping"]
        )
    return fixed, data, notes

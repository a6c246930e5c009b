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
from pydantic import BaseModel, Field

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


# -- what the config says about its own values ---------------------------------

DEFAULT_MARK = "not in the paper: chosen default"
# A null commented like this is a hyperparameter left unknown, which the rules forbid: it needs a default.
_UNKNOWN_NOTE = re.compile(
    r"not (specified|given|stated|mentioned|reported)( in the paper)?\b|unspecified|"
    r"paper does not (say|give|state|specify|mention)|unknown (value|hyperparameter)",
    re.IGNORECASE,
)


# A key named like this is an input the user supplies (a dataset folder, a checkpoint, an API key), so
# a comment saying the paper does not give "it" is about something else (e.g. a result not reported).
_INPUT_KEY = re.compile(
    r"(^|_)(path|paths|dir|dirs|folder|file|files|root|checkpoint|ckpt|weights|url|uri|api_key|token)$",
    re.IGNORECASE,
)


# `limit: null  # optional: ...` / `(optional)`: a null the user may leave (not "optionally ...").
_OPTIONAL_MARK = re.compile(r"^\(?optional\b\)?\s*[:,;-]?\s*", re.IGNORECASE)


class ConfigEntry(BaseModel):
    """One leaf setting of config.yaml with the comment that explains it."""

    key: str = Field(description="dotted key path, e.g. 'train.learning_rate'")
    value: Any = None
    comment: str = Field("", description="the comment on its line, or the comment lines just above it")

    @property
    def is_default(self) -> bool:
        return DEFAULT_MARK in self.comment.lower()

    @property
    def is_optional(self) -> bool:
        """A null the code reads as a meaning of its own (no limit, no local copy), said so by a
        comment that starts `optional:`: the user may leave it."""
        return self.value is None and _OPTIONAL_MARK.match(self.comment) is not None

    @property
    def optional_note(self) -> str:
        """What an optional null's comment says after the mark (what null means)."""
        return _OPTIONAL_MARK.sub("", self.comment, count=1)

    @property
    def must_provide(self) -> bool:
        return self.value is None and not self.is_optional


def _comment_after(line: str, column: int) -> str:
    """The `# ...` text of a line after `column` (the end of the value), outside quotes."""
    rest = line[column:]
    hash_at = rest.find("#")
    return rest[hash_at + 1 :].strip() if hash_at >= 0 else ""


def _comment_above(lines: list[str], line_no: int) -> str:
    notes: list[str] = []
    i = line_no - 1
    while i >= 0 and lines[i].strip().startswith("#"):
        notes.insert(0, lines[i].strip().lstrip("#").strip())
        i -= 1
    return " ".join(notes)


def config_entries(text: str) -> list[ConfigEntry]:
    """Every leaf of the config with its comment, in file order (read from the YAML node tree, so
    the positions are exact; comments are what PyYAML drops, so they are read from those lines)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return []
    lines = text.splitlines()
    out: list[ConfigEntry] = []

    def walk(node: yaml.Node, prefix: str) -> None:
        if not isinstance(node, yaml.MappingNode):
            return
        for key_node, value_node in node.value:
            key = f"{prefix}.{key_node.value}" if prefix else str(key_node.value)
            if isinstance(value_node, yaml.MappingNode):
                walk(value_node, key)
                continue
            end = value_node.end_mark
            line = lines[end.line] if end.line < len(lines) else ""
            on_key_line = end.line == key_node.start_mark.line
            comment = _comment_after(line, end.column) if on_key_line else ""
            if not comment and not on_key_line:
                # A block list (`gammas:  # ...` then `- 1.0` lines): its comment is on the key's line.
                key_line = lines[key_node.start_mark.line] if key_node.start_mark.line < len(lines) else ""
                comment = _comment_after(key_line, key_node.end_mark.column)
            if not comment:
                comment = _comment_above(lines, key_node.start_mark.line)
            value = yaml.safe_load(yaml.serialize(value_node))
            out.append(ConfigEntry(key=key, value=value, comment=comment))

    if root is not None:
        walk(root, "")
    return out


def check_config_rules(text: str) -> list[str]:
    """What breaks the rule that every setting has a value: nulls that are not the user's to supply.

    A null must say what the user provides and how to get it; a null left for an unknown
    hyperparameter must become a chosen default instead."""
    problems = []
    for entry in config_entries(text):
        if not entry.must_provide:
            continue
        if not entry.comment:
            problems.append(
                f"{entry.key} is null with no comment: null is only for what the user must supply (a path, "
                "a key); say what it is and how to get it in a comment, or give a value (the paper's, or a "
                f"default marked `# {DEFAULT_MARK}`)"
            )
        elif _UNKNOWN_NOTE.search(entry.comment) and not _INPUT_KEY.search(entry.key.rsplit(".", 1)[-1]):
            problems.append(
                f"{entry.key} is null because the paper does not give it ({entry.comment!r}): choose a "
                f"sensible default and mark it `# {DEFAULT_MARK}`; null is only for what the user must supply"
            )
    return problems

"""Turning a model's text into the payload a stage expects: one JSON object, or one fenced code block."""

from __future__ import annotations

import json
import re
from typing import Any

from papercoder_mcp.errors import ValidationFailed

_FENCE = re.compile(r"^(`{3,}|~{3,})[ \t]*([\w+.#-]*)[^\n]*\n(.*?)^\1[ \t]*$", re.MULTILINE | re.DOTALL)


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of every closed fenced block, outermost only."""
    return [(m.group(2).lower(), m.group(3)) for m in _FENCE.finditer(text)]


def extract_json(text: str) -> Any:
    """The JSON object of an answer: a ```json block, or the whole answer when it is bare JSON."""
    stripped = text.strip()
    candidates: list[str]
    if stripped.startswith(("{", "[")):
        candidates = [stripped]
    else:
        blocks = fenced_blocks(text)
        json_blocks = [b for lang, b in blocks if lang == "json"] or [b for _, b in blocks]
        if not json_blocks:
            raise ValidationFailed(
                "the answer holds no JSON object", ["no JSON found: reply with one JSON object"]
            )
        if len(json_blocks) > 1:
            raise ValidationFailed(
                "the answer holds several JSON blocks", ["reply with exactly one JSON object"]
            )
        candidates = [json_blocks[0]]
    try:
        return json.loads(candidates[0])
    except json.JSONDecodeError as exc:
        raise ValidationFailed(f"the answer is not valid JSON: {exc}", [f"invalid JSON: {exc}"]) from exc


def extract_code(text: str) -> str:
    """The body of the single fenced code block of an answer; prose around it is dropped, never kept."""
    stripped = text.strip()
    first_line = stripped.split("\n", 1)[0]
    fence = re.match(r"^(`{3,}|~{3,})\s*([\w+.#-]*)", first_line)
    blocks = fenced_blocks(text)
    # A Markdown file may hold fences of its own; when the whole answer is one such block, take
    # everything between its first and last line.
    wraps_all = fence is not None and stripped.endswith(fence.group(1)) and "\n" in stripped
    if wraps_all and fence is not None and fence.group(2).lower() in ("markdown", "md"):
        body = stripped.split("\n", 1)[1]
        return body[: body.rstrip().rfind("\n") + 1]
    if len(blocks) == 1:
        return blocks[0][1]
    if not blocks:
        if fence:
            raise ValidationFailed(
                "the code block is never closed: the answer looks truncated",
                ["the fenced code block is not closed; send the whole file"],
            )
        raise ValidationFailed(
            "the answer holds no fenced code block", ["reply with the whole file in one fenced code block"]
        )
    raise ValidationFailed(
        f"the answer holds {len(blocks)} fenced code blocks",
        [f"found {len(blocks)} fenced code blocks; reply with exactly one holding the whole file"],
    )


LANGUAGES = {
    ".py": "python",
    ".sh": "bash",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".json": "json",
    ".md": "markdown",
    ".txt": "text",
    ".cfg": "ini",
    ".toml": "toml",
    ".ipynb": "json",
}


def language_for(path: str) -> str:
    for suffix, lang in LANGUAGES.items():
        if path.endswith(suffix):
            return lang
    return "text"

"""Turning a model's text into the payload a stage expects: one JSON object, or one fenced code block."""

from __future__ import annotations

import re
from bisect import bisect_right
from typing import Any

from papercoder_mcp.errors import ValidationFailed
from papercoder_mcp.limits import check_answer_size, load_json

_OPEN = re.compile(r"(`{3,}+|~{3,}+)[ \t]*([\w+.#-]*)")
_CLOSE = re.compile(r"(`{3,}+|~{3,}+)[ \t]*")


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of every closed fenced block, outermost only.

    A block closes at the first later line that is exactly its fence (plus blanks). Line by line
    with the closing lines indexed first, so it stays O(n log n) on hostile input; a regex with a
    lazy body and a back-reference was quadratic in the number of unclosed fences."""
    lines = text.split("\n")
    closers: dict[str, list[int]] = {}
    for i, line in enumerate(lines):
        m = _CLOSE.fullmatch(line)
        if m:
            closers.setdefault(m.group(1), []).append(i)
    blocks: list[tuple[str, str]] = []
    i = 0
    while i < len(lines):
        m = _OPEN.match(lines[i])
        if m:
            ends = closers.get(m.group(1), [])
            k = bisect_right(ends, i)
            if k < len(ends):
                end = ends[k]
                blocks.append((m.group(2).lower(), "".join(line + "\n" for line in lines[i + 1 : end])))
                i = end + 1
                continue
        i += 1
    return blocks


def extract_json(text: str) -> Any:
    """The JSON object of an answer: a ```json block, or the whole answer when it is bare JSON."""
    check_answer_size(text)
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
        return load_json(candidates[0])
    except ValueError as exc:
        raise ValidationFailed(f"the answer is not valid JSON: {exc}", [f"invalid JSON: {exc}"]) from exc


def extract_code(text: str) -> str:
    """The body of the single fenced code block of an answer; prose around it is dropped, never kept."""
    check_answer_size(text)
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

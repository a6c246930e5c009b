"""Prompt templates for the stages (Markdown files with `$name` placeholders), and MCP prompts.

Templates are files so that a prompt change is reviewed like code; they are read
with importlib.resources so they work from a wheel as well as a source tree.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from string import Template


@cache
def load(name: str) -> str:
    return resources.files(__name__).joinpath(f"{name}.md").read_text(encoding="utf-8")


def render(name: str, **values: object) -> str:
    """Fill a template; a missing value is an error, never an empty hole in a prompt."""
    return Template(load(name)).substitute({k: str(v) for k, v in values.items()})

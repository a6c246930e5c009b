"""Requirement lines a model writes, validated as PEP 508 before they reach requirements.txt or pip.

A requirements file is a pip command line in disguise: `--index-url http://evil/`, `-e git+...`,
`-r other.txt` or `pkg @ https://...` would make `pip install -r` fetch from wherever the model (or a
prompt injection in the paper) says. Only plain named requirements (name, extras, version
specifiers, environment markers) are accepted; options, URLs and direct references are refused.
"""

from __future__ import annotations

from packaging.requirements import InvalidRequirement, Requirement

MAX_REQUIREMENT_CHARS = 200


def check_requirement(line: str, *, what: str = "requirement") -> str:
    """The canonical form of one PEP 508 requirement, or ValueError saying why it is refused."""
    text = line.strip()
    if not text:
        raise ValueError(f"{what} is empty")
    if len(text) > MAX_REQUIREMENT_CHARS:
        raise ValueError(
            f"{what} is {len(text)} characters long, over the cap of {MAX_REQUIREMENT_CHARS} "
            "(MAX_REQUIREMENT_CHARS)"
        )
    if "\n" in text or "\r" in text:
        raise ValueError(f"{what} {text!r} spans several lines; give one package per entry")
    if text.startswith("-"):
        raise ValueError(
            f"{what} {text!r} is a pip option, not a package; options (--index-url, -e, -r, ...) are "
            "refused: list packages by name only"
        )
    if "://" in text or text.startswith(("git+", "hg+", "svn+", "bzr+", "file:")):
        raise ValueError(f"{what} {text!r} is a URL; only named packages from the default index are allowed")
    try:
        req = Requirement(text)
    except InvalidRequirement as exc:
        first = str(exc).splitlines()[0]
        raise ValueError(f"{what} {text!r} is not a PEP 508 requirement: {first}") from exc
    if req.url:
        raise ValueError(
            f"{what} {text!r} is a direct reference ({req.url}); only named packages from the default "
            "index are allowed"
        )
    return str(req)


def requirements_problems(text: str, *, source: str = "requirements.txt") -> list[str]:
    """Every refused line of a requirements file (blank lines and `#` comments are fine)."""
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        body = line.strip()
        if not body or body.startswith("#"):
            continue
        if " #" in body:
            body = body.split(" #", 1)[0]
        try:
            check_requirement(body, what=f"{source} line {number}")
        except ValueError as exc:
            problems.append(str(exc))
    return problems

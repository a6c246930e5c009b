"""The wheel carries one top-level import name with tools, resources and prompts inside it."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_maps_tools_resources_prompts_under_papercoder_mcp(tmp_path: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(ROOT),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    (wheel,) = tmp_path.glob("papercoder_mcp-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/", 1)[0] for n in names if not n.split("/", 1)[0].endswith((".dist-info", ".data"))}
    assert top == {"papercoder_mcp"}
    for required in [
        "papercoder_mcp/tools/make_plan.py",
        "papercoder_mcp/resources/artifacts.py",
        "papercoder_mcp/prompts/system.md",
        "papercoder_mcp/prompts/mcp_prompts.py",
        "papercoder_mcp/py.typed",
    ]:
        assert required in names
    # Every package on disk is in the wheel (a subpackage left out of pyproject would vanish).
    for init in [*ROOT.joinpath("papercoder_mcp").rglob("__init__.py")]:
        rel = init.relative_to(ROOT).as_posix()
        assert rel in names, f"{rel} is missing from the wheel: add its package to pyproject.toml"
    for folder in ["tools", "resources", "prompts"]:
        for f in ROOT.joinpath(folder).iterdir():
            if f.suffix in (".py", ".md"):
                assert f"papercoder_mcp/{folder}/{f.name}" in names

"""The wheel carries one top-level import name with tools, resources and prompts inside it."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def build_wheel(out_dir: Path) -> Path:
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
            str(out_dir),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    (wheel,) = out_dir.glob("papercoder_mcp-*.whl")
    return wheel


def test_wheel_maps_tools_resources_prompts_under_papercoder_mcp(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path)
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


def test_the_installed_wheel_runs_on_its_own(tmp_path: Path) -> None:
    """A venv holding only the wheel (dependencies borrowed by path, without the editable install's hook)."""
    wheel = build_wheel(tmp_path / "dist")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    site = next((venv / "lib").glob("python3*/site-packages"))
    out = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    # A plain path entry: .pth files inside the borrowed directory (the editable hook) are not run.
    deps = next(p for p in map(Path, sys.path) if p.name == "site-packages" and (p / "pydantic").exists())
    (site / "borrowed_deps.pth").write_text(str(deps) + "\n")
    python = venv / "bin" / "python"
    probe = subprocess.run(
        [
            str(python),
            "-c",
            "import papercoder_mcp, papercoder_mcp.tools.make_plan; "
            "from papercoder_mcp import prompts; prompts.load('system'); print(papercoder_mcp.__file__)",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,  # not the source tree, whose papercoder_mcp/ would shadow the installed one
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip().startswith(str(site))
    version = subprocess.run(
        [str(python), "-m", "papercoder_mcp", "--version"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert version.returncode == 0 and version.stdout.startswith("papercoder-mcp "), version.stderr

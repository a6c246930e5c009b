"""The smoke run: generated code runs only in a throwaway copy, without keys, under a timeout."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from papercoder_mcp.verify import smoke_run

MAIN = (
    "import argparse\n\n\n"
    "def main():\n    parser = argparse.ArgumentParser()\n    parser.add_argument('--epochs', type=int)\n"
    "    parser.parse_args()\n\n\n"
    'if __name__ == "__main__":\n    main()\n'
)


class TestSmokeRun:
    def test_clean_repository_passes(self) -> None:
        result, findings = smoke_run(
            {"main.py": MAIN, "lib.py": "X = 1\n"}, entry_point="main.py", timeout=20
        )
        assert findings == []
        assert result.ran and not result.timed_out and "usage:" in result.log

    def test_import_failure_becomes_a_finding_with_traceback(self) -> None:
        files = {"main.py": MAIN, "lib.py": "X = 1\nY = 1 / 0\n"}
        _, findings = smoke_run(files, entry_point="main.py", timeout=20)
        assert [(f.kind, f.file, f.line) for f in findings] == [("smoke_import", "lib.py", 2)]
        assert "ZeroDivisionError" in findings[0].detail

    def test_api_keys_are_not_visible(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-secret")
        monkeypatch.setenv("MY_SERVICE_TOKEN", "tok")
        monkeypatch.setenv("SOME_PLAIN_SETTING", "kept")
        leak = (
            "import os\n"
            "assert 'ANTHROPIC_API_KEY' not in os.environ, 'key leaked'\n"
            "assert 'MY_SERVICE_TOKEN' not in os.environ, 'token leaked'\n"
            "assert os.environ['SOME_PLAIN_SETTING'] == 'kept'\n"
        )
        _, findings = smoke_run({"main.py": MAIN, "leak.py": leak}, entry_point="main.py", timeout=20)
        assert findings == []

    def test_infinite_loop_is_killed_at_the_timeout(self) -> None:
        start = time.monotonic()
        result, findings = smoke_run(
            {"main.py": MAIN, "spin.py": "while True:\n    pass\n"}, entry_point="main.py", timeout=2
        )
        assert time.monotonic() - start < 10
        assert result.timed_out
        assert [(f.kind, f.file) for f in findings] == [("smoke_import", "spin.py")]
        assert "did not finish" in findings[0].message

    def test_entry_point_that_runs_forever_instead_of_help(self) -> None:
        main = 'import time\n\nif __name__ == "__main__":\n    while True:\n        time.sleep(0.1)\n'
        result, findings = smoke_run({"main.py": main}, entry_point="main.py", timeout=2)
        assert result.timed_out and [(f.kind, f.file) for f in findings] == [("smoke_run", "main.py")]

    def test_writes_outside_its_directory_cannot_touch_the_real_repository(self, tmp_path: Path) -> None:
        exported = tmp_path / "export" / "repo"
        exported.mkdir(parents=True)
        files = {
            "main.py": MAIN,
            "escape.py": (
                "import pathlib\n"
                "pathlib.Path('../outside.txt').write_text('x')\n"
                "main = pathlib.Path('main.py')\n"
                "main.write_text(main.read_text() + '# touched by the generated code\\n')\n"
            ),
        }
        for rel, content in files.items():
            (exported / rel).write_text(content)
        before = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
        on_disk = {p.name: p.read_text() for p in exported.iterdir()}
        _, findings = smoke_run(on_disk, entry_point="main.py", timeout=20)
        after = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
        assert findings == []
        assert after == before
        assert not (exported.parent / "outside.txt").exists()

    def test_install_uses_a_throwaway_environment(self) -> None:
        probe = "import sys\nassert sys.prefix != sys.base_prefix, 'not in a venv'\n"
        result, findings = smoke_run(
            {"main.py": MAIN, "probe.py": probe},
            entry_point="main.py",
            timeout=60,
            install=True,
            requirements=[],
        )
        assert findings == [] and result.installed

"""Executed verification: the requirements installed, then the repository's imports, tests and smoke mode
run in the sandbox, each failure a finding on the file that broke."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from papercoder_mcp.verify import ExecutionOptions, execute_repository
from papercoder_mcp.verify.environments import BorrowedSiteBuilder, PipBuilder, ensure_environment
from papercoder_mcp.verify.sandbox import Sandbox, _bwrap_works

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or _bwrap_works() is not None, reason="needs bubblewrap"
)

MAIN = (
    "import argparse\n\nfrom lib import run\n\n\n"
    "def main():\n    parser = argparse.ArgumentParser()\n"
    "    sub = parser.add_subparsers(dest='command', required=True)\n"
    "    sub.add_parser('smoke')\n    sub.add_parser('train')\n"
    "    args = parser.parse_args()\n    print('result', run(tiny=args.command == 'smoke'))\n\n\n"
    'if __name__ == "__main__":\n    main()\n'
)
LIB = "def run(tiny=False):\n    total = 0\n    if tiny:\n        total += 1\n    return total + 1\n"
TESTS = "from lib import run\n\n\ndef test_tiny_run():\n    assert run(tiny=True) == 2\n"
# Compiles and passes every static check; only running the smoke mode finds it.
BUGGY_LIB = "def run(tiny=False):\n    if not tiny:\n        total = 0\n    return total + 1\n"


def execute(files: dict[str, str], **options: object) -> tuple:  # type: ignore[type-arg]
    return execute_repository(
        files,
        entry_point="main.py",
        requirements=[],
        options=ExecutionOptions(**options),  # type: ignore[arg-type]
    )


class TestExecutedVerification:
    def test_clean_repository_passes_its_tests_and_smoke_mode(self) -> None:
        result, findings = execute({"main.py": MAIN, "lib.py": LIB, "tests/test_lib.py": TESTS})
        assert findings == []
        assert result.sandbox == "bwrap" and result.installed
        assert (result.tests_passed, result.tests_failed) == (1, 0)
        assert result.smoke_command == "python main.py smoke" and "result 2" in result.log
        assert [s.name for s in result.steps] == ["imports", "tests", "smoke"]

    def test_runtime_bug_is_found_on_the_innermost_project_frame(self) -> None:
        _, findings = execute({"main.py": MAIN, "lib.py": BUGGY_LIB})
        errors = [f for f in findings if f.severity == "error"]
        assert [(f.kind, f.file, f.line) for f in errors] == [("smoke_run", "lib.py", 4)]
        assert "UnboundLocalError" in errors[0].message and 'File "/repo/lib.py"' in errors[0].detail
        # The caller is context, not a repair target.
        assert [(f.file, f.severity) for f in findings if f.severity == "info"] == [("main.py", "info")]

    def test_failing_test_carries_its_source_and_traceback(self) -> None:
        test = "from lib import run\n\n\ndef test_train_run():\n    value = run(tiny=True)\n    assert value == 1\n"
        result, findings = execute({"main.py": MAIN, "lib.py": BUGGY_LIB, "tests/test_lib.py": test})
        failures = [f for f in findings if f.kind == "test_failure" and f.severity == "error"]
        assert result.tests_failed == 1
        assert [(f.file, f.line) for f in failures] == [("lib.py", 4)]
        assert "tests/test_lib.py::test_train_run" in failures[0].message
        assert "def test_train_run():" in failures[0].detail and "UnboundLocalError" in failures[0].detail

    def test_missing_third_party_module_is_a_requirements_finding(self) -> None:
        lib = "import definitely_not_installed_pkg\n\n" + LIB
        _, findings = execute({"main.py": MAIN, "lib.py": lib})
        assert {(f.file, f.kind) for f in findings if f.severity == "error"} == {
            ("requirements.txt", "missing_requirement")
        }
        assert all(f.kind != "smoke_run" for f in findings if f.file != "requirements.txt")

    def test_entry_point_without_a_smoke_mode_is_told_to_add_one(self) -> None:
        main = "import argparse\n\nif __name__ == '__main__':\n    argparse.ArgumentParser().parse_args()\n"
        result, findings = execute({"main.py": main})
        assert [(f.kind, f.severity) for f in findings] == [("no_smoke_mode", "warning")]
        assert result.smoke_command == ""

    def test_smoke_mode_that_never_ends_is_killed(self) -> None:
        main = "import sys, time\n\nif __name__ == '__main__':\n    while True:\n        time.sleep(0.1)\n"
        start = time.monotonic()
        result, findings = execute({"main.py": main}, smoke_seconds=2)
        assert time.monotonic() - start < 15
        assert result.timed_out and [(f.kind, f.file) for f in findings] == [("smoke_run", "main.py")]

    def test_import_failure_becomes_a_finding_with_traceback(self) -> None:
        _, findings = execute({"main.py": MAIN, "lib.py": LIB + "Y = 1 / 0\n"})
        errors = [f for f in findings if f.severity == "error"]
        # lib.py breaks its own import, main.py's (which imports it) and the smoke run: all on lib.py:6.
        assert {(f.file, f.line) for f in errors} == {("lib.py", 6)}
        assert {f.kind for f in errors} == {"smoke_import", "smoke_run"}
        assert all("ZeroDivisionError" in f.detail for f in errors)

    def test_unsafe_requirement_lines_are_refused_before_anything_runs(self) -> None:
        result, findings = execute_repository(
            {"main.py": MAIN, "lib.py": LIB},
            entry_point="main.py",
            requirements=["evil @ http://example.invalid/evil.tar.gz"],
        )
        assert [(f.file, f.kind) for f in findings] == [("requirements.txt", "install_failed")]
        assert result.steps == []


class TestEnvironments:
    def test_environment_is_built_once_and_reused(self, tmp_path: Path) -> None:
        box = Sandbox.detect()
        first, _ = ensure_environment(["pyyaml"], BorrowedSiteBuilder(), box, root=tmp_path)
        again, _ = ensure_environment(["PyYAML"], BorrowedSiteBuilder(), box, root=tmp_path)
        other, _ = ensure_environment(["pyyaml", "rich"], BorrowedSiteBuilder(), box, root=tmp_path)
        assert first and again and other
        assert not first.reused and again.reused and again.root == first.root
        assert other.root != first.root

    def test_real_pip_installs_a_local_wheel_offline_in_the_sandbox(self, tmp_path: Path) -> None:
        pkg = tmp_path / "tinypkg"
        (pkg / "tinypkg").mkdir(parents=True)
        (pkg / "tinypkg" / "__init__.py").write_text("VALUE = 42\n")
        (pkg / "pyproject.toml").write_text(
            '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n\n'
            '[project]\nname = "tinypkg"\nversion = "1.0"\n'
        )
        wheels = tmp_path / "wheels"
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-index", "--no-build-isolation", "--no-deps",
             "-w", str(wheels), str(pkg)],
            check=True, capture_output=True, timeout=300,
        )  # fmt: skip
        builder = PipBuilder(pip_args=("--no-index", "--find-links", str(wheels)), tools=())
        files = {
            "main.py": "import sys\nimport tinypkg\n\nif __name__ == '__main__':\n"
            "    assert sys.argv[1] == 'smoke'\n    print('value', tinypkg.VALUE)\n"
        }
        result, findings = execute_repository(
            files,
            entry_point="main.py",
            requirements=["tinypkg==1.0"],
            builder=builder,
            env_root=tmp_path / "envs",
        )
        assert findings == [], result.log
        assert result.installed and "value 42" in result.log

    def test_a_wheel_that_is_not_there_is_an_install_finding(self, tmp_path: Path) -> None:
        builder = PipBuilder(pip_args=("--no-index", "--find-links", str(tmp_path)), tools=())
        result, findings = execute_repository(
            {"main.py": MAIN, "lib.py": LIB},
            entry_point="main.py",
            requirements=["nonexistent-tiny-package==9.9"],
            builder=builder,
            env_root=tmp_path / "envs",
        )
        assert [(f.file, f.kind) for f in findings] == [("requirements.txt", "install_failed")]
        assert "nonexistent-tiny-package" in findings[0].detail and not result.installed


def test_the_designed_smoke_command_is_tried_first() -> None:
    from papercoder_mcp.verify.smoke import smoke_commands

    assert smoke_commands("main.py", ["run", "--tiny"]) == [
        ["main.py", "run", "--tiny"],
        ["main.py", "smoke"],
        ["main.py", "--smoke"],
    ]
    assert smoke_commands("main.py", ["smoke"]) == [["main.py", "smoke"], ["main.py", "--smoke"]]
    assert smoke_commands("main.py") == [["main.py", "smoke"], ["main.py", "--smoke"]]

"""The smoke sandbox contains what generated code could do: each test tries one escape and fails at it."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from papercoder_mcp.errors import SandboxUnavailable
from papercoder_mcp.verify import sandbox as sandbox_module
from papercoder_mcp.verify.sandbox import Limits, Sandbox, Workspace, _bwrap_works, _processes_of

ROOT = Path(__file__).resolve().parents[1]
needs_bwrap = pytest.mark.skipif(
    not sys.platform.startswith("linux") or _bwrap_works() is not None,
    reason=f"no working bubblewrap here: {_bwrap_works() if sys.platform.startswith('linux') else 'not Linux'}",
)
SECRETS = {
    "DATABASE_URL": "postgres://admin:hunter2@db/prod",
    "GH_PAT": "ghp_secretsecretsecret",
    "SSH_AUTH_SOCK": "/run/user/0/ssh-agent.sock",
    "NPM_AUTH": "npm-secret-token",
    "ANTHROPIC_API_KEY": "sk-ant-secret",
}


@pytest.fixture
def ws() -> object:
    workspace = Workspace.create()
    yield workspace
    workspace.remove()


def run_code(box: Sandbox, ws: Workspace, code: str, **limits: object) -> sandbox_module.RunResult:
    (ws.repo / "probe.py").write_text(code)
    return box.run(["python3", "probe.py"], workspace=ws, limits=Limits(**limits))  # type: ignore[arg-type]


@needs_bwrap
class TestContainment:
    def test_parent_environment_is_not_readable(self, ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
        for key, value in SECRETS.items():
            monkeypatch.setenv(key, value)
        code = (
            "import os, sys\n"
            "print('ENV', dict(os.environ))\n"
            "for pid in {os.getppid(), " + str(os.getpid()) + ", 1}:\n"
            "    try:\n"
            "        print('READ', pid, open(f'/proc/{pid}/environ', 'rb').read())\n"
            "    except OSError as exc:\n"
            "        print('DENIED', pid, exc)\n"
        )
        result = run_code(Sandbox.detect(), ws, code, wall_seconds=20)
        assert result.ok, result.output
        for value in SECRETS.values():
            assert value not in result.output
        assert f"DENIED {os.getpid()}" in result.output  # our own pid does not exist in its namespace
        env_line = next(line for line in result.output.splitlines() if line.startswith("ENV"))
        for key in SECRETS:
            assert key not in env_line

    def test_setsid_grandchild_dies_at_the_timeout(self, ws: Workspace) -> None:
        code = (
            "import subprocess, time\n"
            "subprocess.Popen(['python3', '-c', 'import time\\nwhile True: time.sleep(1)'],"
            " start_new_session=True)\n"
            "print('started', flush=True)\n"
            "time.sleep(600)\n"
        )
        box = Sandbox.detect()
        start = time.monotonic()
        result = run_code(box, ws, code, wall_seconds=2)
        elapsed = time.monotonic() - start
        assert result.timed_out and result.returncode is None
        assert "started" in result.output
        assert elapsed < 2 + 4, elapsed
        assert box.uid is None or _wait_until_gone(box.uid)

    def test_fork_loop_is_capped(self, ws: Workspace) -> None:
        code = (
            "import os, time\n"
            "made = 0\n"
            "for _ in range(150):\n"
            "    try:\n"
            "        if os.fork() == 0:\n"
            "            time.sleep(30)\n"
            "            os._exit(0)\n"
            "        made += 1\n"
            "    except OSError as exc:\n"
            "        print('refused', exc.errno, flush=True)\n"
            "        break\n"
            "print('made', made, flush=True)\n"
        )
        box = Sandbox.detect()
        result = run_code(box, ws, code, wall_seconds=10, processes=20)
        made = int(result.output.split("made")[-1].split()[0])
        assert "refused" in result.output and made < 20, result.output
        assert box.uid is None or _wait_until_gone(box.uid)

    def test_network_connect_to_a_host_listener_fails(self, ws: Workspace) -> None:
        with socket.socket() as server:
            server.bind(("127.0.0.1", 0))
            server.listen()
            port = server.getsockname()[1]
            code = (
                "import socket\n"
                "try:\n"
                f"    socket.create_connection(('127.0.0.1', {port}), timeout=3)\n"
                "    print('CONNECTED')\n"
                "except OSError as exc:\n"
                "    print('refused', exc)\n"
            )
            result = run_code(Sandbox.detect(), ws, code, wall_seconds=20)
        assert "refused" in result.output and "CONNECTED" not in result.output

    def test_writes_outside_the_copy_fail(self, ws: Workspace, tmp_path: Path) -> None:
        home_file = tmp_path / "home" / "notes.txt"
        home_file.parent.mkdir(parents=True)
        home_file.write_text("private")
        code = (
            "import pathlib\n"
            f"for target in ['../../x', '../x', {str(ws.root / 'outside.txt')!r}, {str(home_file)!r}]:\n"
            "    try:\n"
            "        pathlib.Path(target).write_text('pwned')\n"
            "        print('WROTE', target)\n"
            "    except OSError as exc:\n"
            "        print('refused', target, exc.strerror)\n"
            "try:\n"
            f"    print('READ', open({str(home_file)!r}).read())\n"
            "except OSError as exc:\n"
            "    print('unreadable', exc.strerror)\n"
            "pathlib.Path('inside.txt').write_text('ok')\n"
        )
        result = run_code(Sandbox.detect(), ws, code, wall_seconds=20)
        assert result.ok, result.output
        assert "WROTE" not in result.output and "READ" not in result.output, result.output
        assert not (ws.root / "outside.txt").exists() and not Path("/x").exists()
        assert home_file.read_text() == "private"
        assert (ws.repo / "inside.txt").read_text() == "ok"

    def test_output_is_read_with_a_bound(self, ws: Workspace) -> None:
        code = "import sys\nfor _ in range(200):\n    sys.stdout.write('y' * 50_000)\nprint('END')\n"
        result = run_code(Sandbox.detect(), ws, code, wall_seconds=20, output_bytes=100_000)
        assert result.ok and result.truncated
        assert len(result.output) < 101_000 and result.output.endswith("END\n")

    def test_memory_per_process_is_capped(self, ws: Workspace) -> None:
        code = "x = bytearray(800 * 1024 * 1024)\nprint('ALLOCATED')\n"
        result = run_code(Sandbox.detect(), ws, code, wall_seconds=20, memory_bytes=400 * 1024**2)
        assert "MemoryError" in result.output and "ALLOCATED" not in result.output


@needs_bwrap
class TestSandboxFailure:
    def test_a_sandbox_that_cannot_start_is_never_blamed_on_the_code(
        self, ws: Workspace, tmp_path: Path
    ) -> None:
        (ws.repo / "probe.py").write_text("print('ran')\n")
        with pytest.raises(SandboxUnavailable, match="could not start"):
            Sandbox.detect().run(
                ["python3", "probe.py"], workspace=ws, limits=Limits(), cwd="/no/such/folder"
            )
        # A command that fails on its own is a result, not a sandbox failure.
        failed = Sandbox.detect().run(["python3", "-c", "raise SystemExit(3)"], workspace=ws, limits=Limits())
        assert failed.returncode == 3


class TestRefusal:
    def test_without_bwrap_it_refuses_unless_unsandboxed(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ws: Workspace
    ) -> None:
        monkeypatch.setenv("PATH", str(tmp_path / "empty"))
        _bwrap_works.cache_clear()
        try:
            with pytest.raises(SandboxUnavailable, match="--unsandboxed"):
                Sandbox.detect()
            box = Sandbox.detect(unsandboxed=True)
            monkeypatch.setenv("GH_PAT", SECRETS["GH_PAT"])
            (ws.repo / "probe.py").write_text("import os\nprint(sorted(os.environ))\n")
            result = box.run([sys.executable, "probe.py"], workspace=ws, limits=Limits(wall_seconds=20))
            assert result.ok and "GH_PAT" not in result.output and "'HOME'" in result.output
        finally:
            _bwrap_works.cache_clear()


def _wait_until_gone(uid: int, seconds: float = 5) -> bool:
    """True once no process of `uid` is left on the host (the namespace's teardown is asynchronous)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _processes_of(uid) == 0:
            return True
        time.sleep(0.1)
    return False


_AS_USER = r"""
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("sbx", sys.argv[1])
sbx = importlib.util.module_from_spec(spec)
sys.modules["sbx"] = sbx
spec.loader.exec_module(sbx)
ws = sbx.Workspace.create()
(ws.repo / "probe.py").write_text(sys.argv[2])
result = sbx.Sandbox.detect().run(["python3", "probe.py"], workspace=ws, limits=sbx.Limits(wall_seconds=20, processes=20))
ws.remove()
print(json.dumps({"ok": result.ok, "output": result.output}))
"""
UNPRIVILEGED_PROBE = (
    "import os, socket, time\n"
    "for target in ['../../x', '/x', '/usr/x']:\n"
    "    try:\n        open(target, 'w')\n        print('WROTE', target)\n"
    "    except OSError as exc:\n        print('refused', target)\n"
    "try:\n    socket.create_connection(('127.0.0.1', 9), timeout=2)\n    print('CONNECTED')\n"
    "except OSError:\n    print('no network')\n"
    "made = 0\nfor _ in range(100):\n    try:\n        if os.fork() == 0:\n"
    "            time.sleep(5)\n            os._exit(0)\n        made += 1\n"
    "    except OSError:\n        break\nprint('made', made)\n"
)


def _unprivileged_python() -> tuple[list[str], dict[str, str]] | None:
    """A way to run the sandbox module as `nobody` here (root, setpriv, an interpreter nobody can use)."""
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None:
        return None
    paths = os.pathsep.join(p for p in sys.path if p.endswith("site-packages"))
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "PYTHONPATH": f"{ROOT}{os.pathsep}{paths}"}
    for py in ("/usr/bin/python3", os.path.realpath(sys.executable)):
        cmd = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", py]
        check = subprocess.run(
            [*cmd, "-c", "import os, sys, pydantic; os.lstat(os.path.dirname(os.path.realpath(sys.executable))); "
             f"os.lstat(sys.base_prefix); assert sys.version_info[:2] == {tuple(sys.version_info[:2])}"],
            env=env, capture_output=True, timeout=60, check=False,
        )  # fmt: skip
        if check.returncode == 0:
            return cmd, env
    return None


@needs_bwrap
class TestUnprivilegedUser:
    """The path a user's laptop takes: bwrap without root, in a user namespace."""

    def test_a_normal_user_gets_the_same_containment(self) -> None:
        how = _unprivileged_python()
        if how is None:
            pytest.skip("needs root, setpriv and an interpreter the nobody user can run with our packages")
        cmd, env = how
        sandbox_py = str(ROOT / "papercoder_mcp" / "verify" / "sandbox.py")
        done = subprocess.run(
            [*cmd, "-c", _AS_USER, sandbox_py, UNPRIVILEGED_PROBE],
            env=env, capture_output=True, text=True, timeout=120, check=False, cwd="/tmp",
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        out = json.loads(done.stdout.strip().splitlines()[-1])["output"]
        assert "WROTE" not in out and out.count("refused") == 3, out
        assert "no network" in out
        made = int(out.split("made")[-1].split()[0])
        assert made <= 20, out  # capped near the limit (the user's own processes count too), far below 100

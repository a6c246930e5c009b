"""The installed `papercoder-mcp serve` as a real subprocess: stdio, streamable HTTP, the MCP Inspector CLI."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest
from mcp import Client, MCPError, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult

from papercoder_mcp.pipeline.status import run_status
from papercoder_mcp.store import Store

from mcp_helpers import PAPER_MD, ModelCallback

pytestmark = pytest.mark.anyio

CLI = Path(sys.executable).parent / "papercoder-mcp"
TOOLS = {
    "parse_paper",
    "evaluate_repo",
    "verify_repo",
    "repair_file",
    "check_coverage",
    "make_plan",
    "design_architecture",
    "order_files",
    "write_config",
    "analyze_file",
    "generate_file",
    "run_pipeline",
    "submit_artifact",
    "edit_artifact",
    "get_run",
    "list_runs",
    "export_repo",
}
FILES = [
    "utils.py",
    "model.py",
    "dataset.py",
    "trainer.py",
    "evaluation.py",
    "main.py",
    "tests/test_model.py",
]
CALLS = 4 + 2 * len(FILES) + 1  # planning, an analysis and a generation per file, the coverage check
TOKEN = "s3cret"
ACCEPT = {"Accept": "application/json, text/event-stream"}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "raw", "version": "0"},
    },
}
# Pinned: npm picks the newest release whose `engines` fit the local node, so an unpinned name gives
# 0.15.0 on node 20 and a 2.x (different CLI) on node 22. 0.15.0 runs on both.
INSPECTOR = "@modelcontextprotocol/inspector@0.15.0"
# Read before conftest points HOME at a tmp dir: the inspector is fetched once into the user's npm cache.
ROOT = Path(__file__).resolve().parents[1]


def server_env(db: Path, home: Path) -> dict[str, str]:
    """The environment for a server subprocess: no API key (so the client's model samples), its own store."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "PAPERCODER_"))}
    env.update(PAPERCODER_DB=str(db), HOME=str(home))
    return env


def data(result: CallToolResult) -> dict:  # type: ignore[type-arg]
    assert not result.is_error, result.content[0].text if result.content else result
    assert result.structured_content is not None
    return result.structured_content


def text_of(result: object) -> str:
    return result.contents[0].text  # type: ignore[attr-defined,no-any-return]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def paper(tmp_path: Path) -> Path:
    p = tmp_path / "paper.md"
    p.write_text(PAPER_MD)
    return p


class TestStdio:
    async def test_a_whole_run_through_the_installed_console_script(
        self, tmp_path: Path, paper: Path
    ) -> None:
        db = tmp_path / "stdio.db"
        params = StdioServerParameters(
            command=str(CLI), args=["--db", str(db), "serve"], env=server_env(db, tmp_path / "home")
        )
        callback = ModelCallback()
        # Any stray byte on stdout would corrupt the JSON-RPC stream: the session working is the proof.
        async with Client(params, sampling_callback=callback) as client:
            assert client.protocol_version == "2026-07-28"
            assert {t.name for t in (await client.list_tools()).tools} == TOOLS
            run_id = data(await client.call_tool("parse_paper", {"path": str(paper)}))["run_id"]
            statuses = []
            for _ in range(5):
                statuses.append(data(await client.call_tool("run_pipeline", {"run_id": run_id}))["status"])
                if statuses[-1] == "verified":
                    break
            assert statuses[-1] == "verified" and set(statuses[:-1]) <= {"partial"}, statuses
            assert "Tiny Attention" in text_of(
                await client.read_resource(f"papercoder://runs/{run_id}/paper")
            )
            code = text_of(await client.read_resource(f"papercoder://runs/{run_id}/files/main.py"))
            assert code.startswith('"""main.py')
            calls = json.loads(text_of(await client.read_resource(f"papercoder://runs/{run_id}/calls")))
            assert len(calls) == CALLS
            runs = data(await client.call_tool("list_runs", {}))["runs"]
            assert [r["run_id"] for r in runs] == [run_id]
        assert len(callback.asked) == CALLS
        with Store(db) as store:
            assert run_status(store, run_id).complete
            kinds = {(a.kind, a.key) for a in store.list_artifacts(run_id)}
            for kind in ["plan", "architecture", "file_order", "config", "coverage"]:
                assert (kind, "") in kinds
            for path in FILES:
                assert ("analysis", path) in kinds and ("code", path) in kinds
            assert {c.sampler for c in store.calls(run_id)} == {"mcp-sampling"}

    def test_stdout_stays_empty_outside_the_protocol(self, tmp_path: Path) -> None:
        """With stdin at EOF the server starts, logs to stderr, and ends without writing a byte to stdout."""
        db = tmp_path / "quiet.db"
        done = subprocess.run(
            [str(CLI), "--db", str(db), "serve"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env=server_env(db, tmp_path / "home"),
            timeout=30,
        )
        assert done.returncode == 0, done.stderr.decode()
        assert done.stdout == b""
        assert b"serving store" in done.stderr


@dataclass
class HttpServer:
    url: str
    port: int
    db: Path


@pytest.fixture(scope="module")
def http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpServer]:
    tmp = tmp_path_factory.mktemp("http")
    db, port = tmp / "http.db", free_port()
    stderr_path = tmp / "stderr.txt"
    with stderr_path.open("wb") as stderr:
        proc = subprocess.Popen(
            [str(CLI), "--db", str(db), "serve", "--http", "--port", str(port), "--token", TOKEN],
            stdin=subprocess.DEVNULL,
            stdout=stderr,
            stderr=stderr,
            env=server_env(db, tmp / "home"),
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"server exited with {proc.returncode}:\n{stderr_path.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"server did not accept connections in 30 s:\n{stderr_path.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield HttpServer(url=f"http://127.0.0.1:{port}/mcp", port=port, db=db)
    finally:
        stop(proc)


class TestHttp:
    async def test_the_right_token_gets_a_working_session(self, http_server: HttpServer, paper: Path) -> None:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx2.AsyncClient(headers=headers) as http:
            async with Client(
                streamable_http_client(http_server.url, http_client=http), sampling_callback=ModelCallback()
            ) as client:
                assert client.protocol_version == "2026-07-28"
                assert {t.name for t in (await client.list_tools()).tools} == TOOLS
                before = {r["run_id"] for r in data(await client.call_tool("list_runs", {}))["runs"]}
                run_id = data(await client.call_tool("parse_paper", {"path": str(paper)}))["run_id"]
                after = {r["run_id"] for r in data(await client.call_tool("list_runs", {}))["runs"]}
                assert after == before | {run_id}
                plan = data(await client.call_tool("make_plan", {"run_id": run_id}))
                assert plan["status"] == "done" and plan["sampler"] == "mcp-sampling"
        with Store(http_server.db) as store:
            assert store.find_artifact(run_id, "plan") is not None

    async def test_an_older_client_samples_mid_call_over_http(
        self, http_server: HttpServer, paper: Path
    ) -> None:
        """Classic sampling/createMessage rides the open tool call's stream on stateful HTTP."""
        headers = {"Authorization": f"Bearer {TOKEN}"}
        callback = ModelCallback()
        async with httpx2.AsyncClient(headers=headers) as http:
            async with Client(
                streamable_http_client(http_server.url, http_client=http),
                sampling_callback=callback,
                mode="legacy",
            ) as client:
                assert client.protocol_version < "2026-07-28"
                run_id = data(await client.call_tool("parse_paper", {"path": str(paper)}))["run_id"]
                plan = data(await client.call_tool("make_plan", {"run_id": run_id}))
                assert plan["status"] == "done" and plan["sampler"] == "mcp-sampling"
        assert len(callback.asked) == 1

    @pytest.mark.parametrize("auth", [None, "Bearer wrong", TOKEN], ids=["none", "wrong", "no-scheme"])
    async def test_a_missing_or_wrong_token_is_refused(
        self, http_server: HttpServer, auth: str | None
    ) -> None:
        headers = {"Authorization": auth} if auth else {}
        async with httpx2.AsyncClient(headers=headers) as http:
            response = await http.post(http_server.url, json=INITIALIZE, headers=ACCEPT)
            assert response.status_code == 401
            assert response.headers["www-authenticate"] == "Bearer"
            assert "bearer token" in response.json()["error"]
            with pytest.raises(ExceptionGroup) as failed:
                async with Client(streamable_http_client(http_server.url, http_client=http)) as client:
                    await client.list_tools()
            assert failed.group_contains(MCPError)

    async def test_the_scheme_is_case_insensitive_and_two_authorizations_are_refused(
        self, http_server: HttpServer
    ) -> None:
        async with httpx2.AsyncClient() as http:
            lower = await http.post(
                http_server.url, json=INITIALIZE, headers={"Authorization": f"bearer {TOKEN}", **ACCEPT}
            )
            assert lower.status_code == 200, lower.text
            twice = await http.post(
                http_server.url,
                json=INITIALIZE,
                headers=[
                    ("Authorization", "Bearer wrong"),
                    ("Authorization", f"Bearer {TOKEN}"),
                    *ACCEPT.items(),
                ],
            )
            assert twice.status_code == 400 and "more than one Authorization header" in twice.json()["error"]

    async def test_a_foreign_host_header_is_refused(self, http_server: HttpServer) -> None:
        """DNS-rebinding protection: the right token from a page served by another host name still fails."""
        headers = {"Authorization": f"Bearer {TOKEN}", **ACCEPT}
        async with httpx2.AsyncClient() as http:
            good = await http.post(http_server.url, json=INITIALIZE, headers=headers)
            assert good.status_code == 200, good.text
            bad = await http.post(
                http_server.url, json=INITIALIZE, headers={**headers, "Host": "evil.example"}
            )
            assert bad.status_code == 421
            bad = await http.post(
                http_server.url, json=INITIALIZE, headers={**headers, "Origin": "http://evil.example"}
            )
            assert bad.status_code == 403

    def test_a_public_host_without_a_token_does_not_start(self, tmp_path: Path) -> None:
        db = tmp_path / "public.db"
        done = subprocess.run(
            [str(CLI), "--db", str(db), "serve", "--http", "--host", "0.0.0.0", "--port", str(free_port())],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env=server_env(db, tmp_path / "home"),
            timeout=30,  # on a regression the server would start: the timeout kills it and fails the test
        )
        assert done.returncode != 0
        err = done.stderr.decode().strip()
        assert len(err.splitlines()) == 1, err
        assert err.startswith("error:") and "--token" in err and "PAPERCODER_TOKEN" in err
        assert done.stdout == b""


# .ci/run installs the Inspector here from the npm registry; the tests never fetch it themselves.
INSPECTOR_BIN = Path(
    os.environ.get("PAPERCODER_INSPECTOR")
    or ROOT / ".ci" / "inspector" / "node_modules" / ".bin" / "mcp-inspector"
)


def inspector(*args: str, home: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "PAPERCODER_"))}
    env.update(HOME=str(home), npm_config_offline="true", npm_config_update_notifier="false")
    return subprocess.run(
        [str(INSPECTOR_BIN), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


class TestInspector:
    """The official MCP Inspector's CLI mode, a TypeScript-SDK client, against the installed script."""

    def test_inspector_cli_lists_the_tools_and_calls_one(self, tmp_path: Path, paper: Path) -> None:
        if shutil.which("node") is None or not INSPECTOR_BIN.exists():
            pytest.skip(f"the MCP Inspector ({INSPECTOR}) is not installed: `bash .ci/run` installs it")
        home = tmp_path / "home"
        home.mkdir(exist_ok=True)

        # The inspector starts the server with only a minimal environment (PATH, HOME, ...): pass --db.
        server = [str(CLI), "--db", str(tmp_path / "inspector.db"), "serve"]
        listed = inspector("--cli", *server, "--method", "tools/list", home=home, timeout=60)
        assert listed.returncode == 0, listed.stderr
        tools = json.loads(listed.stdout)["tools"]
        assert {t["name"] for t in tools} == TOOLS
        assert all(t["inputSchema"]["type"] == "object" for t in tools)

        called = inspector(
            "--cli",
            *server,
            "--method",
            "tools/call",
            "--tool-name",
            "parse_paper",
            "--tool-arg",
            f"path={paper}",
            home=home,
            timeout=60,
        )
        assert called.returncode == 0, called.stderr
        result = json.loads(called.stdout)
        assert result["isError"] is False
        assert result["structuredContent"]["title"] == "Tiny Attention"
        with Store(tmp_path / "inspector.db") as store:
            assert [r.id for r in store.list_runs()] == [result["structuredContent"]["run_id"]]

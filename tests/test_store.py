"""The artifact store against real SQLite files in tmp_path, including several real processes at once."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from papercoder_mcp.errors import ArtifactNotFound, PaperCoderError, RunNotFound, StoreError
from papercoder_mcp.store import Store, canonical_hash, default_db_path
from papercoder_mcp.store.migrations import MIGRATIONS
from papercoder_mcp.store.records import CallRecord

WORKER = Path(__file__).with_name("store_worker.py")


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "store.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    with Store(db_path) as s:
        yield s


def call(run_id: str, stage: str, cost: float | None, **kw: object) -> CallRecord:
    return CallRecord(
        run_id=run_id,
        stage=stage,
        sampler="fake",
        model="m",
        input_tokens=100,
        output_tokens=20,
        cost_usd=cost,
        **kw,  # type: ignore[arg-type]
    )


class TestRuns:
    def test_create_and_get(self, store: Store) -> None:
        run = store.create_run(title="Attention", source="/p.pdf", source_hash="abc", settings={"model": "x"})
        assert run.id.startswith("run-")
        got = store.get_run(run.id)
        assert got == run
        assert got.status == "created"
        assert got.settings == {"model": "x"}

    def test_explicit_id(self, store: Store) -> None:
        assert store.create_run(run_id="run-mine").id == "run-mine"
        assert store.get_run("run-mine").title == ""

    def test_list_newest_first(self, store: Store) -> None:
        ids = [store.create_run(title=f"t{i}").id for i in range(3)]
        assert [r.id for r in store.list_runs()] == ids[::-1]

    def test_find_by_source(self, store: Store) -> None:
        a = store.create_run(source_hash="h1")
        store.create_run(source_hash="h2")
        assert [r.id for r in store.find_runs_by_source("h1")] == [a.id]
        assert store.find_runs_by_source("nope") == []

    def test_update(self, store: Store) -> None:
        run = store.create_run(title="old")
        updated = store.update_run(run.id, status="done", title="new", settings={"budget": 2.5})
        assert (updated.status, updated.title, updated.settings) == ("done", "new", {"budget": 2.5})
        assert updated.updated_at >= run.updated_at
        assert store.get_run(run.id) == updated

    def test_update_keeps_unset_fields(self, store: Store) -> None:
        run = store.create_run(title="keep", settings={"a": 1})
        updated = store.update_run(run.id, status="running")
        assert (updated.title, updated.settings) == ("keep", {"a": 1})

    def test_unknown_run(self, store: Store) -> None:
        with pytest.raises(RunNotFound, match="run-nope") as info:
            store.get_run("run-nope")
        assert isinstance(info.value, StoreError)
        assert isinstance(info.value, PaperCoderError)
        with pytest.raises(RunNotFound):
            store.update_run("run-nope", status="x")
        with pytest.raises(RunNotFound):
            store.put_artifact("run-nope", "plan", "text")
        with pytest.raises(RunNotFound):
            store.list_artifacts("run-nope")
        with pytest.raises(RunNotFound):
            store.cost_summary("run-nope")

    def test_duplicate_run_id_is_rejected_and_store_still_works(self, store: Store) -> None:
        store.create_run(run_id="run-dup")
        with pytest.raises(sqlite3.IntegrityError):
            store.create_run(run_id="run-dup")
        assert not store.db.conn.in_transaction
        store.put_artifact("run-dup", "plan", "still writable")


class TestArtifacts:
    def test_versions_increment_per_kind_and_key(self, store: Store) -> None:
        run = store.create_run()
        assert [store.put_artifact(run.id, "plan", f"p{i}").version for i in range(3)] == [1, 2, 3]
        assert store.put_artifact(run.id, "code", "a", key="a.py").version == 1
        assert store.put_artifact(run.id, "code", "b", key="b.py").version == 1
        assert store.put_artifact(run.id, "code", "a2", key="a.py").version == 2

    def test_versions_are_per_run(self, store: Store) -> None:
        a, b = store.create_run(), store.create_run()
        store.put_artifact(a.id, "plan", "a1")
        store.put_artifact(a.id, "plan", "a2")
        assert store.put_artifact(b.id, "plan", "b1").version == 1

    def test_get_current_and_given_version(self, store: Store) -> None:
        run = store.create_run()
        store.put_artifact(run.id, "plan", "first", format="markdown", input_hash="h1", metadata={"n": 1})
        store.put_artifact(run.id, "plan", "second", format="markdown", input_hash="h2", metadata={"n": 2})
        current = store.get_artifact(run.id, "plan")
        assert (current.version, current.content, current.input_hash, current.metadata) == (
            2,
            "second",
            "h2",
            {"n": 2},
        )
        assert current.format == "markdown"
        old = store.get_artifact(run.id, "plan", version=1)
        assert (old.version, old.content, old.metadata) == (1, "first", {"n": 1})

    def test_put_returns_what_get_returns(self, store: Store) -> None:
        run = store.create_run()
        put = store.put_artifact(run.id, "config", "lr: 0.1\n", format="yaml", metadata={"k": [1, 2]})
        assert store.get_artifact(run.id, "config") == put

    def test_json_content(self, store: Store) -> None:
        run = store.create_run()
        store.put_artifact(run.id, "file_order", '{"files": ["a.py"]}', format="json")
        assert store.get_artifact(run.id, "file_order").json_content() == {"files": ["a.py"]}

    def test_put_touches_run_updated_at(self, store: Store) -> None:
        run = store.create_run()
        art = store.put_artifact(run.id, "plan", "p")
        assert store.get_run(run.id).updated_at == art.created_at

    def test_not_found(self, store: Store) -> None:
        run = store.create_run(run_id="run-a")
        store.put_artifact(run.id, "code", "x", key="a.py")
        assert store.find_artifact(run.id, "plan") is None
        with pytest.raises(ArtifactNotFound, match="run 'run-a' has no plan"):
            store.get_artifact(run.id, "plan")
        with pytest.raises(ArtifactNotFound, match="'b.py'"):
            store.get_artifact(run.id, "code", "b.py")
        with pytest.raises(ArtifactNotFound, match="version 7") as info:
            store.get_artifact(run.id, "code", "a.py", version=7)
        assert (info.value.kind, info.value.key, info.value.version) == ("code", "a.py", 7)

    def test_get_artifact_of_unknown_run_says_run(self, store: Store) -> None:
        with pytest.raises(RunNotFound):
            store.get_artifact("run-nope", "plan")

    def test_list_current_versions_only(self, store: Store) -> None:
        run = store.create_run()
        other = store.create_run()
        store.put_artifact(run.id, "plan", "p1")
        store.put_artifact(run.id, "code", "a1", key="a.py")
        store.put_artifact(run.id, "plan", "p2")
        store.put_artifact(run.id, "code", "b1", key="b.py")
        store.put_artifact(run.id, "code", "a2", key="a.py")
        store.put_artifact(other.id, "plan", "other")
        listed = {(a.kind, a.key): (a.version, a.content) for a in store.list_artifacts(run.id)}
        assert listed == {("plan", ""): (2, "p2"), ("code", "a.py"): (2, "a2"), ("code", "b.py"): (1, "b1")}

    def test_list_by_kind(self, store: Store) -> None:
        run = store.create_run()
        store.put_artifact(run.id, "plan", "p")
        store.put_artifact(run.id, "code", "a", key="a.py")
        store.put_artifact(run.id, "code", "b", key="b.py")
        store.put_artifact(run.id, "code", "a2", key="a.py")
        assert [(a.key, a.version) for a in store.list_artifacts(run.id, kind="code")] == [
            ("b.py", 1),
            ("a.py", 2),
        ]
        assert store.list_artifacts(run.id, kind="config") == []
        assert store.list_artifacts(store.create_run().id) == []

    def test_history(self, store: Store) -> None:
        run = store.create_run()
        for i in range(4):
            store.put_artifact(run.id, "code", f"v{i + 1}", key="m.py")
        store.put_artifact(run.id, "code", "other", key="n.py")
        assert [(a.version, a.content) for a in store.history(run.id, "code", "m.py")] == [
            (1, "v1"),
            (2, "v2"),
            (3, "v3"),
            (4, "v4"),
        ]
        assert store.history(run.id, "plan") == []

    def test_unicode_and_large_content_round_trip(self, store: Store) -> None:
        run = store.create_run()
        content = "λ softmax(QKᵀ/√d) — 注意\n" * 20_000
        store.put_artifact(run.id, "paper", content)
        assert store.get_artifact(run.id, "paper").content == content


class TestCalls:
    def test_record_and_list(self, store: Store) -> None:
        run = store.create_run()
        first = store.record_call(call(run.id, "plan", 0.01, stop_reason="end_turn", latency_s=1.5))
        second = store.record_call(
            call(run.id, "analyze_file", 0.02, key="a.py", attempt=2, error="bad json")
        )
        assert first.id is not None and second.id is not None and second.id > first.id
        assert first.created_at
        calls = store.calls(run.id)
        assert calls == [first, second]
        assert calls[1].key == "a.py" and calls[1].attempt == 2 and calls[1].error == "bad json"
        assert store.calls(run.id, stage="plan") == [first]
        assert store.calls(store.create_run().id) == []

    def test_unpriced_call_keeps_none(self, store: Store) -> None:
        run = store.create_run()
        store.record_call(call(run.id, "plan", None))
        assert store.calls(run.id)[0].cost_usd is None

    def test_cost_summary_per_stage(self, store: Store) -> None:
        run = store.create_run()
        other = store.create_run()
        store.record_call(call(run.id, "plan", 0.25, cache_read_tokens=7))
        store.record_call(call(run.id, "generate_file", 0.5, key="a.py", cache_write_tokens=3))
        store.record_call(call(run.id, "generate_file", None, key="b.py"))
        store.record_call(call(run.id, "plan", 0.25))
        store.record_call(call(other.id, "plan", 100.0))

        summary = store.cost_summary(run.id)
        assert summary.run_id == run.id
        assert summary.total_usd == pytest.approx(1.0)
        assert summary.calls == 4
        assert summary.unpriced_calls == 1
        by_stage = {s.stage: s for s in summary.by_stage}
        assert [s.stage for s in summary.by_stage] == ["plan", "generate_file"]
        plan, gen = by_stage["plan"], by_stage["generate_file"]
        assert (plan.calls, plan.cost_usd, plan.unpriced_calls) == (2, pytest.approx(0.5), 0)
        assert (plan.input_tokens, plan.output_tokens, plan.cache_read_tokens) == (200, 40, 7)
        assert (gen.calls, gen.cost_usd, gen.unpriced_calls, gen.cache_write_tokens) == (
            2,
            pytest.approx(0.5),
            1,
            3,
        )
        assert store.total_cost(run.id) == pytest.approx(1.0)

    def test_cost_summary_empty_and_all_unpriced(self, store: Store) -> None:
        run = store.create_run()
        empty = store.cost_summary(run.id)
        assert (empty.total_usd, empty.calls, empty.unpriced_calls, empty.by_stage) == (0.0, 0, 0, [])
        assert store.total_cost(run.id) == 0.0
        store.record_call(call(run.id, "plan", None))
        summary = store.cost_summary(run.id)
        assert (summary.total_usd, summary.calls, summary.unpriced_calls) == (0.0, 1, 1)
        assert summary.by_stage[0].cost_usd == 0.0


class TestCanonicalHash:
    def test_stable_across_key_order(self) -> None:
        a = {"paper": "x", "plan": {"b": 1, "a": [1, 2, {"z": 0, "y": None}]}}
        b = {"plan": {"a": [1, 2, {"y": None, "z": 0}], "b": 1}, "paper": "x"}
        assert canonical_hash(a) == canonical_hash(b)
        assert len(canonical_hash(a)) == 64

    def test_sensitive_to_values_and_list_order(self) -> None:
        assert canonical_hash({"a": 1}) != canonical_hash({"a": 2})
        assert canonical_hash([1, 2]) != canonical_hash([2, 1])

    def test_known_value(self) -> None:
        # sha256 of '{"a":1,"b":"é"}': compact, sorted, UTF-8 (a change here breaks every resume)
        import hashlib

        expected = hashlib.sha256('{"a":1,"b":"é"}'.encode()).hexdigest()
        assert canonical_hash({"b": "é", "a": 1}) == expected


class TestFileAndSchema:
    def test_wal_and_user_version(self, store: Store, db_path: Path) -> None:
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store.schema_version == len(MIGRATIONS)
        with sqlite3.connect(db_path) as raw:
            assert raw.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
            assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # persistent in the file
            tables = {r[0] for r in raw.execute("select name from sqlite_master where type = 'table'")}
        assert {"runs", "artifacts", "calls"} <= tables
        assert store.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert store.db.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000

    def test_reopen_keeps_data_and_migrate_is_idempotent(self, db_path: Path) -> None:
        with Store(db_path) as s:
            run = s.create_run(title="kept")
            s.put_artifact(run.id, "plan", "p")
        for _ in range(2):
            with Store(db_path) as s:
                assert s.schema_version == len(MIGRATIONS)
                assert s.get_run(run.id).title == "kept"
                assert s.get_artifact(run.id, "plan").content == "p"
                assert s.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)

    def test_newer_schema_is_refused(self, db_path: Path) -> None:
        Store(db_path).close()
        with sqlite3.connect(db_path) as raw:
            raw.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 5}")
        with pytest.raises(StoreError, match="newer") as info:
            Store(db_path)
        assert "upgrade papercoder-mcp" in str(info.value)

    def test_not_a_database(self, tmp_path: Path) -> None:
        bogus = tmp_path / "notes.db"
        bogus.write_bytes(b"this is not sqlite at all\n" * 200)
        with pytest.raises(StoreError, match="not a usable papercoder store"):
            Store(bogus)
        assert bogus.read_bytes().startswith(b"this is not sqlite")  # left untouched

    def test_unopenable_path(self, tmp_path: Path) -> None:
        blocker = tmp_path / "file"
        blocker.write_text("x")
        with pytest.raises(StoreError, match="cannot open the store"):
            Store(blocker / "sub" / "store.db")

    def test_creates_parent_directories(self, tmp_path: Path) -> None:
        path = tmp_path / "a" / "b" / "store.db"
        Store(path).close()
        assert path.exists()

    def test_default_path_follows_env(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        assert default_db_path() == tmp_path / "store.db"  # set by the autouse fixture
        monkeypatch.setenv("PAPERCODER_DB", str(tmp_path / "elsewhere.db"))
        with Store() as s:
            assert s.path == tmp_path / "elsewhere.db"
        monkeypatch.delenv("PAPERCODER_DB")
        assert default_db_path().name == "store.db"
        assert str(tmp_path) in str(default_db_path())  # XDG_DATA_HOME / HOME point into tmp_path

    def test_integrity_check_ok(self, store: Store) -> None:
        assert store.integrity_check() == "ok"

    def test_failed_write_rolls_back(self, store: Store) -> None:
        run = store.create_run()
        with pytest.raises(RuntimeError), store._write() as conn:
            conn.execute(
                "insert into artifacts (run_id, kind, key, version, content, created_at) values (?, 'plan', '', 1, 'x', 'now')",
                [run.id],
            )
            raise RuntimeError("boom")
        assert store.history(run.id, "plan") == []
        assert store.put_artifact(run.id, "plan", "y").version == 1


class TestThreads:
    def test_one_store_shared_by_threads(self, store: Store) -> None:
        """Threads sharing one Store (one connection) neither nest transactions nor lose writes."""
        run = store.create_run()
        errors: list[BaseException] = []

        def work(n: int) -> None:
            try:
                for i in range(100):
                    store.put_artifact(run.id, "code", f"{n}-{i}", key="a.py")
                    store.record_call(call(run.id, "generate_file", 0.01))
                    store.list_artifacts(run.id)
                    store.cost_summary(run.id)
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert errors == []
        assert [a.version for a in store.history(run.id, "code", "a.py")] == list(range(1, 401))
        assert len(store.calls(run.id)) == 400


def _worker(db: Path, run_id: str, count: int, name: str, **opts: object) -> subprocess.Popen[str]:
    args = [sys.executable, str(WORKER), str(db), run_id, str(count), "--name", name]
    for k, v in opts.items():
        args += [f"--{k}", str(v)]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


class TestManyProcesses:
    def test_concurrent_writers_of_the_same_artifact(self, db_path: Path) -> None:
        with Store(db_path) as s:
            run = s.create_run(run_id="run-shared")
        n, writers = 300, 3
        go = db_path.with_name("go")
        procs = [_worker(db_path, run.id, n, f"w{i}", go=go) for i in range(writers)]
        for p in procs:  # every worker has the store open before any of them writes
            assert p.stdout is not None
            assert p.stdout.readline().strip().endswith("ready"), p.stderr.read() if p.stderr else ""
        go.touch()
        outputs = [p.communicate(timeout=60) for p in procs]
        for p, (out, err) in zip(procs, outputs, strict=True):
            assert p.returncode == 0, err
            assert "locked" not in err.lower()
            assert out.strip().endswith(f"wrote {n}")

        with Store(db_path) as s:
            history = s.history(run.id, "code", "src/model.py")
            assert [a.version for a in history] == list(range(1, n * writers + 1))
            order = [a.metadata["writer"] for a in history]
            assert set(order) == {f"w{i}" for i in range(writers)}
            switches = sum(1 for a, b in zip(order, order[1:], strict=False) if a != b)
            assert switches > writers  # the writers really interleaved, they did not take turns
            contents = [a.content for a in history]
            assert len(set(contents)) == len(contents)  # every write kept once
            assert len(s.calls(run.id)) == n * writers
            assert s.cost_summary(run.id).total_usd == pytest.approx(0.001 * n * writers)
            assert s.integrity_check() == "ok"

    def test_first_open_by_many_processes_at_once(self, tmp_path: Path) -> None:
        """Several processes racing to create and migrate a fresh file all succeed."""
        db = tmp_path / "fresh.db"
        code = (
            "import sys; from papercoder_mcp.store import Store\n"
            "s = Store(sys.argv[1]); print(s.schema_version); s.close()\n"
        )
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", code, str(db)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(4)
        ]
        for p in procs:
            out, err = p.communicate(timeout=60)
            assert p.returncode == 0, err
            assert out.strip() == str(len(MIGRATIONS))

    @pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
    def test_sigkill_mid_write_recovers(self, db_path: Path) -> None:
        """A writer killed at an arbitrary point loses at most its open transaction; the file stays sound."""
        with Store(db_path) as s:
            run = s.create_run(run_id="run-killed")
        rng = random.Random(1234)
        total = 0
        for _round in range(3):
            proc = _worker(db_path, run.id, 0, "victim", size=50_000)
            assert proc.stdout is not None
            seen = total
            deadline = time.monotonic() + 30
            while seen < total + 20 and time.monotonic() < deadline:
                line = proc.stdout.readline()
                if not line:
                    break
                seen = int(line.split()[-1])
            assert seen >= total + 20, proc.stderr.read() if proc.stderr else ""
            time.sleep(rng.uniform(0, 0.02))  # land anywhere, most likely inside a write
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            proc.stdout.close()
            assert proc.stderr is not None
            proc.stderr.close()
            assert proc.returncode == -signal.SIGKILL
            assert Path(str(db_path) + "-wal").exists()  # the log is left behind for recovery

            with Store(db_path) as s:
                assert s.integrity_check() == "ok"
                versions = [a.version for a in s.history(run.id, "code", "src/model.py")]
                k = len(versions)
                assert k >= seen
                assert versions == list(range(1, k + 1))
                after = s.put_artifact(run.id, "code", "after", key="src/model.py")
                assert after.version == k + 1
                s.record_call(call(run.id, "generate_file", 0.0))
                assert s.get_artifact(run.id, "code", "src/model.py").content == "after"
                total = after.version

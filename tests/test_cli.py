"""The command line, through typer's CliRunner and through the real installed script in a subprocess."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pymupdf
import pytest
from typer.testing import CliRunner

from papercoder_mcp import __version__
from papercoder_mcp.cli import app, main
from papercoder_mcp.paper import Block, Paper, Section
from papercoder_mcp.pipeline.ingest import source_hash
from papercoder_mcp.store import Store
from papercoder_mcp.store.records import CallRecord

runner = CliRunner()
SCRIPT = Path(sys.executable).with_name("papercoder-mcp")
RUN_ID = re.compile(r"saved as run (run-[0-9a-f]+)")

BODY = (
    "We train a zebrafish-inspired mixer on tiny images and report accuracy.",
    "The mixer replaces attention with a learned sparse permutation of tokens.",
)


def make_pdf(path: Path) -> Path:
    """A one-page paper: title, abstract, two numbered sections and a reference list."""
    doc = pymupdf.open()
    page = doc.new_page()
    y = 90.0

    def line(text: str, size: float, gap: float) -> None:
        nonlocal y
        page.insert_text((72, y), text, fontsize=size)
        y += gap

    line("Sparse Mixers for Tiny Images", 20, 40)
    line("Abstract", 12, 18)
    line("We propose sparse mixers, a cheap replacement for attention on small inputs.", 10, 30)
    line("1 Introduction", 13, 20)
    line(BODY[0], 10, 14)
    line("Our method is simple and fast, and it needs no pretraining at all.", 10, 30)
    line("2 Method", 13, 20)
    line(BODY[1], 10, 14)
    line("Training uses SGD with momentum 0.9 for 90 epochs on one GPU.", 10, 30)
    line("References", 13, 20)
    line("[1] A. Vaswani et al. Attention is all you need. NeurIPS, 2017.", 9, 13)
    line("[2] I. Tolstikhin et al. MLP-Mixer: an all-MLP architecture. NeurIPS, 2021.", 9, 13)
    doc.save(path)
    doc.close()
    return path


@pytest.fixture
def pdf(tmp_path: Path) -> Path:
    return make_pdf(tmp_path / "mixer.pdf")


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """The store the CLI uses by default in tests ($PAPERCODER_DB, set by the autouse fixture)."""
    return Path(os.environ["PAPERCODER_DB"])


def sample_paper() -> Paper:
    return Paper(
        title="Hand-made Paper",
        abstract="A tiny abstract.",
        sections=[
            Section(title="Method", number="1", blocks=[Block(kind="paragraph", text="Unique body text.")])
        ],
        references=["[1] Someone. Something. 2020."],
        page_count=3,
        source_format="markdown",
    )


def make_run(db: Path, *, with_paper: bool = True) -> str:
    with Store(db) as store:
        run = store.create_run(title="Hand-made Paper", source="/papers/hand.md", source_hash="h")
        if with_paper:
            store.put_artifact(run.id, "paper", sample_paper().model_dump_json(), format="json")
        store.put_artifact(run.id, "plan", "plan v1", format="markdown")
        store.put_artifact(run.id, "plan", "plan v2", format="markdown")
        store.put_artifact(run.id, "code", "print('model')\n", key="src/model.py", format="python")
        store.record_call(CallRecord(run_id=run.id, stage="plan", sampler="fake", cost_usd=0.0125))
        store.record_call(CallRecord(run_id=run.id, stage="plan", sampler="fake", cost_usd=None))
        return run.id


def assert_one_line_error(stderr: str, *needles: str) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    for needle in needles:
        assert needle in lines[0]
    assert "Traceback" not in stderr


class TestVersionAndHelp:
    def test_version(self) -> None:
        result = runner.invoke(app, ["--version"])
        assert result.exit_code == 0
        assert result.stdout.strip() == f"papercoder-mcp {__version__}"

    def test_help_lists_commands_and_db_option(self) -> None:
        result = runner.invoke(app, ["--help"])
        assert result.exit_code == 0
        for word in ("parse", "runs", "show", "--db", "--version"):
            assert word in result.stdout

    def test_no_arguments_shows_help(self) -> None:
        result = runner.invoke(app, [])
        assert "Usage" in result.output
        assert "parse" in result.output

    def test_command_help(self) -> None:
        result = runner.invoke(app, ["parse", "--help"])
        assert result.exit_code == 0
        for word in ("--format", "--out", "--save", "--no-references"):
            assert word in result.stdout


class TestParse:
    def test_markdown_to_stdout(self, pdf: Path) -> None:
        result = runner.invoke(app, ["parse", str(pdf)])
        assert result.exit_code == 0, result.output
        assert "Sparse Mixers for Tiny Images" in result.stdout
        assert "Introduction" in result.stdout
        assert "zebrafish-inspired" in result.stdout
        assert "Vaswani" in result.stdout
        assert "Traceback" not in result.output

    def test_no_references(self, pdf: Path) -> None:
        result = runner.invoke(app, ["parse", str(pdf), "--no-references"])
        assert result.exit_code == 0, result.output
        assert "zebrafish-inspired" in result.stdout
        assert "Vaswani" not in result.stdout

    def test_json(self, pdf: Path) -> None:
        result = runner.invoke(app, ["parse", str(pdf), "--format", "json"])
        assert result.exit_code == 0, result.output
        paper = Paper.model_validate_json(result.stdout)
        assert paper.page_count == 1
        assert paper.source_format == "pdf"
        assert "zebrafish-inspired" in paper.model_dump_json()

    def test_json_no_references_drops_them(self, pdf: Path) -> None:
        result = runner.invoke(app, ["parse", str(pdf), "-f", "json", "--no-references"])
        assert result.exit_code == 0, result.output
        assert Paper.model_validate_json(result.stdout).references == []

    def test_out_file(self, pdf: Path, tmp_path: Path) -> None:
        out = tmp_path / "new" / "dir" / "paper.md"
        result = runner.invoke(app, ["parse", str(pdf), "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert result.stdout == ""
        assert f"wrote {out}" in result.stderr
        assert "zebrafish-inspired" in out.read_text(encoding="utf-8")

    def test_out_json_file(self, pdf: Path, tmp_path: Path) -> None:
        out = tmp_path / "paper.json"
        result = runner.invoke(app, ["parse", str(pdf), "--format", "json", "-o", str(out)])
        assert result.exit_code == 0, result.output
        assert Paper.model_validate_json(out.read_text(encoding="utf-8")).page_count == 1

    def test_unknown_format_is_a_usage_error(self, pdf: Path) -> None:
        result = runner.invoke(app, ["parse", str(pdf), "--format", "docx"])
        assert result.exit_code == 2

    def test_markdown_file(self, tmp_path: Path) -> None:
        md = tmp_path / "paper.md"
        md.write_text(
            "# A Markdown Paper\n\n## 1 Introduction\n\nWe study okapi-shaped kernels.\n", encoding="utf-8"
        )
        result = runner.invoke(app, ["parse", str(md)])
        assert result.exit_code == 0, result.output
        assert "okapi-shaped kernels" in result.stdout


class TestSave:
    def test_save_then_runs_then_show(self, pdf: Path, db: Path) -> None:
        result = runner.invoke(app, ["parse", str(pdf), "--save"])
        assert result.exit_code == 0, result.output
        assert "zebrafish-inspired" in result.stdout  # still prints the paper
        match = RUN_ID.search(result.stderr)
        assert match, result.stderr
        run_id = match.group(1)

        with Store(db) as store:
            run = store.get_run(run_id)
            assert run.title == "Sparse Mixers for Tiny Images"
            assert run.source == str(pdf.resolve())
            assert run.source_hash == hashlib.sha256(pdf.read_bytes()).hexdigest()
            art = store.get_artifact(run_id, "paper")
            original = store.get_artifact(run_id, "original", "pdf")
        assert (art.format, art.version) == ("json", 1)
        assert original.format == "base64" and original.metadata["sha256"] == run.source_hash
        stored = Paper.model_validate_json(art.content)
        assert stored.references  # the store keeps the whole paper
        meta = art.metadata
        assert meta["title"] == "Sparse Mixers for Tiny Images"
        assert meta["page_count"] == 1
        assert meta["tokens"] > meta["tokens_without_references"] > 0

        listed = runner.invoke(app, ["runs"])
        assert listed.exit_code == 0, listed.output
        row = next(line for line in listed.stdout.splitlines() if run_id in line)
        assert "created" in row and "$0.0000" in row
        assert re.search(r"\b2\b", row)  # two artifacts: the parsed paper and the original PDF

        manifest = runner.invoke(app, ["show", run_id])
        assert manifest.exit_code == 0, manifest.output
        assert run_id in manifest.stdout
        assert str(pdf.resolve()) in manifest.stdout
        paper_row = next(line for line in manifest.stdout.splitlines() if "paper" in line and "json" in line)
        assert re.search(r"\b1\b", paper_row)
        assert "cost: $0.0000 over 0 calls" in manifest.stdout

        original = runner.invoke(app, ["show", run_id, "original", "pdf"])
        assert original.exit_code == 0, original.output
        assert original.stdout.startswith(
            f"{pdf.name}: application/pdf, {pdf.stat().st_size:,} bytes, 1 pages"
        )

        shown = runner.invoke(app, ["show", run_id, "paper"])
        assert shown.exit_code == 0, shown.output
        assert shown.stdout.rstrip("\n") == stored.to_markdown().rstrip("\n")

    def test_save_with_out_and_json(self, pdf: Path, tmp_path: Path, db: Path) -> None:
        out = tmp_path / "p.json"
        result = runner.invoke(app, ["parse", str(pdf), "--save", "--format", "json", "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert RUN_ID.search(result.stderr)
        assert out.exists()

    def test_saving_twice_makes_two_runs_with_one_source_hash(self, pdf: Path, db: Path) -> None:
        for _ in range(2):
            assert runner.invoke(app, ["parse", str(pdf), "--save", "-o", os.devnull]).exit_code == 0
        with Store(db) as store:
            runs = store.find_runs_by_source(hashlib.sha256(pdf.read_bytes()).hexdigest())
        assert len(runs) == 2

    def test_db_option(self, pdf: Path, tmp_path: Path, db: Path) -> None:
        other = tmp_path / "other.db"
        result = runner.invoke(app, ["--db", str(other), "parse", str(pdf), "--save", "-o", os.devnull])
        assert result.exit_code == 0, result.output
        match = RUN_ID.search(result.stderr)
        assert match
        with Store(other) as store:
            assert store.get_run(match.group(1))
        assert match.group(1) in runner.invoke(app, ["--db", str(other), "runs"]).stdout
        assert match.group(1) not in runner.invoke(app, ["runs"]).output  # default store untouched


class TestSourceHash:
    def test_file_is_sha256_of_bytes(self, tmp_path: Path) -> None:
        f = tmp_path / "a.bin"
        f.write_bytes(b"\x00paper" * 1000)
        assert source_hash(f) == hashlib.sha256(f.read_bytes()).hexdigest()

    def test_directory_depends_on_names_and_contents(self, tmp_path: Path) -> None:
        d = tmp_path / "src"
        (d / "sec").mkdir(parents=True)
        (d / "main.tex").write_text("\\section{A}")
        (d / "sec" / "b.tex").write_text("b")
        first = source_hash(d)
        assert first == source_hash(d)
        (d / "sec" / "b.tex").write_text("b2")
        changed = source_hash(d)
        assert changed != first
        (d / "sec" / "b.tex").rename(d / "sec" / "c.tex")
        assert source_hash(d) != changed


class TestRunsAndShow:
    def test_runs_empty(self) -> None:
        result = runner.invoke(app, ["runs"])
        assert result.exit_code == 0
        assert "no runs" in result.output

    def test_runs_table(self, db: Path) -> None:
        run_id = make_run(db)
        result = runner.invoke(app, ["runs"])
        assert result.exit_code == 0, result.output
        row = next(line for line in result.stdout.splitlines() if run_id in line)
        assert "Hand-made" in row
        assert "created" in row
        assert "$0.0125" in row
        assert re.search(r"\b3\b", row)  # paper, plan, code: current artifacts only

    def test_runs_newest_first(self, db: Path) -> None:
        first, second = make_run(db), make_run(db)
        out = runner.invoke(app, ["runs"]).stdout
        assert out.index(second) < out.index(first)

    def test_manifest(self, db: Path) -> None:
        run_id = make_run(db)
        result = runner.invoke(app, ["show", run_id])
        assert result.exit_code == 0, result.output
        out = result.stdout
        assert "Hand-made Paper" in out and "/papers/hand.md" in out
        plan_row = next(line for line in out.splitlines() if "plan" in line and "markdown" in line)
        assert re.search(r"\b2\b", plan_row)  # current version
        code_row = next(line for line in out.splitlines() if "src/model.py" in line)
        assert "python" in code_row and "15 B" in code_row
        assert "cost: $0.0125 over 2 calls (1 unpriced)" in out

    def test_manifest_of_empty_run(self, db: Path) -> None:
        with Store(db) as store:
            run_id = store.create_run(title="empty").id
        result = runner.invoke(app, ["show", run_id])
        assert result.exit_code == 0, result.output
        # The same step table and next call as the MCP get_run tool.
        assert re.search(r"make_plan\s+missing", result.stdout)
        assert "complete: no" in result.stdout and "next: make_plan()" in result.stdout

    def test_paper_renders_markdown(self, db: Path) -> None:
        run_id = make_run(db)
        result = runner.invoke(app, ["show", run_id, "paper"])
        assert result.exit_code == 0, result.output
        assert result.stdout.rstrip("\n") == sample_paper().to_markdown().rstrip("\n")
        assert "Unique body text." in result.stdout

    def test_paper_raw_is_json(self, db: Path) -> None:
        run_id = make_run(db)
        result = runner.invoke(app, ["show", run_id, "paper", "--raw"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["title"] == "Hand-made Paper"

    def test_current_and_older_version(self, db: Path) -> None:
        run_id = make_run(db)
        assert runner.invoke(app, ["show", run_id, "plan"]).stdout == "plan v2\n"
        assert runner.invoke(app, ["show", run_id, "plan", "--version", "1"]).stdout == "plan v1\n"

    def test_kind_and_key_both_spellings(self, db: Path) -> None:
        run_id = make_run(db)
        assert runner.invoke(app, ["show", run_id, "code", "src/model.py"]).stdout == "print('model')\n"
        assert runner.invoke(app, ["show", run_id, "code/src/model.py"]).stdout == "print('model')\n"

    def test_version_without_kind_is_a_usage_error(self, db: Path) -> None:
        run_id = make_run(db)
        result = runner.invoke(app, ["show", run_id, "--version", "1"])
        assert result.exit_code == 2
        assert "KIND" in result.output


class TestErrors:
    def test_missing_file(self, tmp_path: Path) -> None:
        result = runner.invoke(app, ["parse", str(tmp_path / "nope.pdf")])
        assert result.exit_code == 1
        assert_one_line_error(result.stderr, "nope.pdf", "no such file")
        assert result.stdout == ""

    def test_not_a_pdf(self, tmp_path: Path) -> None:
        fake = tmp_path / "fake.pdf"
        fake.write_text("this is a text file wearing a .pdf suffix\n" * 20)
        result = runner.invoke(app, ["parse", str(fake)])
        assert result.exit_code == 1
        assert_one_line_error(result.stderr, "fake.pdf")
        assert result.stdout == ""

    def test_unsupported_type(self, tmp_path: Path) -> None:
        doc = tmp_path / "paper.docx"
        doc.write_bytes(b"PK\x03\x04 not really")
        result = runner.invoke(app, ["parse", str(doc)])
        assert result.exit_code == 1
        assert_one_line_error(result.stderr, "unsupported file type")

    def test_failed_parse_saves_nothing(self, tmp_path: Path, db: Path) -> None:
        result = runner.invoke(app, ["parse", str(tmp_path / "nope.pdf"), "--save"])
        assert result.exit_code == 1
        with Store(db) as store:
            assert store.list_runs() == []

    def test_unknown_run(self) -> None:
        result = runner.invoke(app, ["show", "run-doesnotexist"])
        assert result.exit_code == 1
        assert_one_line_error(result.stderr, "run-doesnotexist", "papercoder-mcp runs")

    def test_unknown_run_with_kind(self) -> None:
        result = runner.invoke(app, ["show", "run-doesnotexist", "plan"])
        assert result.exit_code == 1
        assert_one_line_error(result.stderr, "no run with id 'run-doesnotexist'")

    def test_unknown_artifact(self, db: Path) -> None:
        run_id = make_run(db)
        result = runner.invoke(app, ["show", run_id, "architecture"])
        assert result.exit_code == 1
        assert_one_line_error(result.stderr, "has no architecture")
        result = runner.invoke(app, ["show", run_id, "plan", "--version", "9"])
        assert_one_line_error(result.stderr, "version 9")

    def test_db_not_sqlite(self, tmp_path: Path) -> None:
        bogus = tmp_path / "bogus.db"
        bogus.write_bytes(b"definitely not a database " * 100)
        result = runner.invoke(app, ["--db", str(bogus), "runs"])
        assert result.exit_code == 1
        assert_one_line_error(result.stderr, "not a usable papercoder store")

    def test_long_error_stays_on_one_line(self, tmp_path: Path) -> None:
        deep = tmp_path / ("a-rather-long-directory-name-" * 6) / "missing-paper-with-a-long-name.pdf"
        result = runner.invoke(app, ["parse", str(deep)], terminal_width=40)
        assert_one_line_error(result.stderr, "missing-paper-with-a-long-name.pdf")


class TestMain:
    """`main()` is what the console script runs; it must exit with a code, never a traceback."""

    def test_error_exits_1(self, capsys: pytest.CaptureFixture[str]) -> None:
        with pytest.raises(SystemExit) as info:
            main(["show", "run-nope"])
        assert info.value.code == 1
        assert_one_line_error(capsys.readouterr().err, "run-nope")

    def test_success_exits_0(self, capsys: pytest.CaptureFixture[str]) -> None:
        with pytest.raises(SystemExit) as info:
            main(["--version"])
        assert info.value.code in (0, None)
        assert capsys.readouterr().out.strip() == f"papercoder-mcp {__version__}"

    def test_keyboard_interrupt_exits_130(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        def interrupted(self: Store) -> list[object]:
            raise KeyboardInterrupt

        monkeypatch.setattr(Store, "list_runs", interrupted)
        with pytest.raises(SystemExit) as info:
            main(["runs"])
        assert info.value.code == 130
        err = capsys.readouterr().err
        assert "interrupted" in err
        assert "Traceback" not in err


def run_cli(*args: str, module: bool = False) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "papercoder_mcp"] if module else [str(SCRIPT)]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=60, env=os.environ.copy())


class TestInstalledScript:
    """The real entry points, in a subprocess: the console script and `python -m papercoder_mcp`."""

    def test_script_exists(self) -> None:
        assert SCRIPT.exists(), f"{SCRIPT} missing: is the package installed (pip install -e .)?"

    @pytest.mark.parametrize("module", [False, True], ids=["script", "python-m"])
    def test_version(self, module: bool) -> None:
        proc = run_cli("--version", module=module)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == f"papercoder-mcp {__version__}"

    def test_help_names_the_program(self) -> None:
        proc = run_cli("--help", module=True)
        assert proc.returncode == 0, proc.stderr
        assert "papercoder-mcp" in proc.stdout

    @pytest.mark.parametrize("module", [False, True], ids=["script", "python-m"])
    def test_error_is_one_line(self, module: bool) -> None:
        proc = run_cli("show", "run-nope", module=module)
        assert proc.returncode == 1
        assert proc.stdout == ""
        assert_one_line_error(proc.stderr, "no run with id 'run-nope'")

    def test_missing_paper(self, tmp_path: Path) -> None:
        proc = run_cli("parse", str(tmp_path / "absent.pdf"))
        assert proc.returncode == 1
        assert_one_line_error(proc.stderr, "absent.pdf")

    def test_parse_save_show_round_trip(self, pdf: Path, db: Path) -> None:
        proc = run_cli("parse", str(pdf), "--save")
        assert proc.returncode == 0, proc.stderr
        assert "zebrafish-inspired" in proc.stdout
        match = RUN_ID.search(proc.stderr)
        assert match, proc.stderr
        shown = run_cli("show", match.group(1), "paper")
        assert shown.returncode == 0, shown.stderr
        assert "zebrafish-inspired" in shown.stdout
        listed = run_cli("runs")
        assert match.group(1) in listed.stdout

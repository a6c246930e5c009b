"""Shared set-up for pipeline tests: a store with a small paper in it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from papercoder_mcp.paper.models import Block, Paper, Section
from papercoder_mcp.pipeline.ingest import store_paper
from papercoder_mcp.stages import StageContext
from papercoder_mcp.store import Store


def small_paper() -> Paper:
    return Paper(
        title="Tiny Attention",
        authors=["A. Author"],
        abstract="We propose tiny attention and train it with learning rate 1e-4.",
        sections=[
            Section(
                title="Method",
                number="1",
                blocks=[Block(kind="paragraph", text="Attention is softmax(QK^T)V.")],
            ),
            Section(
                title="Experiments", number="2", blocks=[Block(kind="paragraph", text="We train 10 epochs.")]
            ),
        ],
        references=["[1] Someone. A referenced work. 2017."],
        source_format="markdown",
    )


def new_run(tmp_path: Path, sampler: object = None) -> StageContext:
    store = Store(tmp_path / "pipeline.db")
    run = store.create_run(title="Tiny Attention")
    store_paper(store, run.id, small_paper())
    return StageContext(store=store, run_id=run.id, sampler=sampler)  # type: ignore[arg-type]


def cli_process(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    """The installed `papercoder-mcp` as a real process (for kill and two-process tests)."""
    exe = Path(sys.executable).parent / "papercoder-mcp"
    return subprocess.Popen(
        [str(exe), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )

"""Benchmark the orchestrator against PaperCoder's sequential, uncached way, with a timed fake model.

    .venv/bin/python bench/pipeline.py [--write] [--seconds-per-token S] [--first-token S]

A fake model (tests/fake_model.FakeModel) answers every stage; each call sleeps a fixed time to the
first token plus a time proportional to the tokens it writes, and bills its input the way Anthropic's
prompt caching does (see `BenchSampler`). Per scenario it runs:

- ours: `run_pipeline` at concurrency 10 and at the default 4, on the real stages and store;
- baseline ("PaperCoder's way"): the same stages strictly one after another (planning, every
  analysis in order, every generation in order), no prompt caching (all input billed 1x), and every
  generate_file call reading the code of ALL files generated before it, not only its dependencies.

It prints wall time against the critical path of the file DAG (computed from the per-call latencies
that run observed) and billed input tokens (plain 1x, cache writes 1.25x, cache reads 0.1x) against
the baseline. --write puts the table into the '## Pipeline' section of bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import platform
import re
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import anyio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from papercoder_mcp.paper import Paper, parse_document  # noqa: E402
from papercoder_mcp.paper.render import estimate_tokens  # noqa: E402
from papercoder_mcp.pipeline.ingest import store_paper  # noqa: E402
from papercoder_mcp.pipeline.orchestrator import PipelineOptions, run_pipeline  # noqa: E402
from papercoder_mcp.samplers.anthropic import CACHE_BREAKPOINTS  # noqa: E402
from papercoder_mcp.samplers.base import Completion, SampleRequest, Usage  # noqa: E402
from papercoder_mcp.stages import (  # noqa: E402
    ANALYZE_FILE,
    CHECK_COVERAGE,
    GENERATE_FILE,
    PLANNING_STAGES,
    StageContext,
)
from papercoder_mcp.stages.base import EXPECTED_OUTPUT_TOKENS, run_stage  # noqa: E402
from papercoder_mcp.stages.inputs import file_order  # noqa: E402
from papercoder_mcp.store import Store  # noqa: E402

from fake_model import FakeModel, is_test, stage_of, with_a_test  # noqa: E402
from pipeline_helpers import small_paper  # noqa: E402

PAPERS = ROOT.parent / "shared" / "papers"
README = ROOT / "bench" / "README.md"
SECTION = "## Pipeline"
DATE = "2026-12-01"

# A 10-file repository of the usual shape: utilities, data, model, training, evaluation, entry point.
# Longest dependency chain: utils -> config_loader -> models/model -> trainer -> main (5 generations).
TEN_FILES: dict[str, list[str]] = {
    "utils.py": [],
    "config_loader.py": ["utils.py"],
    "data/tokenizer.py": ["utils.py"],
    "models/layers.py": ["utils.py"],
    "data/dataset.py": ["config_loader.py", "data/tokenizer.py"],
    "models/model.py": ["models/layers.py", "config_loader.py"],
    "optim.py": ["config_loader.py"],
    "trainer.py": ["models/model.py", "data/dataset.py", "optim.py"],
    "evaluation.py": ["models/model.py", "data/dataset.py"],
    "main.py": ["trainer.py", "evaluation.py"],
}
CODE_LINES = 80

# Anthropic: a prefix shorter than this is not cached at all (Sonnet / Opus 4.x class models: 1024).
MIN_CACHEABLE_TOKENS = 1024
# Anthropic looks for an earlier cache entry at most this many content blocks before a breakpoint.
LOOKBACK_BLOCKS = 20
CACHE_READ, CACHE_WRITE = 0.1, 1.25


def tokens(text: str) -> int:
    return estimate_tokens(text) if text else 0


@dataclass
class CallLog:
    stage: str
    key: str
    start: float
    end: float
    input_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    output_tokens: int

    @property
    def latency(self) -> float:
        return self.end - self.start

    @property
    def billed_input(self) -> float:
        return self.input_tokens + CACHE_READ * self.cache_read_tokens + CACHE_WRITE * self.cache_write_tokens


@dataclass
class BenchSampler:
    """FakeModel with a latency model and an emulation of Anthropic prompt caching.

    Latency: `first_token_s + output_tokens * seconds_per_token` (it does not depend on input size).

    Caching (when `caching`): the cacheable prefix is the system prompt plus every prefix block; the
    last CACHE_BREAKPOINTS prefix blocks carry cache_control breakpoints, as our Anthropic sampler sends
    them. A request reads from the cache the longest prefix ending at a block boundary (at most 20 blocks back)
    that an earlier request wrote at its breakpoint; the rest of its prefix is written (1.25x); a prefix
    below 1024 tokens is not cached (1x). An entry is readable only once the request that wrote it
    has begun answering (first token), so concurrent calls that start together all miss, as on the
    real API. The tail (per-call prompt and re-ask turns) is plain input.

    Baseline (`all_previous_code`): a generate_file call also reads the code of every file generated
    before it that is not already in its prompt as a dependency, as the original PaperCoder does.
    """

    fake: FakeModel
    caching: bool
    all_previous_code: bool = False
    seconds_per_token: float = 0.002
    first_token_s: float = 0.1
    name: str = "bench"
    model: str = "fake-model"
    calls: list[CallLog] = field(default_factory=list)
    _cache: dict[str, float] = field(default_factory=dict)  # prefix hash -> time it becomes readable
    _generated: dict[str, str] = field(default_factory=dict)

    def _billing(self, request: SampleRequest, now: float) -> tuple[int, int, int]:
        """(plain input, cache read, cache write) tokens of a request arriving at `now`."""
        blocks = [b for b in [request.system, *request.prefix] if b]
        tail = tokens(request.prompt) + sum(tokens(t.text) for t in request.followups)
        sizes = [tokens(b) for b in blocks]
        total = sum(sizes)
        if not self.caching or not request.prefix or total < MIN_CACHEABLE_TOKENS:
            return total + tail, 0, 0
        h = hashlib.sha256()
        hashes: list[str] = []
        for b in blocks:
            h.update(hashlib.sha256(b.encode()).digest())
            hashes.append(h.copy().hexdigest())
        read = 0
        for i in range(len(blocks) - 1, max(-1, len(blocks) - 1 - LOOKBACK_BLOCKS), -1):
            ready = self._cache.get(hashes[i])
            if ready is not None and ready <= now:
                read = sum(sizes[: i + 1])
                break
        write = total - read
        # Our sampler marks the last CACHE_BREAKPOINTS prefix blocks; each marked prefix becomes an entry.
        for h_marked in hashes[-min(CACHE_BREAKPOINTS, len(request.prefix)) :]:
            if write and h_marked not in self._cache:
                self._cache[h_marked] = now + self.first_token_s
        return tail, read, write

    async def sample(self, request: SampleRequest) -> Completion:
        start = time.monotonic()
        stage, key = request.stage or stage_of(request.prompt), request.key
        plain, read, write = self._billing(request, start)
        text, _payload = self.fake.answer(stage, request.prompt)
        if self.all_previous_code and stage == "generate_file":
            deps = set(self.fake.files.get(key, []))
            plain += sum(tokens(code) for path, code in self._generated.items() if path not in deps)
        out = tokens(text)
        await anyio.sleep(self.first_token_s + out * self.seconds_per_token)
        if stage == "generate_file":
            self._generated[key] = text
        end = time.monotonic()
        self.calls.append(CallLog(stage, key, start, end, plain, read, write, out))
        return Completion(
            text=text,
            usage=Usage(
                input_tokens=plain, output_tokens=out, cache_read_tokens=read, cache_write_tokens=write
            ),
            model=self.model,
            sampler=self.name,
            cost_usd=0.0,
            latency_s=end - start,
        )


def critical_path(calls: list[CallLog], files: dict[str, list[str]]) -> float:
    """Planning chain (and the coverage check), then the file DAG: all analyses may start at once;
    generate(f) starts when analyse(f) and generate(d) for every file d its prompt reads (every file
    of a lower dependency level, FileOrder.written_before) have finished. Uses the observed latencies."""
    files = with_a_test(files)  # what FakeModel designs
    lat: dict[tuple[str, str], float] = {}
    for c in calls:
        lat[(c.stage, c.key)] = lat.get((c.stage, c.key), 0.0) + c.latency
    planning = sum(v for (stage, _), v in lat.items() if stage not in ("analyze_file", "generate_file"))
    level: dict[str, int] = {}

    def depth(path: str) -> int:
        if path not in level:
            level[path] = 1 + max((depth(d) for d in files[path]), default=-1)
        return level[path]

    finish: dict[str, float] = {}

    def done(path: str) -> float:
        if path not in finish:
            before = [
                p
                for p in files
                if depth(p) < depth(path) and (is_test(path) or not is_test(p) or p in files[path])
            ]
            ready = max([lat[("analyze_file", path)], *(done(d) for d in before)])
            finish[path] = ready + lat[("generate_file", path)]
        return finish[path]

    return planning + max(done(p) for p in files)


@dataclass
class RunResult:
    label: str
    wall: float
    calls: list[CallLog]
    status: str

    @property
    def billed(self) -> float:
        return sum(c.billed_input for c in self.calls)


def new_store(tmp: Path, name: str, paper: Paper) -> tuple[Store, str]:
    store = Store(tmp / f"{name}.db")
    run = store.create_run(title=paper.title or name)
    store_paper(store, run.id, paper)
    return store, run.id


async def run_ours(tmp: Path, paper: Paper, concurrency: int, args: argparse.Namespace) -> RunResult:
    store, run_id = new_store(tmp, f"ours{concurrency}", paper)
    sampler = BenchSampler(
        FakeModel(files=dict(TEN_FILES), code_lines=CODE_LINES),
        caching=True,
        seconds_per_token=args.seconds_per_token,
        first_token_s=args.first_token,
    )
    t0 = time.monotonic()
    result = await run_pipeline(store, run_id, sampler, PipelineOptions(concurrency=concurrency))
    wall = time.monotonic() - t0
    return RunResult(f"ours, concurrency {concurrency}", wall, sampler.calls, result.status)


async def run_sequential(tmp: Path, paper: Paper, args: argparse.Namespace) -> RunResult:
    store, run_id = new_store(tmp, "sequential", paper)
    sampler = BenchSampler(
        FakeModel(files=dict(TEN_FILES), code_lines=CODE_LINES),
        caching=False,
        all_previous_code=True,
        seconds_per_token=args.seconds_per_token,
        first_token_s=args.first_token,
    )
    ctx = StageContext(store=store, run_id=run_id, sampler=sampler)
    t0 = time.monotonic()
    for stage in PLANNING_STAGES:
        await run_stage(stage, ctx)
    order = file_order(ctx)
    for path in order.order:
        await run_stage(ANALYZE_FILE, ctx, path)
    for path in order.generation_order():
        await run_stage(GENERATE_FILE, ctx, path)
    await run_stage(CHECK_COVERAGE, ctx)
    wall = time.monotonic() - t0
    return RunResult("sequential, no cache", wall, sampler.calls, "complete")


@dataclass
class Row:
    scenario: str
    ours: RunResult
    critical: float
    sequential: RunResult
    prefix_tokens: int

    def cells(self) -> list[str]:
        o, s = self.ours, self.sequential
        return [
            f"{self.scenario}, {o.label.removeprefix('ours, ')}",
            f"{o.wall:.2f} s",
            f"{self.critical:.2f} s",
            f"{o.wall / self.critical:.2f}x",
            f"{s.wall:.2f} s",
            f"{s.wall / o.wall:.1f}x",
            f"{o.billed:,.0f}",
            f"{s.billed:,.0f}",
            f"{o.billed / s.billed:.1%}",
        ]


HEADER = [
    "scenario",
    "wall ours",
    "critical path",
    "ours/critical",
    "wall sequential",
    "speedup",
    "billed input ours",
    "billed input baseline",
    "ratio",
]


def markdown_table(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|---|" + "---:|" * (len(HEADER) - 1)]
    lines += ["| " + " | ".join(r.cells()) + " |" for r in rows]
    return "\n".join(lines)


def find_paper() -> tuple[str, Path] | None:
    for folder in sorted(p for p in PAPERS.glob("*") if p.is_dir()):
        for name in ("paper.pdf", "paper.tex"):
            if (folder / name).exists():
                return folder.name, folder / name
    return None


async def scenario(name: str, paper: Paper, args: argparse.Namespace) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        seq = await run_sequential(tmp, paper, args)
        for concurrency in (10, 4):
            ours = await run_ours(tmp, paper, concurrency, args)
            if ours.status != "verified":
                raise SystemExit(f"{name}: the pipeline did not complete ({ours.status})")
            first = next(c for c in ours.calls if c.stage == "analyze_file")
            rows.append(
                Row(
                    name,
                    ours,
                    critical_path(ours.calls, TEN_FILES),
                    seq,
                    first.cache_read_tokens + first.cache_write_tokens + first.input_tokens,
                )
            )
    return rows


def breakdown(run: RunResult) -> str:
    by: dict[str, list[float]] = {}
    for c in run.calls:
        agg = by.setdefault(c.stage, [0, 0, 0, 0, 0])
        agg[0] += 1
        agg[1] += c.input_tokens
        agg[2] += c.cache_read_tokens
        agg[3] += c.cache_write_tokens
        agg[4] += c.billed_input
    out = [f"  {run.label}: calls / plain in / cache read / cache write / billed"]
    for stage, (n, plain, read, write, billed) in by.items():
        out.append(f"    {stage:20} {n:3.0f} {plain:9,.0f} {read:9,.0f} {write:9,.0f} {billed:11,.0f}")
    return "\n".join(out)


def bound(row: Row) -> float:
    """The best speedup any scheduler could reach: the sequential sum of latencies over the critical path."""
    return sum(c.latency for c in row.sequential.calls) / row.critical


def expected_bound(files: dict[str, list[str]], args: argparse.Namespace) -> float:
    """The same bound with the output sizes the stages expect of a real model (EXPECTED_OUTPUT_TOKENS)."""

    def lat(stage: str) -> float:
        return args.first_token + EXPECTED_OUTPUT_TOKENS[stage] * args.seconds_per_token

    planning = sum(lat(s.name) for s in PLANNING_STAGES)
    depth: dict[str, int] = {}

    def chain(path: str) -> int:
        if path not in depth:
            depth[path] = 1 + max((chain(d) for d in files[path]), default=0)
        return depth[path]

    longest = max(chain(p) for p in files)
    sequential = planning + len(files) * (lat("analyze_file") + lat("generate_file"))
    return sequential / (planning + lat("analyze_file") + longest * lat("generate_file"))


def verdict(rows: list[Row], args: argparse.Namespace) -> list[str]:
    out = []
    for r in rows:
        if not r.ours.label.endswith(" 10"):
            continue
        crit = r.ours.wall / r.critical
        speed = r.sequential.wall / r.ours.wall
        ratio = r.ours.billed / r.sequential.billed
        out.append(
            f"{r.scenario}, concurrency 10: wall {crit:.2f}x the critical path "
            f"({'met' if crit <= 1.2 else 'NOT met'}, target <= 1.2x); {speed:.1f}x faster than sequential "
            f"({'met' if speed >= 3 else 'NOT met'}, target >= 3x; no schedule can beat "
            f"{bound(r):.1f}x here); billed input {ratio:.1%} of the baseline "
            f"({'met' if ratio <= 0.35 else 'NOT met'}, target <= 35%)"
        )
    out.append(
        f"The 3x target is out of reach for this design whatever the scheduler: the four planning calls "
        f"are a chain and the longest dependency chain holds 5 of the 10 generations. With the output "
        f"sizes the stages expect of a real model (EXPECTED_OUTPUT_TOKENS) the bound is "
        f"{expected_bound(TEN_FILES, args):.1f}x; 3x needs a shallower graph."
    )
    return out


def write_readme(body: str) -> None:
    text = README.read_text(encoding="utf-8") if README.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    block = f"{SECTION}\n\n{body.strip()}\n\n"
    text = pattern.sub(lambda _m: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block
    README.write_text(text.rstrip() + "\n", encoding="utf-8")


async def main_async(args: argparse.Namespace) -> tuple[list[Row], list[str]]:
    plans: list[tuple[str, Callable[[], Paper]]] = [("synthetic (tiny paper)", small_paper)]
    notes: list[str] = []
    found = find_paper()
    if found is None:
        msg = f"no paper under {PAPERS}: the real-paper scenario is skipped"
        print(msg)
        notes.append(msg)
    else:
        folder, path = found
        plans.append((f"{folder} ({path.name})", lambda: parse_document(path)))
    rows: list[Row] = []
    for name, make in plans:
        paper = make()
        print(f"running {name} ...", flush=True)
        rs = await scenario(name, paper, args)
        rows += rs
        print(f"  first per-file prompt: {rs[0].prefix_tokens:,} tokens")
        for run in (rs[0].sequential, rs[0].ours):
            print(breakdown(run))
    return rows, notes


METHOD = """\
- Fake model (tests/fake_model.FakeModel) on the real stages, store and orchestrator; every call sleeps
  {first:g} s + {spt:g} s per output token (latency does not depend on input). Critical path = the four
  planning calls and the coverage check + the longest path of the file DAG (analysis(f), then
  generate(f) once every file its prompt reads is generated: every non-test file of a lower dependency
  level, whose interfaces it gets), from the latencies that run observed. Tokens are characters / 4.
- Billing emulates Anthropic prompt caching as our sampler uses it: system + prefix blocks with one
  breakpoint on the last block; a call reads the longest earlier-written breakpoint prefix (20-block
  lookback) at 0.1x and writes the rest at 1.25x; prefixes under 1024 tokens are not cached; an entry is
  readable only once its writer's first token is out. Per-call prompt tail: 1x.
- Baseline (the original PaperCoder's way): same stages one after another, no cache, and each
  generate_file reads the code of every earlier file (billed as extra input), not just its dependencies.
  Ours reads its dependencies' code and the interface summaries of the other lower-level files, which
  moved the synthetic ratio from 34.9% to about 36.5% (its prompts are tiny, so the summaries weigh more)."""
OBSERVATIONS = """\
- At concurrency 4 the CapacityLimiter is first come, first served: generate(utils.py), the head of the
  longest chain, queues behind the last wave of leaf analyses (evaluation.py, main.py), which delays
  the whole chain by one analysis. Giving generations (or files on the longest chain) priority over
  analyses would bring concurrency 4 to the critical path too.
- Calls that start together all miss the cache (an entry is readable only after its writer's first
  token): the 10 analyses each write the config block. Cheap here (the block is small); one analysis
  ahead of the fan-out would turn 9 writes into reads. The tiny paper's planning prefix is under 1024
  tokens, so its planning calls are not cached at all; the generate_file tail (analysis + dependency
  code, 1x) is then the largest part of our bill."""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--write", action="store_true", help="write the table into bench/README.md")
    ap.add_argument("--seconds-per-token", type=float, default=0.002, help="latency per output token (s)")
    ap.add_argument("--first-token", type=float, default=0.1, help="fixed latency of every call (s)")
    args = ap.parse_args()
    rows, notes = asyncio.run(main_async(args))
    table = markdown_table(rows)
    verdicts = verdict(rows, args)
    print()
    print(table)
    print()
    for v in verdicts:
        print("- " + v)
    if args.write:
        machine = f"{platform.machine()}, 2 cores, Python {platform.python_version()}"
        body = "\n".join(
            [
                f"Measured {DATE} on {machine}. `python bench/pipeline.py --write`: 10-file design "
                f"plus the test module the fake model adds (dependency depth 5, {CODE_LINES}-line files), once with a tiny synthetic paper and once "
                "with a real one.",
                "",
                table,
                "",
                METHOD.format(first=args.first_token, spt=args.seconds_per_token),
                *(f"- {v}" for v in verdicts),
                OBSERVATIONS,
                *(f"- {n}" for n in notes),
            ]
        )
        write_readme(body)


if __name__ == "__main__":
    main()

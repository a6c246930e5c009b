"""Typed artifacts of the planning stages: what the model must answer, validated before it is stored.

Validators that need another artifact (a file order must only name files the
architecture lists) read it from the pydantic validation context:
`FileOrder.model_validate(data, context={"architecture": arch})`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationInfo, field_validator, model_validator

from papercoder_mcp.entry_point import split_command
from papercoder_mcp.errors import UnsafePath
from papercoder_mcp.paths import RESERVED_PATHS, check_path_set, is_reserved, normalize_repo_path
from papercoder_mcp.requirements import check_requirement


def _repo_path(value: str) -> str:
    try:
        norm = normalize_repo_path(value)
    except UnsafePath as exc:
        raise ValueError(str(exc)) from exc
    if is_reserved(norm):
        raise ValueError(
            f"{norm} is written by its own stage or by export; leave it out of the list of code files"
        )
    return norm


def _path_set(paths: list[str]) -> None:
    """The path policy's rules about paths together, with the files export adds beside them."""
    try:
        check_path_set([*paths, *RESERVED_PATHS])
    except UnsafePath as exc:
        raise ValueError(str(exc)) from exc


# -- plan -------------------------------------------------------------------


class MethodComponent(BaseModel):
    name: str = Field(description="a component of the method, e.g. 'multi-head attention'")
    description: str = Field(description="what it does and how, with the paper's equations where relevant")


class Hyperparameter(BaseModel):
    name: str
    value: str = Field(description="the value exactly as the paper states it, or 'not specified'")
    source: str = Field("", description="where in the paper it is stated (section, table)")


class Plan(BaseModel):
    """The overall implementation plan (PaperCoder's planning stage)."""

    summary: str = Field(description="what the paper proposes, in a few sentences")
    methodology: list[MethodComponent] = Field(min_length=1)
    datasets: list[str] = Field(default_factory=list)
    experimental_settings: list[str] = Field(default_factory=list, description="training/evaluation settings")
    hyperparameters: list[Hyperparameter] = Field(default_factory=list)
    metrics: list[str] = Field(default_factory=list)
    experiments: list[str] = Field(
        default_factory=list, description="experiments to reproduce, by table/figure"
    )
    baselines: list[str] = Field(
        default_factory=list,
        description="every other method the experiments compare against (not the proposed method or its "
        "ablations): what it is and where the paper describes or cites it",
    )
    unclear: list[str] = Field(default_factory=list, description="what the paper leaves unclear or missing")

    @field_validator("summary")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("summary must not be empty")
        return v


# -- architecture -----------------------------------------------------------


class FileSpec(BaseModel):
    path: str = Field(description="relative path in the repository, e.g. 'model.py' or 'src/data.py'")
    purpose: str

    _norm = field_validator("path")(classmethod(lambda cls, v: _repo_path(v)))


def is_test_module(path: str) -> bool:
    """A test module of the generated repository: `tests/test_*.py` (or `tests/.../*_test.py`)."""
    parts = path.split("/")
    name = parts[-1]
    return (
        parts[0] == "tests"
        and name.endswith(".py")
        and (name.startswith("test_") or name.endswith("_test.py"))
    )


def plan_items(plan: Plan) -> dict[str, str]:
    """The plan's components (`C1`, ...), experiments (`E1`, ...) and baselines (`B1`, ...), by the id
    a design maps them by."""
    items = {f"C{i}": c.name for i, c in enumerate(plan.methodology, 1)}
    items.update({f"E{i}": e for i, e in enumerate(plan.experiments, 1)})
    items.update({f"B{i}": b for i, b in enumerate(plan.baselines, 1)})
    return items


class PlannedItem(BaseModel):
    """Where the design puts one component, experiment or baseline of the plan, or why it leaves it out."""

    item: str = Field(
        description="the plan item's id: C1, ... components, E1, ... experiments, B1, ... baselines"
    )
    files: list[str] = Field(
        default_factory=list, description="the planned files that implement it (none: say why in not_planned)"
    )
    how: str = Field("", description="the function, class or command of the entry point that runs it")
    not_planned: str = Field("", description="why no file implements it (e.g. needs 64 GPUs); else empty")

    @field_validator("item")
    @classmethod
    def _item_id(cls, v: str) -> str:
        return v.strip().upper()

    @field_validator("files")
    @classmethod
    def _files_norm(cls, v: list[str]) -> list[str]:
        return [_repo_path(p) for p in v]


class Architecture(BaseModel):
    """The software design: files, interfaces (classDiagram) and call flow (sequenceDiagram).

    The repository plans its own proof: test modules under `tests/` and a smoke mode of the
    entry point, which later stages generate like any other file and verification runs.

    It also reviews itself against the plan before any code is written: `plan_map` places each
    component, experiment and baseline of the plan in the files that will implement it, or says why it is
    left out. Validated against the plan it was designed from (context `plan`); designs stored
    before the map existed load with an empty one."""

    implementation_approach: str
    files: list[FileSpec] = Field(
        min_length=1, description="the source files, including the test modules under tests/"
    )
    entry_point: str = Field(description="the file that runs the experiments, e.g. 'main.py'; one of files")
    smoke_command: str = Field(
        description="the exact command of the entry point's smoke mode, run from the repository root, "
        "e.g. 'python main.py smoke': every stage on tiny synthetic data and tiny randomly initialised "
        "models, no download, no GPU, about a minute on a laptop CPU"
    )
    class_diagram: str = Field(description="mermaid classDiagram of the data structures and interfaces")
    sequence_diagram: str = Field(description="mermaid sequenceDiagram of the program call flow")
    open_questions: list[str] = Field(default_factory=list)
    plan_map: list[PlannedItem] = Field(
        default_factory=list,
        description="every component (C1, ...), experiment (E1, ...) and baseline (B1, ...) of the plan, "
        "with the files that implement it, or why none does",
    )

    @field_validator("entry_point")
    @classmethod
    def _entry_norm(cls, v: str) -> str:
        return _repo_path(v)

    @field_validator("class_diagram")
    @classmethod
    def _class_diagram(cls, v: str) -> str:
        if not _strip_mermaid_fence(v).startswith("classDiagram"):
            raise ValueError("class_diagram must be mermaid source starting with 'classDiagram'")
        return _strip_mermaid_fence(v)

    @field_validator("sequence_diagram")
    @classmethod
    def _sequence_diagram(cls, v: str) -> str:
        if not _strip_mermaid_fence(v).startswith("sequenceDiagram"):
            raise ValueError("sequence_diagram must be mermaid source starting with 'sequenceDiagram'")
        return _strip_mermaid_fence(v)

    @model_validator(mode="after")
    def _consistent(self) -> Architecture:
        paths = [f.path for f in self.files]
        dupes = sorted({p for p in paths if paths.count(p) > 1})
        if dupes:
            raise ValueError(f"files listed twice: {', '.join(dupes)}")
        _path_set(paths)
        if self.entry_point not in paths:
            raise ValueError(f"entry_point {self.entry_point!r} is not in files ({', '.join(paths)})")
        if not any(is_test_module(p) for p in paths):
            raise ValueError(
                "files has no test module: add tests/test_<module>.py for every core module (shapes, "
                "invariants, loss values on toy inputs, the paper's equations on tiny cases)"
            )
        self._check_smoke_command()
        self._check_plan_map(paths)
        return self

    def _check_plan_map(self, paths: list[str]) -> None:
        for planned in self.plan_map:
            unknown = [p for p in planned.files if p not in paths]
            if unknown:
                raise ValueError(
                    f"plan_map item {planned.item} names files that are not in files: {', '.join(unknown)}"
                )
            if not planned.files and not planned.not_planned.strip():
                raise ValueError(
                    f"plan_map item {planned.item} has no files: name the files that implement it, or say "
                    "in not_planned why the repository leaves it out"
                )

    @model_validator(mode="after")
    def _covers_plan(self, info: ValidationInfo) -> Architecture:
        """Every item of the plan is placed (needs the plan: a stored design loads without it)."""
        plan = (info.context or {}).get("plan")
        if plan is None:
            return self
        items = plan_items(plan)
        mapped = {p.item for p in self.plan_map}
        unknown = sorted(mapped - set(items), key=_item_order)
        if unknown:
            raise ValueError(
                f"plan_map names items the plan does not have: {', '.join(unknown)} (the plan's items are "
                f"{', '.join(sorted(items, key=_item_order))})"
            )
        missing = [i for i in sorted(items, key=_item_order) if i not in mapped]
        if missing:
            listed = "; ".join(f"{i} ({items[i][:80]})" for i in missing)
            raise ValueError(
                f"plan_map leaves out {len(missing)} item(s) of the plan: {listed}. Place each in the files "
                "that will implement it (add files where none fits), or say in not_planned why it is left out"
            )
        return self

    def planned_for(self, path: str) -> list[PlannedItem]:
        """The plan items this file implements, by the design."""
        return [p for p in self.plan_map if path in p.files]

    def _check_smoke_command(self) -> None:
        example = f"e.g. 'python {self.entry_point} smoke'"
        if not self.smoke_command.strip():
            raise ValueError(
                "smoke_command is empty: give the exact command of the entry point's smoke mode (tiny "
                f"synthetic data, tiny random models, no download, no GPU), {example}"
            )
        if split_command(self.smoke_command, self.entry_point) is None:
            raise ValueError(
                f"smoke_command {self.smoke_command!r} must run the entry point {self.entry_point!r} "
                f"with python (and parse as a shell command), {example}"
            )

    def paths(self) -> list[str]:
        return [f.path for f in self.files]

    def smoke_argv(self) -> list[str]:
        """The smoke command's arguments after `python ENTRY` (or `python -m MODULE`)."""
        return split_command(self.smoke_command, self.entry_point) or []


def _item_order(item: str) -> tuple[str, int]:
    return (item[:1], int(item[1:]) if item[1:].isdigit() else 0)


def _strip_mermaid_fence(text: str) -> str:
    t = text.strip()
    if t.startswith("```"):
        t = t.split("\n", 1)[1] if "\n" in t else ""
        t = t.rsplit("```", 1)[0]
    return t.strip()


# -- file order (PaperCoder's "logic analysis" + task list) -----------------


class Package(BaseModel):
    name: str = Field(description="PyPI distribution name, e.g. 'torch'")
    version: str = Field("", description="version specifier when the paper implies one, e.g. '>=2.0'")

    def requirement(self) -> str:
        v = self.version.strip()
        if v and v[0].isdigit():
            v = "==" + v
        return f"{self.name.strip()}{v}"

    @model_validator(mode="after")
    def _pep508(self) -> Package:
        v = self.version.strip()
        if v and not v[0].isdigit() and v[0] not in "<>=!~;[@":  # `@` is refused below, as a URL
            raise ValueError(
                f"version {self.version!r} of {self.name!r} is not a version specifier (e.g. '>=2.0', "
                "'==1.13.1'); leave it empty when the paper gives none"
            )
        # The line lands in requirements.txt and in `pip install -r`: an option or a URL there would
        # install from wherever the model says.
        check_requirement(self.requirement(), what=f"required package {self.name!r}")
        return self


class FileTask(BaseModel):
    path: str
    purpose: str
    logic: str = Field(description="the logic this file must contain: classes, functions, algorithms")
    depends_on: list[str] = Field(default_factory=list, description="generated files this file imports")

    _norm = field_validator("path")(classmethod(lambda cls, v: _repo_path(v)))

    @field_validator("depends_on")
    @classmethod
    def _deps(cls, v: list[str]) -> list[str]:
        return [_repo_path(p) for p in v]


class FileOrder(BaseModel):
    """Packages, per-file logic with dependencies, and a valid dependency order of the files."""

    required_packages: list[Package] = Field(default_factory=list)
    files: list[FileTask] = Field(min_length=1)
    order: list[str] = Field(description="every file exactly once, each after the files it depends on")
    shared_knowledge: str = Field(
        "", description="conventions, config keys and interfaces shared across files"
    )
    open_questions: list[str] = Field(default_factory=list)

    @field_validator("order")
    @classmethod
    def _order_norm(cls, v: list[str]) -> list[str]:
        return [_repo_path(p) for p in v]

    @model_validator(mode="after")
    def _valid_dag(self, info: ValidationInfo) -> FileOrder:
        tasks = {t.path: t for t in self.files}
        if len(tasks) != len(self.files):
            raise ValueError("a file appears twice in files")
        _path_set(list(tasks))
        arch: Architecture | None = (info.context or {}).get("architecture") if info else None
        if arch is not None:
            known = set(arch.paths())
            unknown = sorted(set(tasks) - known)
            missing = sorted(known - set(tasks))
            if unknown:
                raise ValueError(f"files not in the architecture's file list: {', '.join(unknown)}")
            if missing:
                raise ValueError(f"architecture files missing here: {', '.join(missing)}")
        for t in self.files:
            bad = [d for d in t.depends_on if d not in tasks]
            if bad:
                raise ValueError(f"{t.path} depends on unknown files: {', '.join(bad)}")
            if t.path in t.depends_on:
                raise ValueError(f"{t.path} depends on itself")
            if is_test_module(t.path) and not [d for d in t.depends_on if not d.startswith("tests/")]:
                raise ValueError(
                    f"{t.path} depends on no module it tests: list the modules it imports in depends_on"
                )
        if sorted(self.order) != sorted(tasks):
            raise ValueError("order must list every file in files exactly once")
        cycle = find_cycle({p: t.depends_on for p, t in tasks.items()})
        if cycle:
            raise ValueError("dependency cycle: " + " -> ".join(cycle))
        position = {p: i for i, p in enumerate(self.order)}
        for t in self.files:
            late = [d for d in t.depends_on if position[d] > position[t.path]]
            if late:
                raise ValueError(f"order lists {t.path} before its dependencies {', '.join(late)}")
        return self

    def task(self, path: str) -> FileTask:
        for t in self.files:
            if t.path == path:
                return t
        raise KeyError(path)

    def levels(self) -> dict[str, int]:
        """Each file's depth in the dependency graph: 0 for files that import no generated file."""
        level: dict[str, int] = {}
        for path in self.order:  # the order lists every file after its dependencies
            level[path] = 1 + max((level[d] for d in self.task(path).depends_on), default=-1)
        return level

    def generation_order(self) -> list[str]:
        """The order files can be generated in one by one: level by level, `order` within a level."""
        level = self.levels()
        return sorted(self.order, key=lambda p: level[p])

    def written_before(self, path: str) -> list[str]:
        """The files whose code exists whenever `path` is generated: every file of a lower level.

        Generation goes level by level (files of one level in parallel), so this set is the same
        on every run and every sampler: the prompt that holds their interfaces, and its input hash,
        do not depend on timing. It includes the file's own dependencies. Test modules are left out
        for a file that is not one: the code does not need to know its tests, nor wait for them."""
        level = self.levels()
        tests_too = is_test_module(path)
        return [
            p
            for p in self.order
            if level[p] < level[path]
            and (tests_too or not is_test_module(p) or p in self.task(path).depends_on)
        ]

    def requirements_txt(self) -> str:
        return "".join(p.requirement() + "\n" for p in self.required_packages)


def find_cycle(graph: dict[str, list[str]]) -> list[str]:
    """A dependency cycle as a path that ends where it starts, or [] when the graph is acyclic."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for dep in graph.get(node, []):
            if state.get(dep) == 1:
                return stack[stack.index(dep) :] + [dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return []

    for node in graph:
        if node not in state:
            found = visit(node)
            if found:
                return found
    return []


def structured_schema(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema()


# -- coverage of the paper by the code --------------------------------------

CoverageKind = Literal["component", "experiment", "table", "figure", "ablation"]


class CoverageItem(BaseModel):
    """One component or experiment of the paper, and where the code implements it."""

    name: str = Field(description="the component or result, e.g. 'Table 2: accuracy per dataset'")
    kind: CoverageKind
    paper_reference: str = Field("", description="where the paper has it: section, equation, table, figure")
    file: str = Field("", description="the file that implements it; empty when nothing does")
    symbol: str = Field(
        "",
        description="the function or class that implements it, e.g. 'train' or 'Trainer.fit'; empty if none",
    )
    command: str = Field(
        "",
        description="for a result: the exact command that reproduces it, e.g. 'python main.py eval --table 2'",
    )
    note: str = Field("", description="what is missing; empty when the code implements it in full")
    plan_item: str = Field(
        "", description="the design's plan_map id of this item (C1, E2, ...), if it has one"
    )

    @field_validator("name")
    @classmethod
    def _named(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("name must not be empty")
        return v.strip()

    @field_validator("file")
    @classmethod
    def _file(cls, v: str) -> str:
        if not v.strip():
            return ""
        try:
            return normalize_repo_path(v)
        except UnsafePath as exc:
            raise ValueError(str(exc)) from exc


class Coverage(BaseModel):
    """The model's map of the paper onto the code (the check_coverage stage's answer)."""

    items: list[CoverageItem] = Field(min_length=1)


CoverageStatus = Literal["implemented", "partial", "not_implemented", "not_found", "unused"]


class CheckedItem(CoverageItem):
    status: CoverageStatus = Field(
        description="implemented: the file and symbol exist (and the command parses); partial: they do, but "
        "the note says what they leave out; not_implemented: the "
        "map names no code; not_found: the named code or command does not exist; unused: it exists but no "
        "code outside the tests uses it, so no command runs it"
    )
    problem: str = ""


class CoverageReport(BaseModel):
    """The coverage map checked against the code: what the coverage artifact holds."""

    items: list[CheckedItem]

    def missing(self) -> list[CheckedItem]:
        return [i for i in self.items if i.status != "implemented"]

"""PaperBench rubrics: read and validate the JSON tree, choose leaves by category, aggregate grades.

The format is PaperBench's `rubric.json`: every node has an `id`, its `requirements`
(text), a `weight` and `sub_tasks` (its children); a node without children is a
leaf and carries a `task_category` ("Code Development", "Code Execution",
"Result Analysis"; PaperBench also knows "Subtree") and optionally a
`finegrained_task_category`. Leaves are graded 0 or 1; a node scores the
weighted mean of its children's scores. Leaves outside the chosen categories are
not graded, and a node none of whose leaves is graded drops out of its parent's
mean instead of counting as 0 (PaperBench's Code-Dev variant prunes them the
same way). Weights follow PaperBench: a non-negative number, so a weight of 0
keeps a node in the tree without letting it count.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, cast

from pydantic import BaseModel, Field

from papercoder_mcp.errors import ValidationFailed
from papercoder_mcp.limits import check_json_depth
from papercoder_mcp.store import canonical_hash

TASK_CATEGORIES: tuple[str, ...] = ("Code Development", "Code Execution", "Result Analysis", "Subtree")
DEFAULT_CATEGORIES: tuple[str, ...] = ("Code Development",)
# What a grader is asked for each category (PaperBench's questions, in our words).
CATEGORY_QUESTIONS: dict[str, str] = {
    "Code Development": "Does the repository contain actual code that correctly implements this? A plan, "
    "comment or README describing it is not enough.",
    "Code Execution": "Would running the repository's entry point (reproduce.sh / main script) as written "
    "execute this successfully? Judge from the code only; nothing was run.",
    "Result Analysis": "Would the repository, as written, produce and report results that agree with "
    "this? Judge from the code only; nothing was run.",
    "Subtree": "Does the repository satisfy this requirement as a whole?",
}


class RubricNode(BaseModel):
    id: str
    requirements: str
    weight: float
    sub_tasks: list[RubricNode] = Field(default_factory=list)
    task_category: str | None = None
    finegrained_task_category: str | None = None

    @property
    def is_leaf(self) -> bool:
        return not self.sub_tasks

    def leaves(self) -> list[RubricNode]:
        """Every leaf under this node, depth first, in the rubric's order."""
        if self.is_leaf:
            return [self]
        return [leaf for child in self.sub_tasks for leaf in child.leaves()]

    def walk(self) -> Iterable[tuple[RubricNode, list[RubricNode]]]:
        """(node, its ancestors from the root) for every node, depth first."""
        stack: list[tuple[RubricNode, list[RubricNode]]] = [(self, [])]
        while stack:
            node, ancestors = stack.pop()
            yield node, ancestors
            stack.extend((child, [*ancestors, node]) for child in reversed(node.sub_tasks))


# -- reading and validating ----------------------------------------------------


def _where(path: list[str]) -> str:
    return "".join(["root", *(f".{p}" for p in path)])


def _check(obj: Any, path: list[str], seen: dict[str, str], errors: list[str]) -> RubricNode | None:
    where = _where(path)
    if not isinstance(obj, dict):
        errors.append(f"{where}: a node must be a JSON object, got {type(obj).__name__}")
        return None
    node_id = obj.get("id")
    if not isinstance(node_id, str) or not node_id.strip():
        errors.append(f"{where}: missing 'id' (a non-empty string)")
        node_id = ""
    else:
        where = f"node {node_id!r} at {where}" if path else f"root node {node_id!r}"
        if node_id in seen:
            # Published PaperBench rubrics repeat ids (copied leaves); grades are keyed by id, so a repeat
            # gets the first free `id#n` in tree order instead of refusing the whole rubric.
            n = 2
            while f"{node_id}#{n}" in seen:
                n += 1
            node_id = f"{node_id}#{n}"
        seen[node_id] = where
    requirements = obj.get("requirements")
    if not isinstance(requirements, str) or not requirements.strip():
        errors.append(f"{where}: missing 'requirements' (the requirement's text)")
        requirements = ""
    weight = obj.get("weight")
    if "weight" not in obj or weight is None:
        errors.append(f"{where}: missing 'weight' (a non-negative number)")
        weight = 0.0
    elif isinstance(weight, bool) or not isinstance(weight, (int, float)):
        errors.append(f"{where}: 'weight' must be a non-negative number, got {weight!r}")
        weight = 0.0
    elif weight < 0:
        errors.append(f"{where}: 'weight' must be a non-negative number, got {weight!r}")
    raw_children = obj.get("sub_tasks", [])
    if raw_children is None:
        raw_children = []
    if not isinstance(raw_children, list):
        errors.append(f"{where}: 'sub_tasks' must be a list of nodes, got {type(raw_children).__name__}")
        raw_children = []
    children = [
        _check(child, [*path, f"sub_tasks[{i}]"], seen, errors) for i, child in enumerate(raw_children)
    ]
    category = obj.get("task_category")
    if raw_children:
        if category:
            errors.append(
                f"{where}: has sub_tasks, so it is not a leaf and cannot have a task_category ({category!r})"
            )
        category = None
    elif not category:
        errors.append(f"{where}: a leaf needs a task_category, one of {', '.join(TASK_CATEGORIES)}")
    elif category not in TASK_CATEGORIES:
        errors.append(f"{where}: unknown task_category {category!r}; use one of {', '.join(TASK_CATEGORIES)}")
    fine = obj.get("finegrained_task_category")
    if any(c is None for c in children):
        return None
    return RubricNode(
        id=node_id,
        requirements=requirements,
        weight=float(weight),
        sub_tasks=[c for c in children if c is not None],
        task_category=category if isinstance(category, str) else None,
        finegrained_task_category=fine if isinstance(fine, str) else None,
    )


def parse_rubric(data: Any) -> RubricNode:
    """A validated rubric tree; every problem is listed at once, each naming the node it is in."""
    if data is None or data == {} or data == []:
        raise ValidationFailed("the rubric is empty", ["the rubric is empty: give the root node of the tree"])
    if not isinstance(data, dict):
        msg = f"the rubric must be one JSON object (the root node), got {type(data).__name__}"
        raise ValidationFailed(msg, [msg])
    errors: list[str] = []
    root = _check(data, [], {}, errors)
    if errors or root is None:
        shown = errors[:20] + ([f"... and {len(errors) - 20} more"] if len(errors) > 20 else [])
        raise ValidationFailed("the rubric is malformed: " + "; ".join(shown), errors)
    return root


def load_rubric(path: str | Path) -> dict[str, Any]:
    """A rubric file's JSON, validated (returned as data, so it can be stored as it was given)."""
    p = Path(path).expanduser()
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValidationFailed(f"rubric file {p} does not exist", [f"{p} does not exist"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationFailed(f"cannot read rubric file {p}: {exc}", [str(exc)]) from exc
    # No size cap (PaperBench rubrics run to megabytes), but a depth cap before parsing: the tree
    # is walked recursively.
    check_json_depth(text, f"rubric file {p}")
    try:
        data = json.loads(text) if text.strip() else None
    except json.JSONDecodeError as exc:
        raise ValidationFailed(f"rubric file {p} is not valid JSON: {exc}", [str(exc)]) from exc
    parse_rubric(data)
    return cast(dict[str, Any], data)


def check_categories(categories: Iterable[str]) -> list[str]:
    chosen = sorted(set(categories))
    if not chosen:
        raise ValidationFailed("choose at least one task category", ["no category chosen"])
    unknown = [c for c in chosen if c not in TASK_CATEGORIES]
    if unknown:
        msg = f"unknown task categor{'y' if len(unknown) == 1 else 'ies'} {', '.join(map(repr, unknown))}"
        raise ValidationFailed(f"{msg}; use one of {', '.join(TASK_CATEGORIES)}", [msg])
    return chosen


def rubric_hash(data: Any) -> str:
    return canonical_hash(data)


# -- choosing and aggregating ----------------------------------------------------


def graded_leaves(root: RubricNode, categories: Iterable[str]) -> list[RubricNode]:
    """The leaves to grade: those of the chosen categories, in the rubric's order."""
    chosen = set(categories)
    return [leaf for leaf in root.leaves() if leaf.task_category in chosen]


def batches(leaves: list[RubricNode], size: int) -> list[list[RubricNode]]:
    size = max(1, size)
    return [leaves[i : i + size] for i in range(0, len(leaves), size)]


def node_scores(
    root: RubricNode, grades: Mapping[str, float], categories: Iterable[str]
) -> dict[str, float | None]:
    """Every node's score in [0, 1] (None when none of its leaves is graded), by node id.

    A leaf of a chosen category must have a grade; a leaf of another category scores None.
    A node scores the weighted mean of its children that have a score; when those weigh
    nothing in total it scores None too, so it drops out of its own parent's mean.
    """
    chosen = set(categories)
    out: dict[str, float | None] = {}

    def score(node: RubricNode) -> float | None:
        if node.is_leaf:
            if node.task_category not in chosen:
                value: float | None = None
            elif node.id not in grades:
                raise ValidationFailed(f"leaf {node.id!r} has no grade", [f"no grade for {node.id!r}"])
            else:
                value = float(grades[node.id])
        else:
            scored = [(child.weight, s) for child in node.sub_tasks if (s := score(child)) is not None]
            total = sum(w for w, _ in scored)
            value = sum(w * s for w, s in scored) / total if scored and total > 0 else None
        out[node.id] = value
        return value

    score(root)
    return out


def aggregate(root: RubricNode, grades: Mapping[str, float], categories: Iterable[str]) -> float | None:
    """The root's score in [0, 1]: the replication score before it is turned into percent."""
    return node_scores(root, grades, categories)[root.id]

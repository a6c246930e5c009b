"""PaperBench rubrics: validation with errors naming the node, and aggregation against hand-computed trees."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from papercoder_mcp.errors import ValidationFailed
from papercoder_mcp.evaluation.rubric import (
    aggregate,
    batches,
    check_categories,
    graded_leaves,
    load_rubric,
    node_scores,
    parse_rubric,
)


def leaf(node_id: str, weight: float = 1, category: str = "Code Development") -> dict[str, Any]:
    return {
        "id": node_id,
        "requirements": f"requirement {node_id}",
        "weight": weight,
        "sub_tasks": [],
        "task_category": category,
        "finegrained_task_category": "Method Implementation",
    }


def node(node_id: str, weight: float, *children: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": node_id,
        "requirements": f"requirement {node_id}",
        "weight": weight,
        "sub_tasks": list(children),
        "task_category": None,
        "finegrained_task_category": None,
    }


def tree() -> dict[str, Any]:
    """root
    ├─ a (w3): a1 (w1, CD), a2 (w1, CD), a3 (w2): a3x (CD), a3y (CD)
    ├─ b (w1): b1 (w2, CD), b2 (w1, Code Execution)
    └─ c (w2): c1 (Result Analysis)
    """
    return node(
        "root",
        1,
        node("a", 3, leaf("a1"), leaf("a2"), node("a3", 2, leaf("a3x"), leaf("a3y"))),
        node("b", 1, leaf("b1", 2), leaf("b2", 1, "Code Execution")),
        node("c", 2, leaf("c1", 1, "Result Analysis")),
    )


GRADES = {"a1": 1, "a2": 0, "a3x": 1, "a3y": 1, "b1": 1, "b2": 0, "c1": 1}


class TestAggregation:
    def test_code_development_only_by_hand(self) -> None:
        root = parse_rubric(tree())
        scores = node_scores(root, GRADES, ["Code Development"])
        # a3 = 1; a = (1*1 + 1*0 + 2*1) / 4 = 0.75; b = b1 alone = 1 (b2 is another category);
        # c has no Code Development leaf, so it drops out of root's mean instead of counting 0.
        assert scores["a3"] == 1.0
        assert scores["a"] == pytest.approx(0.75)
        assert scores["b"] == 1.0
        assert scores["c"] is None and scores["c1"] is None
        assert scores["root"] == pytest.approx((3 * 0.75 + 1 * 1.0) / 4)  # 0.8125

    def test_two_categories_by_hand(self) -> None:
        root = parse_rubric(tree())
        got = aggregate(root, GRADES, ["Code Development", "Code Execution"])
        b = (2 * 1 + 1 * 0) / 3
        assert got == pytest.approx((3 * 0.75 + 1 * b) / 4)

    def test_all_categories_count_every_top_level_node(self) -> None:
        root = parse_rubric(tree())
        got = aggregate(root, GRADES, ["Code Development", "Code Execution", "Result Analysis"])
        b = 2 / 3
        assert got == pytest.approx((3 * 0.75 + 1 * b + 2 * 1.0) / 6)

    def test_weights_change_the_mean_not_just_the_count(self) -> None:
        data = node("root", 1, leaf("x", 9), leaf("y", 1))
        assert aggregate(parse_rubric(data), {"x": 0, "y": 1}, ["Code Development"]) == pytest.approx(0.1)

    def test_a_zero_weight_node_does_not_count(self) -> None:
        data = node("root", 1, leaf("x", 0), leaf("y", 1))
        assert aggregate(parse_rubric(data), {"x": 0, "y": 1}, ["Code Development"]) == 1.0

    def test_nothing_graded_gives_none(self) -> None:
        assert aggregate(parse_rubric(tree()), {}, ["Subtree"]) is None

    def test_a_missing_grade_for_a_chosen_leaf_is_an_error(self) -> None:
        with pytest.raises(ValidationFailed, match="'a2' has no grade"):
            aggregate(parse_rubric(tree()), {"a1": 1}, ["Code Development"])

    def test_leaves_are_chosen_in_order_and_batched(self) -> None:
        root = parse_rubric(tree())
        chosen = graded_leaves(root, ["Code Development"])
        assert [leaf.id for leaf in chosen] == ["a1", "a2", "a3x", "a3y", "b1"]
        assert [[x.id for x in b] for b in batches(chosen, 2)] == [["a1", "a2"], ["a3x", "a3y"], ["b1"]]


class TestValidation:
    def errors(self, data: Any) -> list[str]:
        with pytest.raises(ValidationFailed) as info:
            parse_rubric(data)
        return info.value.errors

    def test_a_valid_tree_parses(self) -> None:
        root = parse_rubric(tree())
        assert root.id == "root" and len(root.leaves()) == 7
        assert root.sub_tasks[0].sub_tasks[0].finegrained_task_category == "Method Implementation"

    @pytest.mark.parametrize("data", [None, {}, []])
    def test_an_empty_tree(self, data: Any) -> None:
        assert self.errors(data) == ["the rubric is empty: give the root node of the tree"]

    def test_not_an_object(self) -> None:
        assert "one JSON object" in self.errors("root")[0]

    def test_missing_and_negative_weights_name_the_node(self) -> None:
        bad = tree()
        del bad["sub_tasks"][0]["sub_tasks"][0]["weight"]
        bad["sub_tasks"][1]["weight"] = -1
        bad["sub_tasks"][2]["weight"] = "heavy"
        errors = self.errors(bad)
        assert (
            "node 'a1' at root.sub_tasks[0].sub_tasks[0]: missing 'weight' (a non-negative number)" in errors
        )
        assert "node 'b' at root.sub_tasks[1]: 'weight' must be a non-negative number, got -1" in errors
        assert "node 'c' at root.sub_tasks[2]: 'weight' must be a non-negative number, got 'heavy'" in errors

    def test_repeated_ids_are_kept_apart(self) -> None:
        # Published PaperBench rubrics repeat leaf ids; each repeat is graded as its own leaf.
        root = parse_rubric(node("root", 1, leaf("x"), node("y", 1, leaf("x"), leaf("x"))))
        ids = [n.id for n, _ in root.walk()]
        assert ids == ["root", "x", "y", "x#2", "x#3"]
        assert [leaf.id for leaf in graded_leaves(root, ["Code Development"])] == ["x", "x#2", "x#3"]

    def test_leaf_without_category_and_unknown_category(self) -> None:
        bad = node("root", 1, leaf("x"), leaf("y"))
        bad["sub_tasks"][0]["task_category"] = None
        bad["sub_tasks"][1]["task_category"] = "Vibes"
        errors = self.errors(bad)
        assert errors[0].startswith(
            "node 'x' at root.sub_tasks[0]: a leaf needs a task_category, one of Code"
        )
        assert errors[1].startswith(
            "node 'y' at root.sub_tasks[1]: unknown task_category 'Vibes'; use one of"
        )

    def test_non_list_sub_tasks_and_non_object_children(self) -> None:
        bad = node("root", 1, leaf("x"))
        bad["sub_tasks"][0]["sub_tasks"] = {"id": "z"}
        errors = self.errors(bad)
        assert errors == ["node 'x' at root.sub_tasks[0]: 'sub_tasks' must be a list of nodes, got dict"]
        assert "a node must be a JSON object, got str" in self.errors(node("root", 1, "x"))[0]  # type: ignore[arg-type]

    def test_missing_id_and_requirements(self) -> None:
        bad = node("root", 1, {"weight": 1, "task_category": "Code Development"})
        errors = self.errors(bad)
        assert "root.sub_tasks[0]: missing 'id' (a non-empty string)" in errors
        assert "root.sub_tasks[0]: missing 'requirements' (the requirement's text)" in errors

    def test_an_inner_node_cannot_have_a_category(self) -> None:
        bad = node("root", 1, node("a", 1, leaf("x")))
        bad["sub_tasks"][0]["task_category"] = "Code Development"
        assert "not a leaf and cannot have a task_category" in self.errors(bad)[0]

    def test_every_problem_is_reported_at_once(self) -> None:
        bad = node("root", 1, leaf("x", -1), leaf("y", 1, "Nope"), {"id": "z", "weight": 1})
        assert len(self.errors(bad)) == 4  # a weight, a category, and z's requirements and category

    def test_files(self, tmp_path: Path) -> None:
        good = tmp_path / "rubric.json"
        good.write_text(json.dumps(tree()))
        assert load_rubric(good)["id"] == "root"
        broken = tmp_path / "broken.json"
        broken.write_text('{"id": ')
        with pytest.raises(ValidationFailed, match="is not valid JSON"):
            load_rubric(broken)
        with pytest.raises(ValidationFailed, match="does not exist"):
            load_rubric(tmp_path / "nope.json")
        empty = tmp_path / "empty.json"
        empty.write_text("")
        with pytest.raises(ValidationFailed, match="the rubric is empty"):
            load_rubric(empty)

    def test_categories(self) -> None:
        assert check_categories(["Result Analysis", "Code Development", "Code Development"]) == [
            "Code Development",
            "Result Analysis",
        ]
        with pytest.raises(ValidationFailed, match="unknown task category 'Coding'"):
            check_categories(["Coding"])
        with pytest.raises(ValidationFailed, match="at least one"):
            check_categories([])


SHARED_RUBRIC = Path(__file__).resolve().parents[2] / "shared" / "eval" / "bridging-data-gaps" / "rubric.json"


@pytest.mark.skipif(not SHARED_RUBRIC.exists(), reason="needs ../shared/eval (third-party material)")
def test_a_published_paperbench_rubric_loads() -> None:
    root = parse_rubric(load_rubric(SHARED_RUBRIC))  # it repeats three leaf ids
    ids = [n.id for n, _ in root.walk()]
    assert len(ids) == len(set(ids))
    assert len(graded_leaves(root, ["Code Development"])) == 52

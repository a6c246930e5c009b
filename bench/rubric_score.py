"""Score blind 0/1 grades of rubric leaves with the project's own PaperBench aggregation.

    python bench/rubric_score.py ../shared/eval/bridging-data-gaps/rubric.json grades.json

`grades.json` maps every leaf id of the chosen categories (default Code Development) to 0 or 1, as a
judge that read the repository wrote them; this prints the weighted score, computed exactly as
`evaluate_repo(mode="rubric")` computes it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from papercoder_mcp.evaluation.rubric import (
    DEFAULT_CATEGORIES,
    aggregate,
    graded_leaves,
    load_rubric,
    parse_rubric,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rubric", type=Path)
    parser.add_argument("grades", type=Path)
    parser.add_argument("--category", action="append", default=None)
    args = parser.parse_args()
    categories = args.category or list(DEFAULT_CATEGORIES)
    root = parse_rubric(load_rubric(args.rubric))
    grades = {k: float(v) for k, v in json.loads(args.grades.read_text()).items()}
    leaves = graded_leaves(root, categories)
    missing = [leaf.id for leaf in leaves if leaf.id not in grades]
    if missing:
        raise SystemExit(f"no grade for {len(missing)} leaves, e.g. {missing[:3]}")
    score = aggregate(root, grades, categories)
    passed = sum(int(grades[leaf.id]) for leaf in leaves)
    print(
        json.dumps(
            {
                "score_percent": None if score is None else round(100 * score, 1),
                "passed": passed,
                "leaves": len(leaves),
            }
        )
    )


if __name__ == "__main__":
    main()

"""How much a test file checks: its test functions and assertions, so a repair cannot weaken it.

A repair may fix a test that is itself wrong, but never delete a test or make it pass by asserting
less. `assert True`, `assert 1` and other constant assertions do not count.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import PurePosixPath

from papercoder_mcp.errors import LimitExceeded
from papercoder_mcp.limits import parse_python


def is_test_file(path: str) -> bool:
    name = PurePosixPath(path).name
    return path.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py"))


@dataclass(frozen=True)
class Checks:
    tests: int
    asserts: int

    def weaker_than(self, other: Checks) -> bool:
        return self.tests < other.tests or self.asserts < other.asserts


def strength(source: str) -> Checks | None:
    """Test functions and real assertions in `source`; None when it does not parse."""
    try:
        tree = parse_python(source)
    except (SyntaxError, LimitExceeded):  # absurd nesting does not parse either
        return None
    tests = asserts = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test"):
            tests += 1
        elif isinstance(node, ast.Assert):
            asserts += not isinstance(node.test, ast.Constant)
        elif isinstance(node, ast.Call):
            func = node.func
            name = (
                func.attr
                if isinstance(func, ast.Attribute)
                else func.id
                if isinstance(func, ast.Name)
                else ""
            )
            # self.assertEqual, np.testing.assert_allclose, torch.testing.assert_close, pytest.raises
            asserts += name.startswith("assert") or name in ("raises", "approx")
    return Checks(tests, asserts)


def weakening(path: str, before: str, after: str) -> str | None:
    """Why `after` is a weaker version of test file `path` than `before`, or None."""
    if not is_test_file(path):
        return None
    old, new = strength(before), strength(after)
    if old is None or new is None or not new.weaker_than(old):
        return None
    return (
        f"{path} had {old.tests} test function(s) and {old.asserts} assertion(s); the new version has "
        f"{new.tests} and {new.asserts}. A test may be corrected but never deleted or weakened: keep every "
        "test and every assertion, and fix the code under test (or the test's wrong expectation) instead"
    )

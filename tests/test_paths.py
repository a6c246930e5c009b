"""The path policy and the nesting scans on their own: what they accept matters as much as what they refuse."""

from __future__ import annotations

import pytest

from papercoder_mcp.errors import UnsafePath
from papercoder_mcp.limits import MAX_CODE_DEPTH, json_depth, python_depth
from papercoder_mcp.paths import check_path_set, normalize_repo_path

from fake_model import FakeModel


class TestAccepted:
    @pytest.mark.parametrize(
        "path",
        [
            "main.py",
            "src/models/transformer.py",
            ".github/workflows/ci.yml",
            ".gitignore",
            "pkg/.gitattributes",
            "git/notes.md",
            "données/modèle.py",
            "with space.py",
            "console.py",  # a device name is the whole stem, not a prefix
            "auxiliary/loss.py",
            "com10.py",
        ],
    )
    def test_ordinary_paths_pass_unchanged(self, path: str) -> None:
        assert normalize_repo_path(path) == path

    def test_nfc_is_the_stored_form(self) -> None:
        assert normalize_repo_path("cafe\u0301.py") == "caf\u00e9.py"

    def test_siblings_and_nested_folders_coexist(self) -> None:
        check_path_set(["a/b.py", "a/c.py", "a/d/e.py", "ab.py", "b/a.py"])


class TestRefusedTogether:
    def test_a_case_twin_names_both_paths(self) -> None:
        with pytest.raises(UnsafePath, match=r"'Main.py' and 'main.py' differ only in case"):
            check_path_set(["Main.py", "main.py"])

    def test_a_file_that_is_a_folder_is_named(self) -> None:
        with pytest.raises(UnsafePath, match=r"'a.py' is a file and also a folder"):
            check_path_set(["a.py/b.py", "a.py"])

    def test_a_git_component_refused_in_any_case_or_with_windows_trailing_dots(self) -> None:
        for path in [".git", "x/.Git/y", ".git./config", "a/.GIT /b"]:
            with pytest.raises(UnsafePath, match=r"\.git"):
                normalize_repo_path(path)


class TestPortable:
    @pytest.mark.parametrize(
        ("path", "rule"),
        [
            ("aux.py", "Windows device name"),
            ("src/CON", "Windows device name"),
            ("data/lpt1.txt", "Windows device name"),
            ("Nul.tar.gz", "Windows device name"),
            ("x?.py", "Windows does not allow"),
            ('a"b.py', "Windows does not allow"),
            ("dir./a.py", "ending in a dot or space"),
        ],
    )
    def test_names_windows_cannot_hold_are_refused(self, path: str, rule: str) -> None:
        with pytest.raises(UnsafePath, match=rule):
            normalize_repo_path(path)


class TestNestingScans:
    def test_generated_code_is_far_below_the_cap(self) -> None:
        fake = FakeModel()
        for path in fake.files:
            assert python_depth(fake.code_for(path)) < 5

    def test_brackets_in_strings_and_comments_do_not_count(self) -> None:
        code = (
            'x = "((((((((" * 200  # ' + "[" * 300 + "\ny = '''" + "{" * 300 + "'''\nz = [1, (2, {3: 4})]\n"
        )
        assert python_depth(code) == 3

    def test_indentation_counts_as_nesting(self) -> None:
        code = (
            "".join(" " * (4 * i) + f"if x{i}:\n" for i in range(MAX_CODE_DEPTH + 5)) + " " * 500 + "pass\n"
        )
        assert python_depth(code) > MAX_CODE_DEPTH

    def test_json_depth_skips_strings_and_escapes(self) -> None:
        assert json_depth('{"a": "[[[\\"[[[", "b": [[1]]}') == 3

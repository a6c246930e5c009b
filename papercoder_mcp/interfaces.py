"""The public interface of a generated Python file (signatures and first docstring lines), for prompts.

A repair prompt needs what a file's dependencies offer, not their whole code.
"""

from __future__ import annotations

import ast

from papercoder_mcp.errors import LimitExceeded
from papercoder_mcp.limits import check_python


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef, indent: str) -> list[str]:
    prefix = "async def" if isinstance(node, ast.AsyncFunctionDef) else "def"
    returns = f" -> {ast.unparse(node.returns)}" if node.returns else ""
    lines = [f"{indent}{prefix} {node.name}({ast.unparse(node.args)}){returns}: ..."]
    doc = ast.get_docstring(node)
    if doc:
        lines[0] = lines[0][:-5] + ":"
        lines.append(f'{indent}    """{doc.strip().splitlines()[0]}"""')
    return lines


def interface_of(source: str) -> str:
    """Top-level functions, classes (with methods and class attributes) and constants of a module."""
    try:
        check_python(source, "the module")
        tree = ast.parse(source)
    except SyntaxError as exc:
        return f"# (does not parse: {exc.msg} at line {exc.lineno})"
    except (LimitExceeded, RecursionError, MemoryError, ValueError) as exc:
        return f"# (not read: {exc})"
    out: list[str] = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            out += _signature(node, "")
        elif isinstance(node, ast.ClassDef):
            bases = f"({', '.join(ast.unparse(b) for b in node.bases)})" if node.bases else ""
            out.append(f"class {node.name}{bases}:")
            members = 0
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    out += _signature(item, "    ")
                    members += 1
                elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    out.append(f"    {item.target.id}: {ast.unparse(item.annotation)}")
                    members += 1
            if not members:
                out.append("    ...")
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [t.id for t in targets if isinstance(t, ast.Name) and t.id.isupper()]
            out += [f"{name} = ..." for name in names]
    return "\n".join(out)

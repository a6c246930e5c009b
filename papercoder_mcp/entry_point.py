"""The commands a generated entry point really offers, read from its argparse, click or typer code.

The README and reproduce.sh of an export, the interface summaries in generation
prompts and the coverage check all need the command line as the code defines
it, not as the design hoped: a `python main.py` that exits with an argparse
error is worse than no command. Nothing here runs the code; it reads the syntax
tree, and says `framework="unknown"` when it cannot tell.
"""

from __future__ import annotations

import ast
import shlex
from typing import Literal

from pydantic import BaseModel, Field

from papercoder_mcp.errors import LimitExceeded
from papercoder_mcp.limits import parse_python

Framework = Literal["argparse", "click", "typer", "unknown"]


class CliOption(BaseModel):
    flags: list[str] = Field(description="['--lr', '-l'] for an option, ['path'] for a positional")
    positional: bool = False
    required: bool = False
    takes_value: bool = True
    values: int | Literal["+", "*"] = Field(
        1, description="how many words its value takes: a count, or argparse's nargs '+' / '*'"
    )
    metavar: str = ""
    choices: list[str] = Field(default_factory=list, description="the values `choices=` allows, if strings")

    @property
    def name(self) -> str:
        long = [f for f in self.flags if f.startswith("--")]
        return (long or self.flags)[0]

    def usage(self) -> str:
        if self.positional:
            return (self.metavar or self.name).upper()
        value = (
            f" {(self.metavar or self.name.lstrip('-').replace('-', '_')).upper()}"
            if self.takes_value
            else ""
        )
        return f"{self.name}{value}"


class CliCommand(BaseModel):
    name: str = Field("", description="the subcommand, or '' for the program itself")
    options: list[CliOption] = Field(default_factory=list)

    def find(self, flag: str) -> CliOption | None:
        return next((o for o in self.options if flag in o.flags), None)


class EntryPointCli(BaseModel):
    """The command line of one entry point file."""

    path: str
    framework: Framework
    root: CliCommand = Field(default_factory=CliCommand)
    subcommands: list[CliCommand] = Field(default_factory=list)
    subcommand_required: bool = False
    strings: list[str] = Field(default_factory=list, description="string constants, for an unknown CLI")

    def command(self, name: str) -> CliCommand | None:
        return next((c for c in self.subcommands if c.name == name), None)

    def problem(self, argv: list[str]) -> str:
        """Why `python ENTRY argv...` would not parse ('' when it would)."""
        if self.framework == "unknown":
            flags = [a.split("=", 1)[0] for a in argv if a.startswith("-")]
            words = [a for a in argv[:1] if not a.startswith("-")]
            missing = [t for t in [*words, *flags] if t not in self.strings]
            return f"{self.path} does not mention {', '.join(missing)}" if missing else ""
        problem, rest = _consume(self.root, list(argv))
        if problem:
            return problem
        checked = [self.root]
        if self.subcommands and rest:
            sub = self.command(rest[0])
            if sub is None:
                names = ", ".join(c.name for c in self.subcommands)
                return f"{self.path} has no subcommand {rest[0]!r} (it has {names})"
            problem, rest = _consume(sub, rest[1:])
            if problem:
                return problem
            checked.append(sub)
        elif self.subcommands and self.subcommand_required:
            return f"{self.path} needs a subcommand ({', '.join(c.name for c in self.subcommands)})"
        if rest:
            return f"{self.path}: unexpected arguments {' '.join(rest)}"
        given = {a.split("=", 1)[0] for a in argv}
        for cmd in checked:
            for opt in cmd.options:
                if opt.required and not opt.positional and not set(opt.flags) & given:
                    return f"{self.path}{' ' + cmd.name if cmd.name else ''} requires {opt.name}"
        return ""

    def usage(self, entry: str) -> list[str]:
        """One usage line per command, with its required arguments."""
        base = f"python {entry}"
        root_req = " ".join(o.usage() for o in self.root.options if o.required or o.positional)
        if not self.subcommands:
            return [" ".join(p for p in (base, root_req) if p)]
        lines = []
        for cmd in self.subcommands:
            req = " ".join(o.usage() for o in cmd.options if o.required or o.positional)
            lines.append(" ".join(p for p in (base, root_req, cmd.name, req) if p))
        return lines


def _consume(cmd: CliCommand, argv: list[str]) -> tuple[str, list[str]]:
    """Walk one command's options and positionals; return a problem, or the words left after them
    (where a subcommand starts)."""
    positionals = [o for o in cmd.options if o.positional]
    where = f" {cmd.name}" if cmd.name else " the program"
    i = seen = 0
    while i < len(argv):
        token = argv[i]
        if token.startswith("-") and token != "-":
            flag = token.split("=", 1)[0]
            opt = cmd.find(flag)
            if opt is None and flag not in ("-h", "--help"):
                return f"unknown option {flag} for{where}", []
            i += 1
            if opt is not None and opt.takes_value and "=" not in token:
                i = _take_values(argv, i, opt.values)
        elif seen < len(positionals):
            i = _take_values(argv, i, positionals[seen].values)
            seen += 1
        else:
            break
    missing = [o.usage() for o in positionals[seen:] if o.required]
    if missing:
        return f"{where.strip()} needs {', '.join(missing)}", []
    return "", argv[i:]


def _take_values(argv: list[str], i: int, values: int | str) -> int:
    """Where the words after one option (or positional) end: `values` of them, or, for nargs '+' and
    '*', every word up to the next option, as argparse reads them."""
    if isinstance(values, int):
        return i + values
    while i < len(argv) and not (argv[i].startswith("-") and argv[i] != "-"):
        i += 1
    return i


def split_command(command: str, entry: str) -> list[str] | None:
    """The arguments after `python ENTRY` (or `python -m MODULE`), or None when it runs something else."""
    try:
        argv = shlex.split(command)
    except ValueError:
        return None
    module = entry.removesuffix(".py").replace("/", ".")
    if len(argv) >= 2 and argv[0] in ("python", "python3"):
        if argv[1] == entry:
            return argv[2:]
        if argv[1] == "-m" and argv[2:3] == [module]:
            return argv[3:]
    return None


# -- reading the code -----------------------------------------------------------------


def _name(expr: ast.expr) -> str:
    return ast.unparse(expr)


def _call_name(func: ast.expr) -> str:
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return ""


def _const(expr: ast.expr | None) -> object:
    if isinstance(expr, ast.Constant):
        return expr.value
    return None


def _kw(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def read_cli(path: str, source: str) -> EntryPointCli:
    """The command line that the code of `path` defines."""
    try:
        tree = parse_python(source, path)
    except (SyntaxError, LimitExceeded):
        return EntryPointCli(path=path, framework="unknown")
    strings = sorted(
        {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    )
    for reader in (_argparse, _click, _typer):
        found = reader(path, tree)
        if found is not None:
            return found
    return EntryPointCli(path=path, framework="unknown", strings=strings)


def _string_lists(tree: ast.Module) -> dict[str, list[str]]:
    """Module-level `NAME = ["a", "b"]` (a tuple, or a dict of commands by name, or one built from
    an earlier such name): what `choices=NAME` can refer to."""
    found: dict[str, list[str]] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            value, targets = node.value, node.targets
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            value, targets = node.value, [node.target]
        else:
            continue
        items = _choices(value, found)
        if items:
            found.update({t.id: items for t in targets if isinstance(t, ast.Name)})
    return found


def _choices(expr: ast.expr | None, named: dict[str, list[str]]) -> list[str]:
    """The strings of a literal list, tuple or dict (its keys), or of a module-level one it names,
    as `list(COMMANDS) + ["smoke"]`, `[*COMMANDS, "smoke"]`, `sorted(COMMANDS)` or `COMMANDS.keys()`
    spell them ([] when any part is not such a literal: a guess would document commands that do
    not exist)."""
    if isinstance(expr, ast.Name):
        return named.get(expr.id, [])
    if isinstance(expr, ast.Dict):
        return _strings_of([k for k in expr.keys if k is not None], named) if None not in expr.keys else []
    if isinstance(expr, (ast.List, ast.Tuple)):
        return _strings_of(expr.elts, named)
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
        left, right = _choices(expr.left, named), _choices(expr.right, named)
        return left + right if left and right else []
    if isinstance(expr, ast.Call) and not expr.keywords:
        fn = expr.func.id if isinstance(expr.func, ast.Name) else ""
        if fn in ("list", "tuple", "sorted") and len(expr.args) == 1:
            items = _choices(expr.args[0], named)
            return sorted(items) if fn == "sorted" else items
        if isinstance(expr.func, ast.Attribute) and expr.func.attr == "keys" and not expr.args:
            return _choices(expr.func.value, named)
    return []


def _strings_of(elts: list[ast.expr], named: dict[str, list[str]]) -> list[str]:
    out: list[str] = []
    for e in elts:
        if isinstance(e, ast.Starred):
            spread = _choices(e.value, named)
            if not spread:
                return []
            out += spread
            continue
        item = _const(e)
        if not isinstance(item, str):
            return []
        out.append(item)
    return out


def _argparse_option(call: ast.Call, named: dict[str, list[str]] | None = None) -> CliOption | None:
    flags = [a.value for a in call.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
    if not flags:
        return None
    action = _const(_kw(call, "action"))
    takes_value = action not in ("store_true", "store_false", "count", "help", "version", "store_const")
    metavar = _const(_kw(call, "metavar"))
    nargs = _const(_kw(call, "nargs"))
    # nargs: an int takes that many words; '+' and '*' take every word up to the next option; '?'
    # (and argparse.REMAINDER, read here as '*') one at most.
    values: int | Literal["+", "*"] = 1
    if isinstance(nargs, int) and not isinstance(nargs, bool) and nargs >= 0:
        values = nargs
    elif nargs == "+":
        values = "+"
    elif nargs in ("*", "..."):
        values = "*"
    if not flags[0].startswith("-"):
        return CliOption(
            flags=flags[:1],
            positional=True,
            required=nargs not in ("?", "*"),
            values=values,
            metavar=metavar if isinstance(metavar, str) else "",
            choices=_choices(_kw(call, "choices"), named or {}),
        )
    return CliOption(
        flags=flags,
        required=_const(_kw(call, "required")) is True,
        takes_value=takes_value and values != 0,
        values=values,
        metavar=metavar if isinstance(metavar, str) else "",
    )


def _argparse(path: str, tree: ast.Module) -> EntryPointCli | None:
    parsers: dict[str, CliCommand] = {}  # variable -> the command it adds arguments to
    subparsers: set[str] = set()
    commands: list[CliCommand] = []
    root: CliCommand | None = None
    required_sub = False
    named = _string_lists(tree)
    loops = _loop_values(tree, named)
    expanded: dict[int, list[str]] = {}  # id of a command made in a loop -> the names it stands for
    # Walk in source order so a parser is known before its arguments are added.
    nodes = sorted(
        (n for n in ast.walk(tree) if isinstance(n, (ast.Assign, ast.Expr, ast.AnnAssign))),
        key=lambda n: (n.lineno, n.col_offset),
    )
    for node in nodes:
        targets = (
            [_name(t) for t in node.targets]
            if isinstance(node, ast.Assign)
            else [_name(node.target)]
            if isinstance(node, ast.AnnAssign)
            else []
        )
        if isinstance(node, ast.Assign) and _const(node.value) is True:
            for t in node.targets:  # `subparsers.required = True`
                if isinstance(t, ast.Attribute) and t.attr == "required" and _name(t.value) in subparsers:
                    required_sub = True
            continue
        # What each call of a chain returns: a command (parser, group) or the subparsers action.
        current: CliCommand | str | None = None
        for position, call in enumerate(_calls_in_chain(node.value)):
            name = _call_name(call.func)
            if position == 0:
                owner_name = _name(call.func.value) if isinstance(call.func, ast.Attribute) else ""
                owner: CliCommand | str | None = parsers.get(owner_name) or (
                    "subparsers" if owner_name in subparsers else None
                )
            else:
                owner = current
            current = None
            if name == "ArgumentParser":
                root = root or CliCommand()
                current = root
            elif name == "add_subparsers" and isinstance(owner, CliCommand):
                required_sub = required_sub or _const(_kw(call, "required")) is True
                current = "subparsers"
            elif name == "add_parser" and owner == "subparsers":
                first = call.args[0] if call.args else None
                cmd_name = _const(first)
                if isinstance(cmd_name, str):
                    current = CliCommand(name=cmd_name)
                    commands.append(current)
                elif isinstance(first, ast.Name) and first.id in loops.get(id(node), {}):
                    # `for name in ("a", "b"): sub.add_parser(name)`: one command per value.
                    current = CliCommand(name=first.id)
                    expanded[id(current)] = loops[id(node)][first.id]
                    commands.append(current)
            elif name in ("add_argument_group", "add_mutually_exclusive_group") and isinstance(
                owner, CliCommand
            ):
                current = owner
            elif name == "add_argument" and isinstance(owner, CliCommand):
                opt = _argparse_option(call, named)
                if opt is not None:
                    owner.options.append(opt)
        for target in targets:
            if isinstance(current, CliCommand):
                parsers[target] = current
            elif current == "subparsers":
                subparsers.add(target)
    if root is None:
        return None
    commands = [
        c2
        for c in commands
        for c2 in (
            [CliCommand(name=v, options=list(c.options)) for v in expanded[id(c)]]
            if id(c) in expanded
            else [c]
        )
    ]
    if not commands:
        return _choices_as_commands(path, root) or EntryPointCli(path=path, framework="argparse", root=root)
    return EntryPointCli(
        path=path, framework="argparse", root=root, subcommands=commands, subcommand_required=required_sub
    )


def _choices_as_commands(path: str, root: CliCommand) -> EntryPointCli | None:
    """`parser.add_argument("command", choices=["train", "eval"])` is a command line of subcommands too.

    Its options may come before or after the command word, so each command carries them; the
    positionals after the command word are the command's own."""
    index = next((i for i, o in enumerate(root.options) if o.positional and o.choices), None)
    if index is None:
        return None
    word = root.options[index]
    flags = [o for o in root.options if not o.positional]
    before = [o for o in root.options[:index] if o.positional]
    after = [o for o in root.options[index + 1 :] if o.positional]
    commands = [CliCommand(name=c, options=[*flags, *after]) for c in word.choices]
    return EntryPointCli(
        path=path,
        framework="argparse",
        root=CliCommand(options=[*flags, *before]),
        subcommands=commands,
        subcommand_required=word.required,
    )


def _loop_values(tree: ast.Module, named: dict[str, list[str]]) -> dict[int, dict[str, list[str]]]:
    """For each statement inside `for NAME in <strings>` (or `for NAME, x in [("a", ...), ...]`), the
    values NAME takes there, by the statement's id."""
    found: dict[int, dict[str, list[str]]] = {}
    for loop in ast.walk(tree):
        if not isinstance(loop, ast.For):
            continue
        target, values = loop.target, _choices(loop.iter, named)
        if isinstance(target, ast.Tuple) and target.elts and isinstance(loop.iter, (ast.List, ast.Tuple)):
            firsts = [e.elts[0] if isinstance(e, ast.Tuple) and e.elts else None for e in loop.iter.elts]
            values = _choices(ast.List(elts=[f for f in firsts if f is not None], ctx=ast.Load()), named)
            if len(values) != len(firsts):
                values = []
            target = target.elts[0]
        if not isinstance(target, ast.Name) or not values:
            continue
        for stmt in loop.body:
            for node in ast.walk(stmt):
                found.setdefault(id(node), {})[target.id] = values
    return found


def _calls_in_chain(value: ast.expr | None) -> list[ast.Call]:
    """`a.b(...).c(...)` -> the calls innermost first; a plain call -> [call]."""
    out: list[ast.Call] = []
    cur = value
    while isinstance(cur, ast.Call):
        out.insert(0, cur)
        cur = cur.func.value if isinstance(cur.func, ast.Attribute) else None
    return out


def _decorators(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[tuple[str, str, ast.Call | None]]:
    """(owner, name, call) of each decorator: `@cli.command("x")` -> ('cli', 'command', call)."""
    out = []
    for dec in fn.decorator_list:
        call = dec if isinstance(dec, ast.Call) else None
        func = dec.func if isinstance(dec, ast.Call) else dec
        if isinstance(func, ast.Attribute):
            out.append((_name(func.value), func.attr, call))
        elif isinstance(func, ast.Name):
            out.append(("", func.id, call))
    return out


def _click_options(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[CliOption]:
    opts = []
    for owner, name, call in reversed(_decorators(fn)):
        if call is None or owner not in ("click", ""):
            continue
        flags = [a.value for a in call.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
        if name == "option" and flags:
            flags = [f for f in flags if f.startswith("-")] or flags
            is_flag = _const(_kw(call, "is_flag")) is True or any("/" in f for f in flags)
            flags = [p for f in flags for p in f.split("/")]
            opts.append(
                CliOption(
                    flags=flags, required=_const(_kw(call, "required")) is True, takes_value=not is_flag
                )
            )
        elif name == "argument" and flags:
            optional = _const(_kw(call, "required")) is False or _kw(call, "default") is not None
            optional = optional or _const(_kw(call, "nargs")) == -1
            opts.append(CliOption(flags=flags[:1], positional=True, required=not optional))
    return opts


def _click(path: str, tree: ast.Module) -> EntryPointCli | None:
    groups: set[str] = set()
    root: CliCommand | None = None
    commands: list[CliCommand] = []
    single: CliCommand | None = None
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for owner, name, call in _decorators(node):
            if owner == "click" and name == "group":
                groups.add(node.name)
                root = CliCommand(options=_click_options(node))
            elif owner == "click" and name == "command":
                single = CliCommand(options=_click_options(node))
            elif owner in groups and name == "command":
                given = _const(call.args[0]) if call is not None and call.args else None
                cmd_name = given if isinstance(given, str) else node.name.replace("_", "-")
                commands.append(CliCommand(name=cmd_name, options=_click_options(node)))
    if root is not None:
        return EntryPointCli(
            path=path, framework="click", root=root, subcommands=commands, subcommand_required=True
        )
    if single is not None:
        return EntryPointCli(path=path, framework="click", root=single)
    return None


def _typer_options(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[CliOption]:
    args = fn.args.posonlyargs + fn.args.args + fn.args.kwonlyargs
    defaults: list[ast.expr | None] = [None] * (
        len(fn.args.posonlyargs) + len(fn.args.args) - len(fn.args.defaults)
    )
    defaults += list(fn.args.defaults) + list(fn.args.kw_defaults)
    opts = []
    for arg, default in zip(args, defaults, strict=False):
        annotation = ast.unparse(arg.annotation) if arg.annotation else ""
        marker = (
            default
            if isinstance(default, ast.Call) and _call_name(default.func) in ("Option", "Argument")
            else None
        )
        if (
            marker is None
            and isinstance(arg.annotation, ast.Subscript)
            and _name(arg.annotation.value).endswith("Annotated")
        ):
            inner = arg.annotation.slice
            elts = inner.elts if isinstance(inner, ast.Tuple) else []
            marker = next(
                (
                    e
                    for e in elts[1:]
                    if isinstance(e, ast.Call) and _call_name(e.func) in ("Option", "Argument")
                ),
                None,
            )
            annotation = ast.unparse(elts[0]) if elts else annotation
        is_argument = (marker is not None and _call_name(marker.func) == "Argument") or (
            marker is None and default is None
        )
        if is_argument:
            required = default is None or (
                marker is not None and marker.args and _const(marker.args[0]) is Ellipsis
            )
            opts.append(CliOption(flags=[arg.arg], positional=True, required=bool(required)))
            continue
        explicit = [
            a.value
            for a in (marker.args[1:] if marker is not None else [])
            if isinstance(a, ast.Constant) and isinstance(a.value, str)
        ]
        flag = "--" + arg.arg.replace("_", "-")
        is_bool = annotation == "bool"
        flags = explicit or ([flag, "--no-" + flag[2:]] if is_bool else [flag])
        required = marker is not None and bool(marker.args) and _const(marker.args[0]) is Ellipsis
        if marker is not None and default is None and not marker.args:
            required = _kw(marker, "default") is None
        opts.append(CliOption(flags=flags, required=required, takes_value=not is_bool))
    return opts


def _typer(path: str, tree: ast.Module) -> EntryPointCli | None:
    apps: set[str] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Call)
            and _call_name(node.value.func) == "Typer"
        ):
            apps.update(_name(t) for t in node.targets)
    functions = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and _call_name(node.func) == "run"
            and _name(node.func).startswith("typer.")
        ):
            target = functions.get(_name(node.args[0])) if node.args else None
            if target is not None:
                return EntryPointCli(
                    path=path, framework="typer", root=CliCommand(options=_typer_options(target))
                )
    if not apps:
        return None
    commands: list[CliCommand] = []
    callback: CliCommand | None = None
    for fn in functions.values():
        for owner, name, call in _decorators(fn):
            if owner not in apps:
                continue
            if name == "command":
                given = _const(call.args[0]) if call is not None and call.args else None
                cmd_name = given if isinstance(given, str) else fn.name.replace("_", "-")
                commands.append(CliCommand(name=cmd_name, options=_typer_options(fn)))
            elif name == "callback":
                callback = CliCommand(options=_typer_options(fn))
    if len(commands) == 1 and callback is None:
        # Typer runs a lone command without its name.
        return EntryPointCli(path=path, framework="typer", root=CliCommand(options=commands[0].options))
    return EntryPointCli(
        path=path,
        framework="typer",
        root=callback or CliCommand(),
        subcommands=commands,
        subcommand_required=True,
    )

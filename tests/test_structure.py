"""The shape of the code, checked: no import cycle among the library's modules, no long functions.

Imports anywhere in a module count (an import inside a function is still a dependency), and so
does a package's `__init__`. Functions over 60 lines are allowed only as numba kernels (one
compiled loop is clearer whole) and as the benchmarks' pure table printers: straight-line code
that only assembles and returns text (no loop, branch, `with` or `try` statement), by that rule,
not by a list of names.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"indexer": "cooc.indexer", "scorer": "cooc.scorer", "cli": "cooc.cli"}
MAX_LINES = 60


def _modules() -> dict[str, Path]:
    mods = {}
    for folder, package in PACKAGES.items():
        for f in (ROOT / folder).rglob("*.py"):
            parts = [p for p in f.relative_to(ROOT / folder).with_suffix("").parts if p != "__init__"]
            mods[".".join([package, *parts])] = f
    return mods


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            for alias in node.names:
                full = f"{module}.{alias.name}"
                found |= {full} if full in known else ({module} if module in known else set())
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in known}
    return found - {name}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(u: str) -> list[str] | None:
        state[u] = 1
        stack.append(u)
        for v in sorted(graph[u]):
            if state.get(v) == 1:
                return stack[stack.index(v):] + [v]
            if v not in state and (found := visit(v)):
                return found
        stack.pop()
        state[u] = 2
        return None

    for m in sorted(graph):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_no_import_cycle_among_the_library_modules():
    mods = _modules()
    graph = {name: _imports(name, path, set(mods)) for name, path in mods.items()}
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def _is_kernel(fn: ast.FunctionDef) -> bool:
    return any("jit" in ast.unparse(d) for d in fn.decorator_list)


_CONTROL = (ast.For, ast.AsyncFor, ast.While, ast.If, ast.With, ast.AsyncWith, ast.Try, ast.TryStar, ast.Match)


def _is_table_printer(fn: ast.FunctionDef) -> bool:
    """Straight-line code that returns what it assembled: a long table reads best whole."""
    body = [n for stmt in fn.body for n in ast.walk(stmt)]
    return not any(isinstance(n, _CONTROL) for n in body) and isinstance(fn.body[-1], ast.Return) and \
        fn.body[-1].value is not None


def _long_functions(path: Path, source: str) -> list[str]:
    long = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not _is_kernel(node):
            lines = node.end_lineno - node.lineno + 1
            printer = "benchmarks" in path.parts and _is_table_printer(node)
            if lines > MAX_LINES and not printer:
                long.append(f"{path}:{node.lineno} {node.name} ({lines} lines)")
    return long


def test_no_function_over_60_lines():
    paths = [p for d in (*PACKAGES, "benchmarks") for p in (ROOT / d).rglob("*.py")]
    long = [f for p in paths for f in _long_functions(p.relative_to(ROOT), p.read_text())]
    assert not long, "\n".join(long)


def test_the_checker_sees_a_long_function_and_exempts_only_kernels_and_printers():
    rows = "".join(f"        'row {i}',\n" for i in range(MAX_LINES))
    printer = f"def table():\n    return [\n{rows}    ]\n"
    looping = f"def table():\n    out = [\n{rows}    ]\n    for x in out:\n        print(x)\n    return out\n"
    kernel = f"@nb.njit(cache=True)\ndef kernel():\n    x = [\n{rows}    ]\n    for y in x:\n        pass\n"
    assert _long_functions(Path("benchmarks/b.py"), printer) == []
    assert _long_functions(Path("indexer/b.py"), printer) == [f"indexer/b.py:1 table ({MAX_LINES + 3} lines)"]
    assert _long_functions(Path("benchmarks/b.py"), looping) == [f"benchmarks/b.py:1 table ({MAX_LINES + 6} lines)"]
    assert _long_functions(Path("indexer/b.py"), kernel) == []
    assert _long_functions(Path("indexer/b.py"), "def short():\n    return 1\n") == []


def test_the_checker_sees_a_cycle_and_a_relative_import(tmp_path):
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text("from .b import x\n")
    b.write_text("def f():\n    from cooc.scorer.a import y\n")
    known = {"cooc.scorer.a", "cooc.scorer.b"}
    graph = {"cooc.scorer.a": _imports("cooc.scorer.a", a, known), "cooc.scorer.b": _imports("cooc.scorer.b", b, known)}
    assert _cycle(graph) == ["cooc.scorer.a", "cooc.scorer.b", "cooc.scorer.a"]


CONFIG_SUFFIXES = ("Config", "Options", "Settings", "Limits", "Runner")


def _positional_configs(source: str) -> list[str]:
    """Config dataclasses (named ...Config, ...Options, ...) that accept their optional fields by position."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef) and node.name.endswith(CONFIG_SUFFIXES):
            decorators = [ast.unparse(d) for d in node.decorator_list]
            if not any(d.startswith("dataclass") for d in decorators):
                continue
            kw_only = any("kw_only=True" in d for d in decorators) or any(
                isinstance(s, ast.AnnAssign) and ast.unparse(s.annotation) in ("KW_ONLY", "dataclasses.KW_ONLY")
                for s in node.body)
            if not kw_only:
                found.append(node.name)
    return found


def test_configs_are_built_by_keyword():
    """`ReadOptions(text_field="title,text")`, never `ReadOptions("title,text", "id", 2048)`: the language refuses it."""
    paths = [p for d in (*PACKAGES, "benchmarks") for p in (ROOT / d).rglob("*.py")]
    positional = [f"{p.relative_to(ROOT)}: {c}" for p in paths for c in _positional_configs(p.read_text())]
    assert not positional, "\n".join(positional)
    assert _positional_configs("@dataclass\nclass ReadOptions:\n    a: int = 1\n") == ["ReadOptions"]
    assert _positional_configs("@dataclass(kw_only=True)\nclass ReadOptions:\n    a: int = 1\n") == []
    assert _positional_configs("@dataclass\nclass BuildConfig:\n    a: int\n    _: KW_ONLY\n    b: int = 1\n") == []


FRONTS = ("cooc.indexer", "cooc.scorer")


def test_the_cli_imports_only_from_the_package_fronts():
    tree = ast.parse((ROOT / "cli" / "main.py").read_text())
    modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | \
        {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert {m for m in modules if m and m.startswith("cooc.")} == set(FRONTS)


def test_every_name_of_a_front_resolves_to_what_it_names():
    import importlib
    import types

    for front in FRONTS:
        package = importlib.import_module(front)
        assert package.__all__ == sorted(package.__all__) and len(package.__all__) > 10
        for name in package.__all__:
            value = getattr(package, name)
            assert not isinstance(value, types.ModuleType), f"{front}.{name} is shadowed by a submodule"
            assert name in dir(package)
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        _ = importlib.import_module("cooc.scorer").nothing_here


def test_cli_help_loads_no_scorer_module_but_its_options():
    """The scorer's front is lazy: `cooc --help` and the indexer's commands do not pay for the scorer."""
    code = ("import sys; from cooc.cli.main import cli; from click.testing import CliRunner; "
            "r = CliRunner().invoke(cli, ['--help']); assert r.exit_code == 0 and 'score-batch' in r.output; "
            "print(sorted(m for m in sys.modules if m.startswith('cooc.scorer')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['cooc.scorer', 'cooc.scorer.options']"

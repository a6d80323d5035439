"""The layout's rules, checked on the source: stages import only earlier stages, no import
cycles, short functions, numpydoc on every public function."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Stage rank of each top-level part of the package (the chain of DEVELOPERS.md). Shared
#: helpers (rank 0) import nothing of a stage; a stage imports only lower ranks.
SHARED = {
    "errors",
    "io",
    "paths",
    "registry",
    "progress",
    "provenance",
    "images",
    "stats",
    "threads",
    "weights",
    "download",
    "_torchvision",
    "__init__",
}
STAGES = {
    "recipe": 1,
    "raw": 2,
    "prepare": 3,
    "data": 3,
    "estimators": 4,
    "baselines": 4,
    "submission": 5,
    "metrics": 6,
    "leaderboard": 7,
    "pipeline": 8,
    "cli": 9,
}
MAX_FUNCTION_LINES = 80


def _modules() -> dict[str, Path]:
    """Module name -> file, for fmri_bench/ and the baselines/ folder (installed as fmri_bench.baselines)."""
    out = {}
    for base, prefix in ((ROOT / "fmri_bench", "fmri_bench"), (ROOT / "baselines", "fmri_bench.baselines")):
        for path in base.rglob("*.py"):
            parts = list(path.relative_to(base).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join([prefix, *parts])] = path
    return out


def _rank(module: str) -> int:
    parts = module.split(".")
    if len(parts) == 1:
        return 0  # fmri_bench/__init__: the lazy public API
    top = parts[1]
    if top in SHARED:
        return 0
    assert top in STAGES, f"{module}: not placed in a stage (add it to STAGES or SHARED)"
    return STAGES[top]


def _imports(module: str, path: Path) -> list[tuple[str, int]]:
    """Every fmri_bench module ``module`` imports (module level and inside functions), with line numbers."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names if a.name.startswith("fmri_bench")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target.startswith("fmri_bench"):
                known = _modules()
                subs = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in known]
                found += [(t, node.lineno) for t in (subs or [target])]
    return found


def test_stages_import_only_earlier_stages() -> None:
    problems = []
    for module, path in _modules().items():
        rank = _rank(module)
        for target, line in _imports(module, path):
            if module == "fmri_bench":
                continue  # the top-level module only maps public names to their stage
            if _rank(target) > rank:
                problems.append(
                    f"{path.relative_to(ROOT)}:{line}: {module} (stage {rank}) imports {target} (stage {_rank(target)})"
                )
    assert not problems, "\n".join(problems)


def test_no_import_cycles() -> None:
    modules = _modules()
    graph = {m: {t for t, _ in _imports(m, p) if t in modules and t != m} for m, p in modules.items()}
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt) :] + [nxt] if nxt in stack else [node, nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def _functions():
    for module, path in _modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield module, path, node


def test_functions_are_short() -> None:
    long = [
        f"{p.relative_to(ROOT)}:{n.lineno} {n.name}: {n.end_lineno - n.lineno + 1} lines"
        for _, p, n in _functions()
        if n.end_lineno - n.lineno + 1 >= MAX_FUNCTION_LINES
    ]
    assert not long, "\n".join(long)


def _public(module: str, path: Path) -> list[tuple[ast.FunctionDef, str]]:
    """Public functions and methods of public classes (name, owner) of a module."""
    if module.startswith("fmri_bench.cli"):
        return []  # typer commands: their docstrings are the --help text
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
            out.append((node, ""))
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and not item.name.startswith("_"):
                    decorated = {getattr(d, "id", getattr(d, "attr", "")) for d in item.decorator_list}
                    if "property" not in decorated:
                        out.append((item, node.name))
    return out


def test_public_functions_have_numpydoc_parameters_and_returns() -> None:
    problems = []
    for module, path in _modules().items():
        for node, owner in _public(module, path):
            where = f"{path.relative_to(ROOT)}:{node.lineno} {owner + '.' if owner else ''}{node.name}"
            doc = ast.get_docstring(node) or ""
            args = [
                a.arg
                for a in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs)
                if a.arg not in ("self", "cls")
            ]
            if args and "Parameters\n----------" not in doc:
                problems.append(f"{where}: no numpydoc Parameters section")
                continue
            missing = [a for a in args if a not in doc]
            if missing:
                problems.append(f"{where}: parameters not documented: {', '.join(missing)}")
            returns = node.returns
            gives = returns is not None and not (isinstance(returns, ast.Constant) and returns.value is None)
            if gives and node.name != "__init__" and not any(s in doc for s in ("Returns\n-------", "Yields\n------")):
                problems.append(f"{where}: no numpydoc Returns section")
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)

"""The import contract of DESIGN.md, read from the source with `ast` (nothing is imported).

1. Package boundaries: moe imports none of ours; teachers -> moe; distill -> moe, teachers;
   envs -> none of ours; bench may import all of them.
2. Declared dependencies: every distribution a package's modules import (at module level or in
   a function) is declared in its pyproject.toml: a module-level import in `dependencies`, an
   import inside a function there or in an optional extra (e.g. moe's timm in "image"); and
   every entry of `dependencies` is imported somewhere (or listed in DECLARED_WITHOUT_IMPORT).
3. No import cycles among the modules of one package at module level (imports inside
   functions and under `if TYPE_CHECKING:` do not count).

`check_boundaries`, `check_dependencies` and `check_cycles` take the folder that holds the
packages (default: this checkout's packages/, or $VDD_PACKAGES_ROOT) and return readable
problems, so a scratch copy of the tree can be checked from a script too.
"""

from __future__ import annotations

import ast
import os
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

OURS = ("moe", "teachers", "distill", "envs", "bench")
ALLOWED = {  # package -> the packages of ours it may import
    "moe": set(),
    "teachers": {"moe"},
    "distill": {"moe", "teachers"},
    "envs": set(),
    "bench": {"moe", "teachers", "distill", "envs"},
}
# import name -> distribution name (as written in pyproject.toml, normalised)
DISTRIBUTIONS = {
    **{name: f"vdd-{name}" for name in OURS},
    "torch": "torch",
    "torchvision": "torchvision",
    "numpy": "numpy",
    "einops": "einops",
    "safetensors": "safetensors",
    "timm": "timm",
    "gin": "gin-config",
    "mlflow": "mlflow",
    "matplotlib": "matplotlib",
    "scipy": "scipy",
    "tqdm": "tqdm",
    "mujoco": "mujoco",
    "gymnasium": "gymnasium",
    "gymnasium_robotics": "gymnasium-robotics",
    "minari": "minari",
    "tianshou": "tianshou",
    "imageio": "imageio",
    "h5py": "h5py",
    "pytest": "pytest",
    "ray": "ray",
}
# imported only where installed, never a dependency: import name -> why
PROBED = {
    "triton": "envs.d3il.base loads torch's triton, if present, before the first EGL context",
}
# (package, distribution) declared in `dependencies` without an import of it: -> why
DECLARED_WITHOUT_IMPORT = {
    ("teachers", "numpy"): "act() takes and returns numpy arrays (moe's observation window)",
}


def packages_root() -> Path:
    return Path(os.environ.get("VDD_PACKAGES_ROOT",
                               Path(__file__).resolve().parents[1] / "packages"))


@dataclass(frozen=True)
class Import:
    module: str  # the module that imports
    target: str  # the absolute dotted name imported ("moe.policy", "torch.nn")
    names: tuple[str, ...]  # for `from target import a, b`: ("a", "b"); else ()
    line: int
    module_level: bool  # executed when the module is imported (not in a function)
    type_checking: bool  # under `if TYPE_CHECKING:`

    @property
    def top(self) -> str:
        return self.target.split(".")[0]

    def where(self) -> str:
        return f"{self.module}:{self.line} imports {self.target}"


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_module_literal(node: ast.AST) -> str | None:
    """The name in `importlib.import_module("name")` / `import_module("name")`, if literal."""
    if not (isinstance(node, ast.Call) and node.args
            and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
        return None
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    return node.args[0].value if name == "import_module" else None


def _resolve(module: str, is_package: bool, level: int, target: str | None) -> str:
    """The absolute name of a (possibly relative) `from` import in `module`."""
    if level == 0:
        return target or ""
    parts = module.split(".") if is_package else module.split(".")[:-1]
    base = parts[: len(parts) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def module_imports(path: Path, module: str) -> list[Import]:
    """Every import of one source file, with where it stands."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    is_package = path.name == "__init__.py"
    found: list[Import] = []

    def visit(node: ast.AST, module_level: bool, type_checking: bool) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append(Import(module, alias.name, (), node.lineno, module_level,
                                    type_checking))
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, is_package, node.level, node.module)
            found.append(Import(module, target, tuple(a.name for a in node.names),
                                node.lineno, module_level, type_checking))
        elif (name := _import_module_literal(node)) is not None:
            found.append(Import(module, name, (), node.lineno, module_level, type_checking))
        in_function = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                visit(child, module_level, True)
            for child in node.orelse:
                visit(child, module_level, type_checking)
            return
        for child in ast.iter_child_nodes(node):
            visit(child, module_level and not in_function, type_checking)

    visit(tree, True, False)
    return found


def package_modules(root: Path, package: str) -> dict[str, Path]:
    """Dotted module name -> source file, for every .py under packages/<package>/src/<package>."""
    src = root / package / "src"
    return {".".join(p.relative_to(src).with_suffix("").parts).removesuffix(".__init__"): p
            for p in sorted((src / package).rglob("*.py"))}


def all_imports(root: Path, package: str) -> list[Import]:
    return [imp for module, path in package_modules(root, package).items()
            for imp in module_imports(path, module)]


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(requirement: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    assert match, f"cannot read a distribution name from {requirement!r}"
    return _normalise(match.group(1))


def declared(root: Path, package: str) -> tuple[set[str], dict[str, set[str]]]:
    """(distributions in `dependencies`, extra -> distributions) of packages/<package>."""
    project = tomllib.loads((root / package / "pyproject.toml").read_text())["project"]
    assert project["name"] == f"vdd-{package}", f"packages/{package} is {project['name']!r}"
    required = {_requirement_name(r) for r in project.get("dependencies", [])}
    extras = {extra: {_requirement_name(r) for r in reqs}
              for extra, reqs in project.get("optional-dependencies", {}).items()}
    return required, extras


# ---------------------------------------------------------------- the three checks
def check_boundaries(root: Path, package: str) -> list[str]:
    """Imports of our packages that DESIGN.md does not allow (any import, anywhere)."""
    allowed = sorted(ALLOWED[package])
    rule = (f"{package} may import only {', '.join(allowed)} of ours" if allowed
            else f"{package} may import none of ours")
    return [f"{imp.where()}: {rule}" for imp in all_imports(root, package)
            if imp.top in OURS and imp.top != package and imp.top not in ALLOWED[package]]


def check_dependencies(root: Path, package: str) -> list[str]:
    """Imported distributions that pyproject.toml does not declare, unknown third-party
    imports, and declared dependencies that nothing imports."""
    required, extras = declared(root, package)
    optional = set().union(*(reqs for extra, reqs in extras.items() if extra != "test"))
    problems, used = [], set()
    missing: dict[tuple[str, str], list[str]] = {}  # (distribution, where it must be) -> sites
    for imp in all_imports(root, package):
        top = imp.top
        if top == package or top in sys.stdlib_module_names or top in PROBED:
            continue
        if top not in DISTRIBUTIONS:
            problems.append(f"{imp.where()}: unknown third-party import {top!r}; add its "
                            "distribution to DISTRIBUTIONS in tests/test_import_contract.py "
                            f"and declare it in packages/{package}/pyproject.toml")
            continue
        dist = _normalise(DISTRIBUTIONS[top])
        used.add(dist)
        if imp.type_checking or dist in required:
            continue
        if imp.module_level:
            missing.setdefault((dist, "in its dependencies (imported at module level)"),
                               []).append(f"{imp.module}:{imp.line}")
        elif dist not in optional:
            missing.setdefault((dist, "in its dependencies or an extra other than 'test' "
                                      "(imported in a function)"),
                               []).append(f"{imp.module}:{imp.line}")
    for (dist, where), sites in missing.items():
        problems.append(f"packages/{package}/pyproject.toml does not list {dist!r} {where}: "
                        + ", ".join(sites))
    for dist in sorted(required - used):
        if (package, dist) not in DECLARED_WITHOUT_IMPORT:
            problems.append(f"packages/{package}/pyproject.toml declares {dist!r}, which no "
                            f"module of {package} imports")
    return problems


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """Module -> the modules of the same package it imports at module level.

    `from a.b import c` is an edge to a.b.c if that is a module, else to a.b; the parent
    packages a python import initialises on the way are not edges (they are already being
    imported when a module of theirs runs)."""
    modules = package_modules(root, package)
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        for imp in module_imports(path, module):
            if not imp.module_level or imp.type_checking or imp.top != package:
                continue
            subs = [f"{imp.target}.{n}" for n in imp.names if f"{imp.target}.{n}" in modules]
            targets = subs if subs and len(subs) == len(imp.names) else [imp.target, *subs]
            graph[module].update(t for t in targets if t in modules and t != module)
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (first module repeated at the end) per strongly connected component that has
    one, found by Tarjan's algorithm."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(component)

    for v in sorted(graph):
        if v not in index:
            connect(v)

    cycles = []
    for component in components:
        start = min(component)
        path, seen = [start], {start}
        while True:  # walk inside the component until the path closes
            nxt = sorted(graph[path[-1]] & component)
            back = [w for w in nxt if w in seen]
            if back:
                cycles.append(path[path.index(back[0]):] + [back[0]])
                break
            step = next(w for w in nxt if w not in seen)
            path.append(step)
            seen.add(step)
    return sorted(cycles)


def check_cycles(root: Path, package: str) -> list[str]:
    return [" -> ".join(cycle) for cycle in find_cycles(import_graph(root, package))]


# ---------------------------------------------------------------- the tests
def test_every_package_is_found():
    root = packages_root()
    found = [p.parents[2].name for p in root.glob("*/src/*/__init__.py") if p.parent.name in OURS]
    assert sorted(found) == sorted(OURS)
    for package in OURS:
        assert len(package_modules(root, package)) > 1


@pytest.mark.parametrize("package", OURS)
def test_package_boundaries(package):
    problems = check_boundaries(packages_root(), package)
    assert not problems, "crossed package boundaries:\n" + "\n".join(problems)


@pytest.mark.parametrize("package", OURS)
def test_pyproject_declares_what_the_package_imports(package):
    problems = check_dependencies(packages_root(), package)
    assert not problems, "dependencies out of step with imports:\n" + "\n".join(problems)


@pytest.mark.parametrize("package", OURS)
def test_no_module_level_import_cycles(package):
    cycles = check_cycles(packages_root(), package)
    assert not cycles, f"module-level import cycles in {package}:\n" + "\n".join(cycles)


def test_the_checks_see_what_they_should(tmp_path):
    """A planted crossing, an undeclared import and a cycle are each reported."""
    pkg = tmp_path / "moe"
    (pkg / "src" / "moe").mkdir(parents=True)
    (pkg / "pyproject.toml").write_text(
        '[project]\nname = "vdd-moe"\ndependencies = ["torch>=2", "einops"]\n'
        '[project.optional-dependencies]\nimage = ["timm"]\ntest = ["pytest"]\n')
    files = {
        "__init__.py": "from moe.a import A\n",
        "a.py": "import torch\nfrom moe import b\nA = 1\n",
        "b.py": ("from typing import TYPE_CHECKING\nfrom moe.a import A\n"
                 "if TYPE_CHECKING:\n    import bench\n"
                 "def f():\n    import numpy\n    import timm\n    import pytest\n"
                 "    import importlib\n    importlib.import_module('tianshou')\n"
                 "    from . import c\n"),
        "c.py": "from .b import f\nimport gin\nimport notapackage\n",
    }
    for name, text in files.items():
        (pkg / "src" / "moe" / name).write_text(text)

    assert check_boundaries(tmp_path, "moe") == [
        "moe.b:4 imports bench: moe may import none of ours"]
    problems = check_dependencies(tmp_path, "moe")
    assert problems[0].startswith("moe.c:3 imports notapackage: unknown third-party import")
    in_function = "or an extra other than 'test' (imported in a function): "
    assert problems[1:] == [  # not timm: it is in the "image" extra
        f"packages/moe/pyproject.toml does not list 'numpy' in its dependencies {in_function}"
        "moe.b:6",
        f"packages/moe/pyproject.toml does not list 'pytest' in its dependencies {in_function}"
        "moe.b:8",
        f"packages/moe/pyproject.toml does not list 'tianshou' in its dependencies {in_function}"
        "moe.b:10",
        "packages/moe/pyproject.toml does not list 'gin-config' in its dependencies (imported "
        "at module level): moe.c:2",
        "packages/moe/pyproject.toml declares 'einops', which no module of moe imports",
    ]
    assert check_cycles(tmp_path, "moe") == ["moe.a -> moe.b -> moe.a"]
    assert import_graph(tmp_path, "moe")["moe.c"] == {"moe.b"}

"""Parsing gin files and bindings, with every failure turned into one ConfigError line."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import gin

from bench.errors import ConfigError

__all__ = ["parse_gin", "shadowed_bindings", "GIN_DIR"]

GIN_DIR = Path(__file__).resolve().parents[4] / "gin"  # the repository's gin/ (editable install)


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())


@contextlib.contextmanager
def _includes_beside_the_includer() -> Iterator[None]:
    """While parsing, resolve a relative path (a file given, or an `include`) against the
    including file's folder first (the working directory for the files given), then the
    repository's gin/, so a user's edited copy of `common/vdd.gin` beside their config wins;
    a file that is not UTF-8 is named in the error. A file never includes itself: its own
    name resolves to the next candidate (`gin/cpu/avoiding.gin` includes `gin/avoiding.gin`)."""
    real = gin.config.parse_config_file
    stack: list[Path] = []  # the files being parsed, innermost last

    def parse_file(config_file, skip_unknown=False, print_includes_and_imports=False):
        path = Path(config_file)
        if not path.is_absolute():
            base = stack[-1].parent if stack else Path.cwd()
            found = [(d / path).resolve() for d in (base, GIN_DIR)
                     if (d / path).is_file() and (d / path).resolve() not in stack]
            if not found:
                raise ConfigError(f"gin include '{config_file}' not found in {base} or "
                                  f"{GIN_DIR}: put it beside the including file")
            path = found[0]
        stack.append(path.resolve())
        try:
            return real(str(path.resolve()), skip_unknown, print_includes_and_imports)
        except UnicodeDecodeError as e:
            raise ConfigError(f"gin file {path} is not UTF-8 text ({e.reason} at byte "
                              f"{e.start}): save it as UTF-8") from None
        finally:
            stack.pop()

    gin.config.parse_config_file = parse_file
    try:
        yield
    finally:
        gin.config.parse_config_file = real


_SIMPLE = {int: "an int", float: "a number", bool: "True or False", str: "a string"}


def _fits(value, hint) -> bool:
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def check_bindings() -> None:
    """After parsing: every scope names a method, a teacher kind or `student[/<method>]`, and
    every binding of a plain int / float / bool / str field has that type, so a typo'd scope
    or `VDDConfig.lr = 'x'` stops the run in one line instead of being ignored or failing
    deep inside training."""
    import typing

    from bench.methods import method_table
    from teachers import TEACHERS

    methods = list(method_table())
    known = {"", "student", *methods, *TEACHERS, *(f"student/{m}" for m in methods)}
    for (scope, selector), params in gin.config._CONFIG.items():
        name = f"{scope}/{selector.split('.')[-1]}" if scope else selector.split(".")[-1]
        if scope not in known:
            raise ConfigError(
                f"unknown gin scope {scope!r} in '{name}': a scope names a method "
                f"{methods}, a teacher kind {list(TEACHERS)} or 'student[/<method>]'")
        try:
            hints = typing.get_type_hints(gin.config._REGISTRY.get_match(selector).wrapped)
        except Exception:  # noqa: BLE001  (not a class with resolvable annotations)
            continue
        for param, value in params.items():
            hint = hints.get(param)
            if hint in _SIMPLE and isinstance(value, (int, float, str, bool)) \
                    and not _fits(value, hint):
                raise ConfigError(f"{name}.{param} = {value!r}: expected {_SIMPLE[hint]}; "
                                  "fix the binding")


def parse_gin(files: Sequence[str | Path], bindings: Sequence[str] = ()) -> None:
    """Clear gin, then parse `files` and `bindings` strictly (unknown names are errors).

    `include` statements are resolved against the including file's folder first, then the
    repository's gin/ folder.
    """
    import bench.configurables  # noqa: F401  (registers everything a config may name)
    from bench.gin_classes import register_all

    register_all()  # algorithms or teacher kinds registered since the first import

    for f in files:
        p = Path(f)
        if not p.is_file():
            raise ConfigError(
                f"gin file not found: {f} (give a path such as gin/toy2d.gin; "
                f"available: {sorted(x.name for x in GIN_DIR.glob('*.gin'))})"
            )
    gin.clear_config()
    # gin logs an error for every search path an include is not found on, even when a later
    # one has it; real failures still raise, so its log is muted while parsing.
    logging.disable(logging.ERROR)
    try:
        with _includes_beside_the_includer():
            gin.parse_config_files_and_bindings([str(f) for f in files], list(bindings),
                                                skip_unknown=False, finalize_config=False)
    except ConfigError as e:
        raise ConfigError(_one_line(e)) from e
    except (ValueError, KeyError, TypeError, SyntaxError, ImportError, OSError) as e:
        raise ConfigError(f"bad gin config: {_one_line(e)}") from e
    finally:
        logging.disable(logging.NOTSET)
    check_bindings()


def shadowed_bindings(bindings: Sequence[str], methods: Sequence[str]) -> list[str]:
    """After `parse_gin`: a note for each unscoped binding in `bindings` (the user's `-b`) that a
    config's scoped binding of the same parameter overrides, with another value, for a method in
    `methods` (its base's scope included), `student/` or a teacher kind. gin's scoped binding
    wins over an unscoped one whatever the order, so `-b "VDDConfig.iterations = 500"` does not
    reach a method whose config binds `vdd_beso/VDDConfig.iterations`; the note says which
    scope to bind instead."""
    from bench.methods import method_table
    from teachers import TEACHERS

    table = method_table()
    bases = {table[m].base for m in methods if m in table and table[m].base}
    # a variant reads its base's scope too; `student/...` reaches every method's MoE
    reached = {"student", *methods, *bases, *TEACHERS}
    notes = []
    for binding in bindings:
        key = binding.partition("=")[0].strip()
        if "/" in key or "." not in key:
            continue
        selector, param = key.rsplit(".", 1)
        try:
            full = gin.config._REGISTRY.get_match(selector).selector
        except Exception:  # noqa: BLE001  (not a configurable: parse_gin has said so)
            continue
        name = f"{full.split('.')[-1]}.{param}"
        given = gin.config._CONFIG.get(("", full), {}).get(param)
        for (scope, sel), params in gin.config._CONFIG.items():
            if sel == full and scope and scope.split("/")[-1] in reached \
                    and param in params and params[param] != given:
                notes.append(f"-b '{binding.strip()}' does not reach {scope}: the config binds "
                             f"{scope}/{name} = {params[param]!r}, which wins; bind "
                             f"'{scope}/{name}' to change it there")
    return notes

"""Parsing gin files and bindings, with every failure turned into one ConfigError line."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import gin

from bench.errors import ConfigError

__all__ = ["parse_gin", "GIN_DIR"]

GIN_DIR = Path(__file__).resolve().parents[4] / "gin"  # the repository's gin/ (editable install)


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())


def parse_gin(files: Sequence[str | Path], bindings: Sequence[str] = ()) -> None:
    """Clear gin, then parse `files` and `bindings` strictly (unknown names are errors).

    `include` statements are resolved against the including file's folder and the repository's
    gin/ folder.
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
    for d in [GIN_DIR, *(Path(f).resolve().parent for f in files)]:
        if d.is_dir():
            gin.add_config_file_search_path(str(d))
    # gin logs an error for every search path an include is not found on, even when a later
    # one has it; real failures still raise, so its log is muted while parsing.
    logging.disable(logging.ERROR)
    try:
        gin.parse_config_files_and_bindings([str(f) for f in files], list(bindings),
                                            skip_unknown=False, finalize_config=False)
    except (ValueError, KeyError, TypeError, SyntaxError, ImportError, OSError) as e:
        raise ConfigError(f"bad gin config: {_one_line(e)}") from e
    finally:
        logging.disable(logging.NOTSET)

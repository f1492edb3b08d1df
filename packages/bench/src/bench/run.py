"""Command line: `python -m bench.run --gin gin/toy2d.gin [-b 'Binding = value'] [--seeds 0 1]`.

Exit codes: 0 done; 2 bad configuration (nothing trained); 1 training diverged (the last good
checkpoint is kept).
"""

from __future__ import annotations

import argparse
import shlex
import sys

from bench.errors import ConfigError, TrainingDiverged


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    p.add_argument("--gin", action="append", required=True, metavar="FILE",
                   help="gin config file (repeatable; later files override earlier ones)")
    p.add_argument("-b", "--binding", action="append", default=[], metavar="BINDING",
                   help="extra gin binding, e.g. 'VDDConfig.iterations = 50' (repeatable)")
    p.add_argument("--seeds", type=int, nargs="+", help="override Benchmark.seeds")
    p.add_argument("--output-dir", help="override Benchmark.output_dir")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        from bench.config import parse_gin
        from bench.settings import Benchmark

        parse_gin(args.gin, args.binding)
        overrides = {}
        if args.seeds is not None:
            overrides["seeds"] = tuple(args.seeds)
        if args.output_dir is not None:
            overrides["output_dir"] = args.output_dir
        try:
            benchmark = Benchmark(**overrides)
        except (ValueError, TypeError, RuntimeError) as e:  # gin errors and config __post_init__
            raise ConfigError(str(e)) from e
        import gin

        config_text = gin.config_str()
    except ConfigError as e:
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    try:
        benchmark.run(config_text=config_text,
                      invocation=" ".join(shlex.quote(a) for a in ["bench.run", *(argv or sys.argv[1:])]))
    except TrainingDiverged as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

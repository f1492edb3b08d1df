"""Command line: `python -m bench.run --gin gin/toy2d.gin [-b 'Binding = value'] [--seeds 0 1]`.

Exit codes: 0 done; 1 a cell failed (diverged or a non-finite metric; the other cells
finished, the table marks it); 2 bad configuration (nothing trained); 3 a cache or data error;
4 the tracking server unreachable; 5 an unexpected error (one `error:` line naming the log
with the traceback); 130 / 143 interrupted by SIGINT / SIGTERM (runs marked KILLED).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shlex
import signal
import sys
import tempfile
import traceback
from pathlib import Path

from bench.errors import (EXIT_CODES, EXIT_UNEXPECTED, CacheError, ConfigError, Interrupted,
                          TrackingUnreachable, TrainingDiverged)


def _parser() -> argparse.ArgumentParser:
    codes = "; ".join(f"{k}: {v}" for k, v in EXIT_CODES.items())
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0],
                                epilog=f"exit codes: {codes}")
    p.add_argument("--gin", action="append", required=True, metavar="FILE",
                   help="gin config file (repeatable; later files override earlier ones)")
    p.add_argument("-b", "--binding", action="append", default=[], metavar="BINDING",
                   help="extra gin binding, e.g. 'VDDConfig.iterations = 50' (repeatable)")
    p.add_argument("--seeds", type=int, nargs="+", help="override Benchmark.seeds")
    p.add_argument("--output-dir", help="override Benchmark.output_dir")
    p.add_argument("--executor", choices=("local", "ray"),
                   help="override Benchmark.executor: this process (default) or a Ray cluster")
    p.add_argument("--ray-address", metavar="ADDRESS",
                   help="override RayOptions.address ('auto': the running cluster; default: "
                        "start Ray on this machine)")
    p.add_argument("--device", metavar="DEVICE",
                   help="override Benchmark.device: auto (CUDA when available, the default), "
                        "cpu, cuda or cuda:N; CUDA where there is none exits 2")
    p.add_argument("--resume", metavar="RUN",
                   help="finish an earlier invocation (its output folder or parent run id): "
                        "cells whose child run FINISHED with the same config are skipped")
    return p


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())


def _raise_interrupted(signum, frame) -> None:  # noqa: ARG001
    raise Interrupted(signum)


def _error_log(folder: Path | None) -> Path:
    """Write the current exception's traceback to a log file; returns its path."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    folder = folder if folder is not None and folder.is_dir() else Path(tempfile.gettempdir())
    path = folder / f"error-{stamp}-{os.getpid()}.log"
    path.write_text(traceback.format_exc())
    return path


def _settings(args):
    """Parse the gin files and bindings into a `Benchmark` and the text that records the run
    (the files, the bindings and the command-line overrides, so what ran is what is saved)."""
    from bench.config import parse_gin
    from bench.settings import Benchmark

    bindings = list(args.binding)
    if args.seeds is not None:
        bindings.append(f"Benchmark.seeds = {tuple(args.seeds)!r}")
    if args.output_dir is not None:
        bindings.append(f"Benchmark.output_dir = {str(args.output_dir)!r}")
    if args.executor is not None:
        bindings.append(f"Benchmark.executor = {args.executor!r}")
    if args.ray_address is not None:
        bindings.append(f"RayOptions.address = {args.ray_address!r}")
    if args.device is not None:
        bindings.append(f"Benchmark.device = {args.device!r}")
    parse_gin(args.gin, bindings)
    try:
        benchmark = Benchmark()
    except (ValueError, TypeError, RuntimeError) as e:  # gin errors and config __post_init__
        raise ConfigError(str(e)) from e
    from bench.config import shadowed_bindings

    for note in shadowed_bindings(args.binding, benchmark.methods):
        print(f"[bench] note: {note}", file=sys.stderr)
    if benchmark.executor == "local":  # here, before any work (Ray workers resolve their own)
        benchmark.torch_device()
    import gin

    return benchmark, gin.config_str()


def main(argv: list[str] | None = None, *, parent_tags: dict[str, str] | None = None) -> int:
    """Run the benchmark; returns the exit code (see the module docstring). `parent_tags`
    go on the invocation's parent run (`bench.sweep` nests each point under its sweep)."""
    args = _parser().parse_args(argv)
    try:
        benchmark, config_text = _settings(args)
    except ConfigError as e:
        print(f"error: {_one_line(e)}", file=sys.stderr)
        return 2
    invocation = " ".join(shlex.quote(a) for a in ["bench.run", *(argv or sys.argv[1:])])
    # SIGINT raises KeyboardInterrupt even where it was inherited as ignored (a background job
    # of a non-interactive shell), SIGTERM raises Interrupted: both end the run cleanly
    handlers = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: _raise_interrupted}
    previous = {signum: signal.getsignal(signum) for signum in handlers}
    try:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    except ValueError:  # not the main thread: the signals keep their handlers
        previous = {}
    out = None
    try:
        from bench.invocation import Invocation

        run = Invocation(benchmark, config_text=config_text, command=invocation,
                         config_files=args.gin, resume=args.resume, tags=parent_tags)
        try:
            result = run.run()
        finally:
            out = run.out
    except TrainingDiverged as e:
        print(f"error: {_one_line(e)}", file=sys.stderr)
        return 1
    except ConfigError as e:
        print(f"error: {_one_line(e)}", file=sys.stderr)
        return 2
    except CacheError as e:
        print(f"error: {_one_line(e)}", file=sys.stderr)
        return 3
    except TrackingUnreachable as e:
        print(f"error: {_one_line(e)}", file=sys.stderr)
        return 4
    except KeyboardInterrupt:
        print("error: interrupted (SIGINT); runs marked KILLED", file=sys.stderr)
        return 130
    except Interrupted as e:
        print(f"error: {e} (SIGTERM); runs marked KILLED", file=sys.stderr)
        return e.exit_code
    except Exception as e:  # noqa: BLE001  (one line, the traceback in the log)
        log = _error_log(out)
        print(f"error: unexpected {type(e).__name__}: {_one_line(e)} (traceback in {log})",
              file=sys.stderr)
        return EXIT_UNEXPECTED
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if result.failed:
        cells = ", ".join(f"{r.method}-seed{r.seed}" for r in result.failed)
        print(f"error: {len(result.failed)} cell(s) failed ({cells}); the others finished, "
              f"results in {result.output_dir}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

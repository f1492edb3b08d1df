"""The wheels a bench run needs on the GPU machine, fetched here into `.whl/` (git-ignored).

The GPU machine has Python 3.12 with torch, timm, numpy, scipy, matplotlib, pandas, h5py, ...
(`gpu_packages.txt`: its image's package list) but not the simulator, the env and tracking
libraries, and it reaches no registry. This walks the requirements of `ROOTS` as installed in
this checkout's venv (same pinned versions, `constraints.txt`), leaves out what the GPU image
has and `SKIP` (not imported on a bench run), downloads each as a cp312 manylinux wheel with
`pip download --no-deps`, and checks that the folder fits `--limit-mib` (the working tree that
travels to the GPU machine is 64 MiB in all).

    .venv/bin/python scripts/device/wheels.py [--dest .whl] [--limit-mib 56]
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import subprocess
import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

HERE = Path(__file__).resolve().parent
# what a bench run imports that the GPU image lacks: the simulator and envs, gin, the rollout
# vector envs (tianshou), Minari's dataset format, MLflow's client with its sqlite store
ROOTS = ("mujoco", "gymnasium", "gin-config", "minari", "tianshou", "mlflow-skinny",
         "sqlalchemy", "alembic")
# required by those packages' metadata but never imported by a bench run (saves ~10 MiB):
# tianshou's virtualenv (for its own tooling) and the Databricks / Google cloud clients
SKIP = {"virtualenv", "distlib", "databricks-sdk", "google-auth", "pyasn1", "pyasn1-modules"}
TARGET = {"python_version": "3.12", "python_full_version": "3.12.3", "sys_platform": "linux",
          "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
          "implementation_name": "cpython", "platform_python_implementation": "CPython",
          "extra": ""}
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64", "manylinux1_x86_64", "manylinux_2_24_x86_64",
             "manylinux_2_31_x86_64", "manylinux_2_34_x86_64", "manylinux_2_35_x86_64")


def gpu_packages() -> set[str]:
    text = (HERE / "gpu_packages.txt").read_text().replace("\n", " ")
    return {canonicalize_name(n.strip()) for n in text.split(",") if n.strip()}


def closure(roots=ROOTS, *, have: set[str], skip: set[str] = SKIP) -> list[tuple[str, str]]:
    """(name, version) of `roots` and their requirements for the target Python, as installed
    here, without those in `have` or `skip`."""
    seen: set[str] = set()
    out: list[tuple[str, str]] = []

    def walk(name: str) -> None:
        key = canonicalize_name(name)
        if key in seen or key in have or key in skip:
            return
        seen.add(key)
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            raise SystemExit(f"{name} is not installed in this venv: run scripts/setup.sh first")
        out.append((dist.metadata["Name"], dist.version))
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate(TARGET):
                walk(req.name)

    for root in roots:
        walk(root)
    return out


def download(pins: list[tuple[str, str]], dest: Path) -> None:
    platforms = [a for p in PLATFORMS for a in ("--platform", p)]
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
           "--only-binary=:all:", "--python-version", "3.12", "--implementation", "cp",
           *platforms, "--platform", "any", "-d", str(dest), *(f"{n}=={v}" for n, v in pins)]
    subprocess.run(cmd, check=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dest", type=Path, default=Path(".whl"))
    p.add_argument("--limit-mib", type=float, default=56.0,
                   help="largest total size of the wheels (the tree itself needs the rest)")
    p.add_argument("--list", action="store_true", help="print the pins, download nothing")
    args = p.parse_args()
    pins = closure(have=gpu_packages())
    if args.list:
        print("\n".join(f"{n}=={v}" for n, v in pins))
        return 0
    args.dest.mkdir(parents=True, exist_ok=True)
    wanted = {canonicalize_name(n) for n, _ in pins}
    for old in args.dest.glob("*.whl"):  # one version of each, nothing stale
        if canonicalize_name(old.name.split("-")[0]) not in wanted:
            old.unlink()
    download(pins, args.dest)
    wheels = sorted(args.dest.glob("*.whl"))
    total = sum(w.stat().st_size for w in wheels) / 2**20
    print(f"{len(wheels)} wheels for {len(pins)} packages, {total:.1f} MiB in {args.dest}")
    for w in sorted(wheels, key=lambda w: -w.stat().st_size)[:5]:
        print(f"  {w.stat().st_size / 2**20:5.1f} MiB  {w.name}")
    if len(wheels) != len(pins):
        print(f"error: {len(pins)} packages pinned, {len(wheels)} wheels present",
              file=sys.stderr)
        return 1
    if total > args.limit_mib:
        print(f"error: {total:.1f} MiB of wheels is over --limit-mib {args.limit_mib}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The one place a run's torch device and precision are decided and described.

`Benchmark.device` (or `--device`) is `auto` (CUDA when available, else the CPU), `cpu`,
`cuda` or `cuda:N`; `resolve_device` turns it into a `torch.device` or raises `ConfigError`
(exit 2, one line) when CUDA is asked for where there is none. `Benchmark.precision` is `fp32`
or `bf16` (autocast on CUDA while training; refused on the CPU, where torch's bf16 autocast is
slower than fp32 and would change the numbers). `device_info` is what the parent run records.
"""

from __future__ import annotations

import contextlib
import os
import platform
import re

import torch

from bench.errors import ConfigError

__all__ = ["DEVICE_CHOICES", "PRECISIONS", "check_device_spec", "check_precision",
           "resolve_device", "device_info", "describe", "training_autocast", "synchronize",
           "policy_device", "generator_for"]

DEVICE_CHOICES = "auto|cpu|cuda|cuda:N"
PRECISIONS = ("fp32", "bf16")
_SPEC = re.compile(r"auto|cpu|cuda(:\d+)?")


def check_device_spec(spec: object) -> str:
    """`spec` if it is a valid device setting, else ConfigError naming the bad value."""
    if not isinstance(spec, str) or not _SPEC.fullmatch(spec):
        raise ConfigError(f"Benchmark.device must be one of {DEVICE_CHOICES}, got {spec!r}")
    return spec


def check_precision(precision: object, device_spec: str) -> str:
    """`precision` if valid for `device_spec` ('bf16' needs CUDA), else ConfigError."""
    if precision not in PRECISIONS:
        raise ConfigError(f"Benchmark.precision must be one of {list(PRECISIONS)}, got "
                          f"{precision!r}")
    if precision == "bf16" and device_spec == "cpu":
        raise ConfigError("Benchmark.precision 'bf16' needs a CUDA device (autocast on the CPU "
                          "is slower and changes the CPU numbers), got device 'cpu': use 'fp32'")
    return precision


def resolve_device(spec: str, precision: str = "fp32") -> torch.device:
    """The torch device of `spec` (see the module docstring) on this machine."""
    check_device_spec(spec)
    available = torch.cuda.is_available()
    if spec == "auto":
        device = torch.device("cuda" if available else "cpu")
    else:
        device = torch.device(spec)
    if device.type == "cuda":
        if not available:
            built = (f"built with CUDA {torch.version.cuda}" if torch.version.cuda
                     else "built without CUDA")
            raise ConfigError(f"device {spec!r} asked for, but CUDA is not available here "
                              f"(torch {torch.__version__}, {built}): use --device cpu or auto")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise ConfigError(f"device {spec!r} asked for, but this machine has {count} CUDA "
                              f"device(s) (cuda:0..cuda:{count - 1})")
        if device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
    check_precision(precision, device.type)
    return device


def device_info(device: torch.device) -> dict[str, str]:
    """What the parent run records about `device`: name, capability, torch and CUDA versions."""
    info = {"device": str(device), "device.torch": torch.__version__,
            "device.cuda": torch.version.cuda or "none"}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update({"device.name": props.name,
                     "device.capability": f"{props.major}.{props.minor}",
                     "device.memory_gib": f"{props.total_memory / 2**30:.1f}"})
    else:
        info.update({"device.name": platform.processor() or platform.machine() or "cpu",
                     "device.capability": f"{os.cpu_count() or 1} cores"})
    return info


def describe(info: dict[str, str]) -> str:
    """One line for the start of a run: `cuda:0 (NVIDIA H200, capability 9.0, ...)`."""
    extra = f", {info['device.memory_gib']} GiB" if "device.memory_gib" in info else ""
    return (f"{info['device']} ({info['device.name']}, capability {info['device.capability']}"
            f"{extra}; torch {info['device.torch']}, CUDA {info['device.cuda']})")


def training_autocast(device: torch.device, precision: str):
    """The context a training update runs in: bf16 autocast on CUDA, else nothing."""
    if precision == "bf16" and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def synchronize(device: torch.device) -> None:
    """Wait for `device`'s queued work (timing); nothing on the CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def policy_device(policy) -> torch.device:
    """The device of a policy's weights (the CPU for a module without parameters)."""
    param = next(iter(policy.parameters()), None) if hasattr(policy, "parameters") else None
    return param.device if param is not None else torch.device("cpu")


def generator_for(policy, seed: int) -> torch.Generator:
    """A generator seeded with `seed` on the policy's device (the CPU's gives the numbers the
    CPU always gave; a CUDA generator draws other, equally seeded, numbers)."""
    return torch.Generator(device=policy_device(policy)).manual_seed(seed)

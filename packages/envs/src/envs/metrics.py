"""Task metrics as D3IL defines them: success rate, and the entropy of the modes of the
successful rollouts normalised by log(#modes) (so it lies in [0, 1]), over all rollouts and
per context (averaged over contexts; a context without a success counts 0).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["normalized_entropy", "mode_distribution", "rollout_metrics", "mode_kl"]


def mode_distribution(modes: Sequence[int], num_modes: int) -> np.ndarray:
    """Frequencies (num_modes,) of the valid modes (>= 0) in `modes`; zeros if none."""
    m = np.asarray([x for x in modes if x >= 0], dtype=np.int64)
    if np.any(m >= num_modes):
        raise ValueError(f"mode ids must be < num_modes={num_modes}, got {m.max()}")
    counts = np.bincount(m, minlength=num_modes).astype(np.float64)
    return counts / counts.sum() if counts.sum() > 0 else counts


def normalized_entropy(modes: Sequence[int], num_modes: int) -> float:
    """Entropy of the empirical mode distribution / log(num_modes); 0 for no valid mode."""
    if num_modes < 2:
        raise ValueError(f"entropy needs at least 2 modes, got num_modes={num_modes}")
    p = mode_distribution(modes, num_modes)
    p = p[p > 0]
    return float(max(0.0, -(p * np.log(p)).sum() / np.log(num_modes))) if len(p) else 0.0


def mode_kl(modes: Sequence[int], reference: Sequence[int], num_modes: int,
            eps: float = 1e-6) -> float:
    """KL(rollout mode distribution || reference distribution), smoothed by `eps`."""
    p = mode_distribution(modes, num_modes) + eps
    q = mode_distribution(reference, num_modes) + eps
    p, q = p / p.sum(), q / q.sum()
    return float(np.sum(p * np.log(p / q)))


def rollout_metrics(success: Sequence[bool], modes: Sequence[int], contexts: Sequence[int],
                    num_modes: int) -> dict[str, float]:
    """success_rate, entropy (successful rollouts, all contexts pooled) and context_entropy
    (per context, averaged; a context without success counts 0), plus counts.

    `modes[i]` is rollout i's mode (ignored unless `success[i]`); `contexts[i]` its context id."""
    success = np.asarray(success, dtype=bool)
    modes = np.asarray(modes, dtype=np.int64)
    contexts = np.asarray(contexts)
    if not (len(success) == len(modes) == len(contexts)) or len(success) == 0:
        raise ValueError(f"need equally many (>0) success flags, modes and context ids, got "
                         f"{len(success)}, {len(modes)}, {len(contexts)}")
    ok = np.where(success, modes, -1)
    per_context = [normalized_entropy(ok[contexts == c], num_modes) for c in np.unique(contexts)]
    return {
        "success_rate": float(success.mean()),
        "entropy": normalized_entropy(ok, num_modes),
        "context_entropy": float(np.mean(per_context)),
        "modes_seen": int(len(set(ok[ok >= 0].tolist()))),
        "rollouts": int(len(success)),
        "contexts": int(len(per_context)),
    }

"""The 2-D toy task: a Gaussian-mixture target with analytic log-density and score.

The state does not matter (one constant observation), so the policy must represent the
multimodal action distribution itself. Demonstrations are samples of the target; the
analytic score stands in for a teacher, which makes distillation checkable exactly.
Only numpy is needed here; the scoring of a policy is `envs.toy_scoring` (`Toy2D.evaluate`).

Shapes: N points, K target modes, Z experts, A = 2 action dims.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from envs.task import TaskEvaluation

__all__ = [
    "GaussianMixtureTarget", "ring_layout", "grid_layout", "Toy2D",
    "modes_covered", "mode_weights", "sample_mode_frequencies", "modes_hit", "reverse_kl",
    "energy_distance",
]


def _logsumexp(x: np.ndarray, axis: int) -> np.ndarray:
    m = np.max(x, axis=axis, keepdims=True)
    return np.squeeze(m, axis) + np.log(np.sum(np.exp(x - m), axis=axis))


@dataclass(frozen=True)
class GaussianMixtureTarget:
    """sum_k w_k N(x; m_k, s_k^2 I): means (K, A), stds (K,), weights (K,) summing to 1."""

    means: np.ndarray
    stds: np.ndarray
    weights: np.ndarray

    def __post_init__(self) -> None:
        means = np.asarray(self.means, dtype=np.float64)
        stds = np.broadcast_to(np.asarray(self.stds, dtype=np.float64), means.shape[:1]).copy()
        weights = np.asarray(self.weights, dtype=np.float64)
        if means.ndim != 2 or weights.shape != means.shape[:1]:
            raise ValueError(
                f"target needs means (K, A) and weights (K,), got {means.shape} and {weights.shape}"
            )
        if np.any(stds <= 0) or np.any(weights <= 0):
            raise ValueError(f"target stds and weights must be positive, got {stds}, {weights}")
        if abs(weights.sum() - 1.0) > 1e-6:
            raise ValueError(f"target weights must sum to 1, got sum {weights.sum():.6f}")
        object.__setattr__(self, "means", means)
        object.__setattr__(self, "stds", stds)
        object.__setattr__(self, "weights", weights)

    @property
    def num_modes(self) -> int:
        return self.means.shape[0]

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    def mode_log_probs(self, x: np.ndarray) -> np.ndarray:
        """log w_k + log N_k(x) for every mode: (..., A) -> (..., K)."""
        x = np.asarray(x, dtype=np.float64)[..., None, :]
        d2 = np.sum((x - self.means) ** 2, axis=-1)
        var = self.stds**2
        return np.log(self.weights) - 0.5 * d2 / var - 0.5 * self.dim * np.log(2 * np.pi * var)

    def log_prob(self, x: np.ndarray) -> np.ndarray:
        """log p(x): (..., A) -> (...)."""
        return _logsumexp(self.mode_log_probs(x), axis=-1)

    def score(self, x: np.ndarray) -> np.ndarray:
        """grad_x log p(x) = sum_k r_k(x) (m_k - x) / s_k^2: (..., A) -> (..., A)."""
        x = np.asarray(x, dtype=np.float64)
        lp = self.mode_log_probs(x)
        r = np.exp(lp - _logsumexp(lp, axis=-1)[..., None])
        pull = (self.means - x[..., None, :]) / (self.stds**2)[:, None]
        return np.sum(r[..., None] * pull, axis=-2)

    def assign(self, x: np.ndarray) -> np.ndarray:
        """Most likely mode of each point: (..., A) -> (...) int."""
        return np.argmax(self.mode_log_probs(x), axis=-1)

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """n points (n, A) and the mode each came from (n,)."""
        modes = rng.choice(self.num_modes, size=n, p=self.weights)
        x = self.means[modes] + self.stds[modes, None] * rng.standard_normal((n, self.dim))
        return x, modes


def ring_layout(num_modes: int = 8, *, radius: float = 4.0, std: float = 0.4,
                weights=None) -> GaussianMixtureTarget:
    """Modes evenly spaced on a circle (the paper's toy figure uses such a ring)."""
    if num_modes < 1:
        raise ValueError(f"ring_layout needs num_modes >= 1, got {num_modes}")
    angles = 2 * np.pi * np.arange(num_modes) / num_modes
    means = radius * np.stack([np.cos(angles), np.sin(angles)], axis=-1)
    w = np.full(num_modes, 1.0 / num_modes) if weights is None else np.asarray(weights, float)
    return GaussianMixtureTarget(means, np.full(num_modes, std), w)


def grid_layout(rows: int = 3, cols: int = 3, *, spacing: float = 3.0, std: float = 0.3,
                weights=None) -> GaussianMixtureTarget:
    """Modes on a rows x cols grid centred at the origin."""
    if rows < 1 or cols < 1:
        raise ValueError(f"grid_layout needs rows, cols >= 1, got {rows}, {cols}")
    ys, xs = np.meshgrid(np.arange(rows) - (rows - 1) / 2, np.arange(cols) - (cols - 1) / 2,
                         indexing="ij")
    means = spacing * np.stack([xs.ravel(), ys.ravel()], axis=-1)
    k = rows * cols
    w = np.full(k, 1.0 / k) if weights is None else np.asarray(weights, float)
    return GaussianMixtureTarget(means, np.full(k, std), w)


@dataclass(frozen=True)
class Toy2D:
    """The toy task: a constant observation, a 2-D action drawn from the target.

    `layout` is "ring" (num_modes on a circle of `radius`) or "grid" (`grid_rows` x
    `grid_cols`, `radius` used as the spacing). Modes must be well separated (distance >> std)
    for coverage to be a meaningful score.
    """

    num_modes: int = 8
    layout: str = "ring"
    radius: float = 4.0
    mode_std: float = 0.4
    weights: tuple[float, ...] | None = None
    grid_rows: int = 3
    grid_cols: int = 3
    num_demos: int = 4096
    name: str = field(default="toy2d", init=False)
    obs_dim: int = field(default=1, init=False)
    action_dim: int = field(default=2, init=False)
    window: int = field(default=1, init=False)

    def __post_init__(self) -> None:
        if self.layout not in ("ring", "grid"):
            raise ValueError(f"Toy2D.layout must be 'ring' or 'grid', got {self.layout!r}")
        if self.num_demos < 1:
            raise ValueError(f"Toy2D.num_demos must be >= 1, got {self.num_demos!r}")
        self.target  # validates layout parameters and weights

    @property
    def target(self) -> GaussianMixtureTarget:
        w = None if self.weights is None else np.asarray(self.weights, float)
        if self.layout == "ring":
            return ring_layout(self.num_modes, radius=self.radius, std=self.mode_std, weights=w)
        return grid_layout(self.grid_rows, self.grid_cols, spacing=self.radius,
                           std=self.mode_std, weights=w)

    def data_settings(self) -> dict:
        """What determines the demonstrations (keys the teacher cache): every setting."""
        return asdict(self)

    @property
    def levels(self) -> dict[str, int]:
        """No graded success levels (the `Task` protocol)."""
        return {}

    @property
    def is_image(self) -> bool:
        return False

    @property
    def reports_mode_kl(self) -> bool:
        return False

    def observation(self, n: int) -> np.ndarray:
        """n constant observation windows (n, 1, 1)."""
        return np.zeros((n, self.window, self.obs_dim), dtype=np.float32)

    def timing_window(self, dataset: dict | None = None) -> np.ndarray:
        """The observation window (1, 1) to time inference on (`dataset` is not needed)."""
        return self.observation(1)[0]

    def make_dataset(self, seed: int, num_demos: int | None = None, *,
                     cache_dir: str | Path | None = None) -> dict[str, np.ndarray]:
        """Demonstrations: obs (N, 1, 1), actions (N, 1, 2), mode (N,). Seeded, float32.
        Generated in memory: `cache_dir` is accepted for the `Task` protocol and ignored."""
        n = self.num_demos if num_demos is None else num_demos
        x, modes = self.target.sample(n, np.random.default_rng(seed))
        return {"obs": self.observation(n), "actions": x[:, None, :].astype(np.float32),
                "mode": modes}

    def evaluate(self, policy, *, seed: int, num_samples: int = 10_000,
                 reference: np.ndarray | None = None) -> TaskEvaluation:
        """Score `policy` (`envs.toy_scoring.ToyPolicy`) against the exact target: sample
        metrics of `num_samples` draws, the mixture metrics when the policy has `mixture` and
        `log_prob`, and `energy_distance_teacher` to `reference` (a teacher's samples (M, A))
        when given; `samples` of the result are the draws (N, A)."""
        from envs.toy_scoring import evaluate_toy_policy

        return evaluate_toy_policy(self, policy, seed=seed, num_samples=num_samples,
                                   reference=reference)


# --------------------------------------------------------------------------- metrics
def modes_covered(component_means: np.ndarray, target: GaussianMixtureTarget,
                  tol: float = 0.5) -> np.ndarray:
    """(K,) bool: some component mean lies within tol * std of mode k's mean."""
    d = np.linalg.norm(np.asarray(component_means)[:, None, :] - target.means[None], axis=-1)
    return d.min(axis=0) <= tol * target.stds


def mode_weights(component_means: np.ndarray, component_weights: np.ndarray,
                 target: GaussianMixtureTarget) -> np.ndarray:
    """(K,) mixture mass per mode: each component's weight goes to its mean's mode."""
    modes = target.assign(component_means)
    return np.bincount(modes, weights=np.asarray(component_weights, float),
                       minlength=target.num_modes)


def sample_mode_frequencies(samples: np.ndarray, target: GaussianMixtureTarget) -> np.ndarray:
    """(K,) fraction of samples whose most likely mode is k."""
    modes = target.assign(samples)
    return np.bincount(modes, minlength=target.num_modes) / max(len(modes), 1)


def reverse_kl(samples: np.ndarray, log_q: np.ndarray, target: GaussianMixtureTarget) -> float:
    """Monte-Carlo KL(q || p) = E_q[log q - log p] from samples of q and their log q."""
    return float(np.mean(np.asarray(log_q, np.float64) - target.log_prob(samples)))


def modes_hit(samples: np.ndarray, target: GaussianMixtureTarget,
              min_fraction: float = 0.5) -> np.ndarray:
    """(K,) bool: mode k receives at least min_fraction of its true share of the samples."""
    return sample_mode_frequencies(samples, target) >= min_fraction * target.weights


def energy_distance(x: np.ndarray, y: np.ndarray) -> float:
    """Energy distance 2 E|X-Y| - E|X-X'| - E|Y-Y'| between two samples (N, A) and (M, A).

    Zero iff the distributions agree; V-statistic estimate (includes the zero diagonals), so
    keep N, M at a few thousand.
    """
    def mean_dist(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.mean(np.linalg.norm(a[:, None, :] - b[None, :, :], axis=-1)))

    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    return 2 * mean_dist(x, y) - mean_dist(x, x) - mean_dist(y, y)

"""Score adapters: grad_a log pi(a | s) of a trained teacher, for distillation (VDD).

Both match distill's ScoreAdapter protocol: score(actions (N, T, A), obs (N, T, O)) ->
(N, T, A), all in the teacher's *normalised* units, without gradient. The queried action is
clean; the score is taken at a small noise level drawn per query row.

Shapes: N query rows, T window, O obs dim, A action dim, G query rows per observation.

`score_grouped(actions (B*G, T, A), obs (B, T, O))` is the same for G consecutive action rows
per observation row (VDD's samples of all experts): an image teacher encodes each observation
once and repeats the tokens, instead of running its CNNs on G copies of every image.
"""

from __future__ import annotations

import torch

from teachers.base import eval_mode
from teachers.beso import BESOPolicy
from teachers.ddpm import DDPMPolicy
from teachers.network import EncodedObs

__all__ = ["BESOScore", "DDPMScore"]


def _check(policy, actions: torch.Tensor, obs: torch.Tensor) -> None:
    policy.check_obs(obs)
    policy.check_actions(actions, obs)


def _grouped(adapter, actions: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
    """`adapter.score` with each observation row serving G consecutive action rows."""
    B, G = obs.shape[0], actions.shape[0] // max(obs.shape[0], 1)
    if B * G != actions.shape[0]:
        raise ValueError(f"score_grouped needs a multiple of {B} action rows (one group per "
                         f"observation), got {actions.shape[0]}")
    policy = adapter.policy
    if not policy.config.cameras:  # state observations: repeat them (cheap), same numbers
        return adapter.score(actions, obs.repeat_interleave(G, dim=0))
    policy.check_obs(obs)
    with torch.no_grad(), eval_mode(policy):
        tokens = policy.model.encode_obs(obs).tokens_BTD
    return adapter.score(actions, EncodedObs(tokens.repeat_interleave(G, dim=0)))


def _sigma_range(name: str, sigma_range) -> tuple[float, float]:
    lo, hi = (float(v) for v in sigma_range)
    if not 0 < lo <= hi:
        raise ValueError(f"BESOScore.{name} needs 0 < lo <= hi, got {sigma_range!r}")
    return lo, hi


class BESOScore:
    """score = (D(a; sigma | s) - a) / sigma^2 with sigma ~ U[lo, hi] per row.

    This is the score of the data convolved with N(0, sigma^2): at sigma -> 0 the score of the
    teacher itself, smoothed over a radius ~sigma (normalised units).

    `final_sigma_range` (None: the range stays put) anneals the range: at training progress f
    (`set_progress`, which VDD calls before every update with its share of iterations done)
    each end is (1 - f) * sigma_range's + f * final_sigma_range's. The published VDD code's
    "anneal" noise level is the case of two one-point ranges, (hi, hi) -> (lo, lo).
    """

    def __init__(self, policy: BESOPolicy, sigma_range: tuple[float, float] = (0.05, 0.2), *,
                 final_sigma_range: tuple[float, float] | None = None,
                 generator: torch.Generator | None = None) -> None:
        if not isinstance(policy, BESOPolicy):
            raise TypeError(f"BESOScore needs a BESOPolicy, got {type(policy).__name__}")
        self.policy, self.generator = policy, generator
        self.start_range = _sigma_range("sigma_range", sigma_range)
        self.final_range = (None if final_sigma_range is None
                            else _sigma_range("final_sigma_range", final_sigma_range))
        self.progress = 0.0  # training progress in [0, 1], set by `set_progress`

    @property
    def sigma_range(self) -> tuple[float, float]:
        """The range queried now: `start_range`, moved `progress` of the way to `final_range`."""
        if self.final_range is None:
            return self.start_range
        f = self.progress
        (s_lo, s_hi), (e_lo, e_hi) = self.start_range, self.final_range
        return (1.0 - f) * s_lo + f * e_lo, (1.0 - f) * s_hi + f * e_hi

    def set_progress(self, fraction: float) -> None:
        """Set training progress `fraction` in [0, 1] (changes nothing without
        `final_sigma_range`)."""
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"BESOScore.set_progress needs a fraction in [0, 1], got {fraction!r}")
        self.progress = float(fraction)

    @torch.no_grad()
    def score(self, actions: torch.Tensor, obs: torch.Tensor | EncodedObs) -> torch.Tensor:
        if not isinstance(obs, EncodedObs):
            _check(self.policy, actions, obs)
        lo, hi = self.sigma_range
        u = torch.rand(actions.shape[0], generator=self.generator, device=actions.device)
        sigma = lo + (hi - lo) * u
        with eval_mode(self.policy):
            denoised = self.policy.denoise(actions, sigma, obs)
        return (denoised - actions) / sigma[:, None, None] ** 2

    def score_grouped(self, actions: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
        return _grouped(self, actions, obs)


class DDPMScore:
    """score = -eps(x, t | s) / sqrt(1 - alpha_bar_t) with t ~ U{t_lo..t_hi} per row.

    By default (`scale_input=False`, as the published VDD code does) the clean action is fed
    as x_t directly, although the VP marginal at step t is centred on sqrt(alpha_bar_t) a: this
    is the step-t marginal's score evaluated at x = a, whose zero for a mode at m sits at
    sqrt(alpha_bar_t) m, pulled toward the origin, and which is smoothed by noise of std
    sqrt(1 - alpha_bar_t). On the 8-step cosine schedule (max_beta 0.9) sqrt(alpha_bar_t) is
    0.98, 0.92, 0.83, 0.70 at t = 1..4 (16 steps: 0.99, 0.98, 0.95, 0.92), so only t = 1 is
    close to the clean action's score. With `scale_input=True` the query is
    x_t = sqrt(alpha_bar_t) a and the result is the chain-ruled score in a:
    sqrt(alpha_bar_t) * score_t(sqrt(alpha_bar_t) a), i.e. the score of the data convolved with
    N(0, (1 - alpha_bar_t) / alpha_bar_t) (a VE score, zero at m; smoothing std 0.21 at t = 1
    of 8, 0.11 at t = 1 of 16, normalised units). The smallest smoothing the schedule offers is
    t = 1's: a task's gin states the setting it measured best (`DDPMScore.t_range`,
    `DDPMScore.scale_input`).
    """

    def __init__(self, policy: DDPMPolicy, t_range: tuple[int, int] = (1, 2), *,
                 scale_input: bool = False, generator: torch.Generator | None = None) -> None:
        if not isinstance(policy, DDPMPolicy):
            raise TypeError(f"DDPMScore needs a DDPMPolicy, got {type(policy).__name__}")
        lo, hi = t_range
        n = policy.config.num_train_steps
        if not (isinstance(lo, int) and isinstance(hi, int) and 1 <= lo <= hi <= n):
            raise ValueError(
                f"DDPMScore needs integer 1 <= t_lo <= t_hi <= num_train_steps={n}, got {t_range!r}"
            )
        self.policy, self.t_range = policy, (lo, hi)
        self.scale_input, self.generator = scale_input, generator

    @torch.no_grad()
    def score(self, actions: torch.Tensor, obs: torch.Tensor | EncodedObs) -> torch.Tensor:
        if not isinstance(obs, EncodedObs):
            _check(self.policy, actions, obs)
        lo, hi = self.t_range
        t = torch.randint(lo, hi + 1, (actions.shape[0],), generator=self.generator,
                          device=actions.device)
        ab = self.policy.alpha_bars.to(actions.device)[t][:, None, None]
        x = ab.sqrt() * actions if self.scale_input else actions
        with eval_mode(self.policy):
            eps = self.policy.predict_eps(x, t, obs)
        score = -eps / (1 - ab).sqrt()
        return ab.sqrt() * score if self.scale_input else score

    def score_grouped(self, actions: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
        return _grouped(self, actions, obs)

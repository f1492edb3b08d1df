"""Variational Diffusion Distillation: fit a MoE q to a teacher pi by minimising KL(q || pi).

The teacher is reached only through a score adapter. Per iteration:
- expert steps (cmp_steps, a fresh batch each): V reparameterised samples per state and expert,
  loss = -sum_z q(z|s) [ mean_v( score . a_v + log q~(z | a_v, s) ) + H[N_z] ], where the
  surrogate score . a_v has gradient score^T da/dtheta and log q~ (the responsibility of the
  sampling expert) is evaluated with detached mixture parameters, so its gradient flows only
  through the sample; the surrogate enters as score . (a_v - sg(a_v)), value 0, so the logged
  `expert_loss` is -sum_z q(z|s) [mean_v log q~ + H[N_z]] (the teacher's log density, the
  rest of the KL, has no value to log);
- one gating step: soft cross-entropy to the responsibilities of *dataset* actions.

Beyond the paper (both on by default, both switchable off for the published behaviour):
- `expert_init="data"` places the experts on spread-out demonstration actions (k-means++),
  each as wide as the data's spread around its nearest centre (`distill.reseed.initial_stds`);
- `reseed_every` moves an expert that sits on top of another one to the dataset point farthest
  from every expert (kept from all batches: `distill.reseed.UnexplainedPool`), climbed on the
  teacher's score to the centre of the mode it lies in (`distill.reseed.climb_to_mode`), while
  one lies beyond every expert's reach; before that, an expert grown wider than it started
  whose own samples the teacher's score disagrees with (`distill.reseed.score_misfit`: it
  straddles modes) is narrowed to the other experts' typical width. Reverse KL is
  mode-seeking: without these, two experts that land on one mode never cross the low-density
  gap to an uncovered mode.

Optional, off by default (`visited_share = 0`): on-policy expert steps. Every `visited_every`
updates the caller rolls the student out (`visits_due`, then `add_visited` with the windows its
rollouts visited: `bench.visited`), and from then on the first expert step of each update draws
`visited_share` of its batch from those windows. On Aligning the experts fitted only on
demonstration states miss the teacher on the states the student reaches (README, "Rod tasks:
diagnosis", item 16); the teacher's score there is sound, so the experts are trained there too.

Optional, off by default (`query_min_weight = 0`): gated teacher queries. The loss weighs each
expert's terms at a state by q(z|s), and a trained gating gives most experts ~0 at most states;
with `query_min_weight = w` the teacher scores the samples of a (state, expert) pair with
q(z|s) >= w always and of any other with probability q(z|s) / w, reweighted so that the loss
stays an unbiased estimate of the full one (`distill.query_gate`). While re-seeding runs, every
pair is queried (its misfit check reads every score).

Shapes: B batch, T window, O obs, A action, Z experts, V samples per expert.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch

from distill.checks import check_positive_int
from distill.mixture import Batch, MixtureAlgorithm, MixtureStats, check_mixture_config
from distill.query_gate import gate_pairs
from distill.reseed import (MISFIT_MAX, UnexplainedPool, climb_to_mode, far_from_every_expert,
                            initial_stds, score_misfit)
from distill.score import ScoreAdapter
from distill.visited import VisitedPool
from moe import GaussianMixture, MoEPolicy

__all__ = ["VDDConfig", "VDDStats", "VDD", "RESEED_POOL"]

RESEED_POOL = 64  # dataset points kept as re-seeding targets: the farthest from every expert


@dataclass(frozen=True)
class VDDConfig:
    """VDD settings. Defaults: the published real-task settings plus our mode-covering fixes."""

    iterations: int = 20_000
    batch_size: int = 1024
    num_samples: int = 2  # V, reparameterised samples per state and expert
    cmp_steps: int = 2  # expert steps per iteration
    lr: float = 1e-4  # experts (backbone + heads)
    gating_lr: float = 1e-4
    lr_decay: bool = True  # linear decay to 0 over `iterations`
    grad_clip: float = 0.0  # max grad norm of the expert step; 0 = off
    expert_init: str = "data"  # "data" (k-means++ on demo actions) or "random" (published)
    reseed_every: int = 100  # 0 = never (published)
    reseed_until: float = 0.5  # fraction of training after which no expert is moved
    reseed_below: float = 0.6  # move an expert whose own samples it explains less than this
    reseed_margin: float = 3.0  # ... to a point beyond sqrt(A) + this of every expert
    visited_share: float = 0.0  # of the first expert batch, from the student's own states; 0 off
    visited_every: int = 250  # updates between two collections of the student's rollouts
    visited_rollouts: int = 32  # rollouts per collection
    visited_capacity: int = 200_000  # visited windows kept (the newest)
    query_min_weight: float = 0.0  # pairs with q(z|s) below it queried by chance; 0 off

    def __post_init__(self) -> None:
        check_mixture_config(self)
        name = type(self).__name__
        check_positive_int(name, num_samples=self.num_samples, cmp_steps=self.cmp_steps,
                           visited_every=self.visited_every,
                           visited_rollouts=self.visited_rollouts,
                           visited_capacity=self.visited_capacity)
        share = self.visited_share
        if isinstance(share, bool) or not (isinstance(share, (int, float)) and 0 <= share <= 1):
            raise ValueError(f"{name}.visited_share must lie in [0, 1] (0 = off), got "
                             f"{self.visited_share!r}")
        if self.reseed_every < 0 or not 0.0 <= self.reseed_until <= 1.0:
            raise ValueError(
                f"{name} needs reseed_every >= 0 and reseed_until in [0, 1], got "
                f"{self.reseed_every!r} and {self.reseed_until!r}"
            )
        if not 0.0 < self.reseed_below <= 1.0:
            raise ValueError(f"{name}.reseed_below must lie in (0, 1], got {self.reseed_below!r}")
        w = self.query_min_weight
        if isinstance(w, bool) or not (isinstance(w, (int, float)) and 0 <= w < 1):
            raise ValueError(f"{name}.query_min_weight must lie in [0, 1) (0 = off), got "
                             f"{self.query_min_weight!r}")
        if not self.reseed_margin > 0.0:
            raise ValueError(f"{name}.reseed_margin must be > 0, got {self.reseed_margin!r}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class VDDStats(MixtureStats):
    """What one `update` did (expert_loss and expert_entropy: means over its expert steps)."""

    expert_entropy: float  # mean analytic entropy of the experts (normalised actions)
    gating_entropy: float  # mean entropy of q(z | s), in nats
    lr: float
    reseeded: int  # experts moved this iteration
    narrowed: int = 0  # straddling experts narrowed this iteration
    visited: int = 0  # windows of the student's own rollouts kept (visited_share > 0)
    queried: float = 1.0  # share of (state, expert) pairs whose samples the teacher scored


class VDD(MixtureAlgorithm):
    """The VDD algorithm: owns the optimisers; `update(batches)` runs one iteration."""

    CONFIG_CLS = VDDConfig

    def __init__(
        self,
        policy: MoEPolicy,
        score: ScoreAdapter,
        config: VDDConfig,
        *,
        init_actions: torch.Tensor | None = None,
    ) -> None:
        if not isinstance(score, ScoreAdapter):
            raise TypeError(f"VDD needs a score adapter with score(actions, obs), got {score!r}")
        self.teacher = score
        super().__init__(policy, config, init_actions=init_actions)
        self.unexplained = UnexplainedPool(size=RESEED_POOL)
        A = policy.config.action_dim
        self.start_stds = torch.full((A,), policy.config.init_std, device=policy.device)
        if config.expert_init == "data":  # k-means++ means; each expert as wide as its cell
            self.start_stds = initial_stds(policy, init_actions)
            policy.experts.set_stds(self.start_stds.expand(policy.config.num_experts, -1))
        self._misfit_sum: torch.Tensor | None = None  # (Z,) score_misfit summed since a check
        self._misfit_count = 0
        if config.visited_share and policy.config.cameras:
            raise ValueError("VDDConfig.visited_share works on state observations only; set it "
                             f"to 0 for a student with cameras (got {config.visited_share!r})")
        self.visited = VisitedPool(capacity=config.visited_capacity, window=policy.config.window,
                                   obs_dim=policy.config.obs_dim, device=policy.device)

    @property
    def batches_per_update(self) -> int:
        return self.config.cmp_steps

    # ------------------------------------------------------------------ one iteration
    def update(self, batches: Sequence[Batch]) -> VDDStats:
        if len(batches) != self.config.cmp_steps:
            raise ValueError(
                f"VDD.update needs {self.config.cmp_steps} batches, got {len(batches)}")
        self.policy.train()
        progress = getattr(self.teacher, "set_progress", None)
        if progress is not None:  # an annealed score (BESOScore.final_sigma_range)
            progress(min(1.0, self.iteration / self.config.iterations))
        normed = [self.policy.normalize_batch(b) for b in batches]
        expert_obs = [obs for obs, _ in normed]
        k = round(self.config.visited_share * len(expert_obs[0]))
        if k and len(self.visited):  # the first expert step partly on the student's own states
            own = self.policy.obs_normalizer.normalize(self.visited.sample(k))
            expert_obs[0] = torch.cat([own, expert_obs[0][k:]])
        expert = [self._expert_step(obs) for obs in expert_obs]
        queried = sum(e[2] for e in expert) / len(expert)
        gating_loss, gating_entropy = self._gating_step(*normed[-1])
        reseeded, narrowed = self._maybe_reseed(normed)
        lr = self.finish_iteration()
        return VDDStats(
            expert_loss=sum(e[0] for e in expert) / len(expert),
            gating_loss=gating_loss,
            expert_entropy=sum(e[1] for e in expert) / len(expert),
            gating_entropy=gating_entropy,
            lr=lr,
            reseeded=reseeded,
            narrowed=narrowed,
            visited=len(self.visited),
            queried=queried,
        )

    def _expert_step(self, obs_BTO: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | float]:
        """One expert step; returns (loss, mean expert entropy, share of pairs queried)."""
        c = self.config
        mix = self.policy(obs_BTO)
        a_BTZVA = mix.rsample_experts(c.num_samples)
        det = mix.detach()
        weights_BTZ = det.weights
        reseeding = self._reseeding_now()
        keep_BZ = None  # (state, expert) pairs worth a teacher query; None: all of them
        if c.query_min_weight and not reseeding:  # re-seeding's misfit reads every score
            keep_BZ, weights_BTZ = gate_pairs(weights_BTZ, c.query_min_weight)
        score_BTZVA = self._teacher_score(a_BTZVA.detach(), obs_BTO, keep_BZ)
        # gradient score^T da/dtheta, value 0: the logged loss is the part of the objective
        # that has a value (log pi is unknown), not score . a, which spikes at far samples
        surrogate_BTZV = (score_BTZVA * (a_BTZVA - a_BTZVA.detach())).sum(-1)
        if reseeding:
            misfit = score_misfit(det, a_BTZVA.detach(), score_BTZVA)
            self._misfit_sum = misfit if self._misfit_sum is None else self._misfit_sum + misfit
            self._misfit_count += 1
        # every sample under every expert: (B, T, Z, V, Z'), gradient only through the samples
        log_joint = det.expert_log_prob(a_BTZVA) + det.log_weights[:, :, None, None, :]
        own_BTZV = torch.diagonal(log_joint, dim1=2, dim2=4).permute(0, 1, 3, 2)
        log_resp_BTZV = own_BTZV - torch.logsumexp(log_joint, dim=-1)
        entropy_BTZ = mix.entropies()
        per_expert_BTZ = (surrogate_BTZV + log_resp_BTZV).mean(-1) + entropy_BTZ
        loss = -(weights_BTZ * per_expert_BTZ).sum(-1).mean()
        self.step(expert_loss=loss)
        queried = 1.0 if keep_BZ is None else keep_BZ.float().mean()  # stays on the device
        return loss.detach(), entropy_BTZ.detach().mean(), queried

    @torch.no_grad()
    def _teacher_score(self, a_BTZVA: torch.Tensor, obs_BTO: torch.Tensor,
                       keep_BZ: torch.Tensor | None) -> torch.Tensor:
        """The teacher's score at every sample (B, T, Z, V, A); with `keep_BZ`, only the samples
        of the kept (state, expert) pairs are queried and the rest are left at 0 (their loss
        weights are 0: `distill.query_gate`)."""
        B, T, Z, V, A = a_BTZVA.shape
        query_BZVTA = a_BTZVA.permute(0, 2, 3, 1, 4)
        grouped = getattr(self.teacher, "score_grouped", None)
        if keep_BZ is None:
            rows, obs_rows, G = query_BZVTA.reshape(B * Z * V, T, A), obs_BTO, Z * V
        else:
            b, z = keep_BZ.nonzero(as_tuple=True)
            rows, obs_rows, G = query_BZVTA[b, z].reshape(-1, T, A), obs_BTO[b], V
        if grouped is not None:  # one observation row per G query rows (no copies)
            score = grouped(rows, obs_rows)
        else:
            score = self.teacher.score(rows, obs_rows.repeat_interleave(G, dim=0))
        if keep_BZ is None:
            score_BZVTA = score.reshape(B, Z, V, T, A)
        else:
            score_BZVTA = a_BTZVA.new_zeros(B, Z, V, T, A)
            score_BZVTA[b, z] = score.reshape(-1, V, T, A)
        return score_BZVTA.permute(0, 3, 1, 2, 4)

    def _gating_step(self, obs_BTO: torch.Tensor, actions_BTA: torch.Tensor
                     ) -> tuple[torch.Tensor | float, torch.Tensor | float]:
        p = self.policy
        if self.gating_opt is None:
            return 0.0, math.log(p.config.num_experts)
        with torch.no_grad():
            feat = p.features(obs_BTO)
            means, tril = p.experts(feat)
        log_w = p.gating(feat)
        mix = GaussianMixture(log_w.detach(), means, tril)
        loss = self.gating_cross_entropy(mix.responsibilities(actions_BTA), log_w)
        self.step(gating_loss=loss)
        return loss.detach(), self.gating_entropy(log_w.detach())

    # ------------------------------------------------------------------ on-policy states
    def visits_due(self) -> int:
        """How many rollouts of the student to collect now (after `iteration` updates) and hand
        to `add_visited`: `visited_rollouts` every `visited_every` updates before the last, else 0
        (always 0 with `visited_share = 0`)."""
        c = self.config
        it = self.iteration
        if not c.visited_share or not it or it % c.visited_every or it >= c.iterations:
            return 0
        return c.visited_rollouts

    def add_visited(self, obs_NTO: torch.Tensor) -> None:
        """Keep raw observation windows (N, T, O) the student's own rollouts visited."""
        self.visited.add(obs_NTO)

    # ------------------------------------------------------------------ re-seeding
    def _reseeding_now(self) -> bool:
        """Whether this iteration lies in the re-seeding phase (the first `reseed_until`)."""
        c = self.config
        return c.reseed_every > 0 and self.iteration + 1 <= c.reseed_until * c.iterations

    @torch.no_grad()
    def _maybe_reseed(self, normed: Sequence[tuple[torch.Tensor, torch.Tensor]]
                      ) -> tuple[int, int]:
        """(moved, narrowed): narrow straddling experts, then move redundant experts, one at a
        time, each to the centre of the teacher's mode around the dataset point farthest from
        every expert (among the `RESEED_POOL` farthest of all batches since training began,
        rescored after each move), while that point lies beyond every expert's reach."""
        c = self.config
        it = self.iteration + 1
        if not self._reseeding_now():
            return 0, 0
        for obs_BTO, actions_BTA in normed:  # batches are random rows: a few suffice
            self.unexplained.add(self.policy, obs_BTO[:RESEED_POOL], actions_BTA[:RESEED_POOL])
        if it % c.reseed_every:
            return 0, 0
        stds_ZA, width_A = self._expert_widths(normed[-1][0])
        narrowed = self._narrow_straddlers(stds_ZA, width_A)
        far = far_from_every_expert(self.policy.config.action_dim, c.reseed_margin)
        moved: list[int] = []
        for _ in range(self.policy.config.num_experts // 2):
            own = self.own_responsibility(normed[-1][0])
            own[moved] = 1.0  # each expert moves at most once per check
            z = int(own.argmin())
            point = self.unexplained.farthest(self.policy)
            if own[z] >= c.reseed_below or point is None or point.distance <= far:
                break
            mix = self.policy(point.obs_TO[None])
            target = climb_to_mode(self.teacher, point.actions_TA, point.obs_TO,
                                   torch.diag(width_A.pow(2)))[point.t]
            self._move_expert(z, target=target, current=mix.means[0, point.t, z])
            moved.append(z)
        return len(moved), narrowed

    @torch.no_grad()
    def _expert_widths(self, obs_BTO: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """((Z, A) each expert's stds, mean over the batch's states; (A,) a typical width: their
        median per dimension, at most the starting width), normalised units."""
        stds_ZA = torch.diagonal(self.policy(obs_BTO).scale_tril, dim1=-2, dim2=-1).mean((0, 1))
        return stds_ZA, torch.minimum(stds_ZA.median(dim=0).values, self.start_stds)

    @torch.no_grad()
    def _narrow_straddlers(self, stds_ZA: torch.Tensor, width_A: torch.Tensor) -> int:
        """Narrow every expert wider than it started (`stds_ZA`: any dimension) whose score
        misfit since the last check exceeds MISFIT_MAX to `width_A` (the experts' median width
        per dimension, at most the starting width): back to the starting width alone, a
        straddler widens again within a check interval (12-mode ring, measured)."""
        if self._misfit_sum is None:
            return 0
        misfit = self._misfit_sum / self._misfit_count
        self._misfit_sum, self._misfit_count = None, 0
        wide = (stds_ZA > self.start_stds).any(-1) & (misfit > MISFIT_MAX)
        experts = wide.nonzero().flatten()
        if experts.numel() == 0:
            return 0
        heads = self.policy.experts
        heads.set_stds(width_A.expand(experts.numel(), -1), experts=experts)
        n = heads.scale_out.bias.numel() // heads.Z
        rows = (experts[:, None] * n + torch.arange(n, device=experts.device)).flatten()
        self._clear_momentum(heads.scale_out, rows)
        return int(experts.numel())

    @torch.no_grad()
    def own_responsibility(self, obs_BTO: torch.Tensor, num_samples: int = 16) -> torch.Tensor:
        """(Z,) mean q~(z | a) over samples a of expert z itself.

        Near 1: the expert owns the region it covers. Near 1/2 or below: another expert sits on
        top of it, or its gating weight has starved, so it contributes nothing of its own.
        """
        mix = self.policy(obs_BTO)
        a_BTZVA = mix.rsample_experts(num_samples)
        log_joint = mix.expert_log_prob(a_BTZVA) + mix.log_weights[:, :, None, None, :]
        own = (torch.diagonal(log_joint, dim1=2, dim2=4)
               - torch.logsumexp(log_joint, -1).transpose(2, 3))
        return own.exp().mean(dim=(0, 1, 2))

    def _move_expert(self, z: int, *, target: torch.Tensor, current: torch.Tensor) -> None:
        """Shift expert z's mean by (target - current) and clear its optimiser momentum."""
        head = self.policy.experts.mean_out
        A = self.policy.config.action_dim
        rows = slice(z * A, (z + 1) * A)
        head.bias[rows] += target - current
        self._clear_momentum(head, rows)

    def _clear_momentum(self, layer: torch.nn.Linear, rows) -> None:
        """Zero the expert optimiser's first moment for these output rows of `layer`, so a
        moved or narrowed expert is not pushed back by the momentum of where it was."""
        for param in (layer.weight, layer.bias):
            state = self.expert_opt.state.get(param)
            if state:
                state["exp_avg"][rows] = 0.0

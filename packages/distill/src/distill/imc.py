"""IMC: Information Maximising Curriculum (Blessing et al., NeurIPS 2023), fitted to demonstrations.

Each expert z keeps a curriculum p(o | z) over the data points o = (s, a); it learns only from
its curriculum, and the curricula compete for the data through the per-data-point posterior
p(z | o). Per update, on one batch in normalised units (the N = B * T (window, timestep) pairs
of the batch are the data points, see "Data points" below), without gradient:

- reward R_z(o) = log N_z(a | s) + eta * log p(z | o), with p(z | o) the posterior stored for
  that data point by its previous visit (uniform before the first);
- joint curriculum p(o, z) proportional to exp(R_z(o) / eta); from it
      curriculum  p(o | z) = softmax over the batch's points of R_z(o) / eta,
      posterior   p(z | o) = softmax over the experts of R_z(o) / eta  (stored for o);
- experts: one Adam step on the backbone and heads maximising
      sum_z sum_o w_z(o) log N_z(a | s),
  w_z(o) the expert weights: by default p(z | o) / max_z' p(z' | o), as the authors' code
  (below, "Expert weights");
- gating: one Adam step on the gating net minimising the soft cross-entropy
      mean_o -sum_z p(z | o) log q(z | s)   (the amortised inference net q(z | s) ~ p(z | o)).

The posterior term is what makes the experts compete: a point already claimed by one expert
(p(z | o) near 1) costs every other expert eta * log p(z' | o) << 0, so two experts on one
mode split its points instead of both averaging over all of them. Across visits
p(z | o) is proportional to p_prev(z | o) N_z(a | s)^(1/eta), so it sharpens towards one expert
per point. (The state-only gating q(z | s) used here before is the same for every point of a
state: on a constant-state task it cancelled in the normalisation over the data, leaving no
competition at all.)

Source, checked against the IMC authors' public code (github.com/ALRhub/imc, src/imc/imc.py,
commit c31e59e): per data point a table of log curricula, initialised equal (a uniform
posterior); the E-step takes log p(z | o) as the log curricula normalised over the experts; the
curriculum step sets the reward log N_z(o) + eta * log p(z | o) and the new log curricula to
reward / eta; the experts take a curriculum-weighted maximum-likelihood step; the inference
net is fitted to p(z | o) afterwards. One difference: that code holds the whole data set
and refreshes every point's curriculum once per outer iteration, where this one keeps
the table per dataset row and refreshes the rows of each batch (the trainer passes them as
`batch["index"]`). That code weights each point in the expert step by its curricula rescaled
per point (best expert 1), which is this one's default; the paper's normalised p(o | z) is
`expert_weights="curriculum"` (below).

eta > 0 is the curriculum's temperature. The curriculum is a Gaussian kernel around the
expert's mean with covariance eta * Sigma_z, times the posterior: small eta keeps each
curriculum on the points its expert explains best; large eta flattens it over the points the
posterior gives it. Points no expert explains well receive little weight from every
curriculum: with curriculum weights IMC may ignore data, where EM must explain it.

Covariance: with its optimal curriculum plugged in, expert z's objective grows without bound
as the expert shrinks onto its nearest points. So by default (`fit_covariance=False`, as in
the IMC baseline of the VDD authors' code) the expert step detaches the Cholesky factors: only
the means move, and a fresh policy keeps std `MoEConfig.init_std` (normalised units), which
with eta sets the kernel width sqrt(eta) * init_std. `fit_covariance=True` trains them too:
with curriculum weights, on an isolated Gaussian mode of std sigma the std then settles at
sigma * sqrt(1 - 1/eta) for eta > 1 and collapses towards `MoEConfig.min_std` for eta <= 1;
with posterior weights it is the maximum-likelihood fit of the points the expert wins.

Expert weights (`expert_weights`): "curriculum" weights point o in expert z's step by
p(o | z) above, normalised over the batch's points, as the paper writes the curriculum: a
point no expert explains well gets little weight from every expert. "posterior" (the default)
weights it by p(z | o) / max_z' p(z' | o), i.e. the log curricula minus their maximum over
the experts per point, as the authors' code does before its expert step (there "for numerical
stability"): every point then weighs 1 for its most likely expert, whatever that expert's
likelihood, and the step is EM's with responsibilities that sharpen across visits; its loss
is the mean over the batch's points. Measured on Aligning (CPU budget, seed 0, 3000 updates):
curriculum weights 0.03 success, posterior weights 0.46 (README, diagnosis item 22): the
curriculum form dropped the states whose actions the experts did not yet predict.

Data points: every (window, timestep) pair of the dataset is one point (as in the VDD
authors' code), so the stored posterior is (dataset rows, T, Z); the curriculum is normalised
over all B * T points of the batch together.

Shapes: B batch, T window, O obs, A action, Z experts, N = B * T points, R dataset rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from distill.checks import check_positive_number
from distill.em import EMConfig
from distill.mixture import Batch, MixtureAlgorithm, MixtureStats
from moe import GaussianMixture, MoEPolicy

__all__ = ["IMCConfig", "IMCStats", "IMC", "EXPERT_WEIGHTS"]

EXPERT_WEIGHTS = ("curriculum", "posterior")


@dataclass(frozen=True)
class IMCConfig(EMConfig):
    """IMC settings: EM's (the same optimiser defaults as VDD) plus the curriculum's."""

    eta: float = 1.0  # curriculum temperature: larger = every expert covers more data
    fit_covariance: bool = False  # train the experts' covariances too (see module docstring)
    # what weights a data point in expert z's step (see "Expert weights" in the module doc)
    expert_weights: str = "posterior"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive_number(type(self).__name__, eta=self.eta)
        if self.expert_weights not in EXPERT_WEIGHTS:
            raise ValueError(f"IMCConfig.expert_weights must be one of {EXPERT_WEIGHTS}, got "
                             f"{self.expert_weights!r}")
        if not isinstance(self.fit_covariance, bool):
            raise ValueError(
                f"IMCConfig.fit_covariance must be a bool, got {self.fit_covariance!r}"
            )


@dataclass(frozen=True)
class IMCStats(MixtureStats):
    """What one `update` did; likelihoods are of the batch *before* the step, normalised units.

    expert_loss: -sum_z sum_o w_z(o) log N_z(a|s), w the expert weights (divided by the
    number of points for "posterior"); gating_loss: soft cross-entropy to p(z|o) (0 for a
    uniform gating).
    """

    log_likelihood: float  # mean log q(a|s) of the batch under the mixture
    gating_entropy: float  # mean entropy of q(z|s), nats
    coverage: float  # mean over experts of exp(H[p(o|z)]) / N: the fraction of the batch covered
    curriculum_entropy: float  # mean over experts of H[p(o|z)], nats (at most log N)
    posterior_entropy: float  # mean entropy of p(z|o) over the batch: 0 = one expert per point
    lr: float


class IMC(MixtureAlgorithm):
    """`IMC(policy, config, *, init_actions=None)`: owns the optimisers and the per-data-point
    posterior p(z | o); `update([batch])` refreshes the batch's curricula and takes one step on
    experts and gating. Each batch names its dataset rows under "index" (B,). Fit the policy's
    normalisers before constructing it."""

    CONFIG_CLS = IMCConfig

    def __init__(self, policy: MoEPolicy, config: IMCConfig, *,
                 init_actions: torch.Tensor | None = None) -> None:
        super().__init__(policy, config, init_actions=init_actions)
        # log p(z | o) per dataset row and timestep (R, T, Z), grown as rows are first drawn
        self.log_posterior = torch.zeros((0, policy.config.window, policy.config.num_experts),
                                         device=policy.device)

    def _rows(self, batch: Batch, size: int) -> torch.Tensor:
        """The batch's dataset rows (B,), the stored posterior grown to cover them."""
        if "index" not in batch:
            raise ValueError(
                "IMC needs each batch's dataset rows under 'index' (its curricula are per data "
                f"point), got a batch with keys {sorted(batch)}")
        rows = torch.as_tensor(batch["index"], dtype=torch.long, device=self.policy.device)
        if rows.shape != (size,) or (rows.numel() and int(rows.min()) < 0):
            raise ValueError(f"IMC needs batch['index'] to be {size} non-negative dataset rows, "
                             f"got {tuple(rows.shape)} values {rows[:5].tolist()}")
        missing = int(rows.max()) + 1 - self.log_posterior.shape[0] if rows.numel() else 0
        if missing > 0:  # rows never drawn: the uniform posterior (the authors' start)
            _, T, Z = self.log_posterior.shape
            fill = self.log_posterior.new_full((missing, T, Z), -math.log(Z))
            self.log_posterior = torch.cat([self.log_posterior, fill])
        return rows

    def update(self, batches: Sequence[Batch]) -> IMCStats:
        obs, actions = self.single_batch(batches)
        rows = self._rows(batches[0], obs.shape[0])
        self.policy.train()
        mix = self.policy(obs)
        log_w_BTZ = mix.log_weights  # gradient into the gating only
        Z = mix.num_experts
        if not self.config.fit_covariance:
            mix = GaussianMixture(log_w_BTZ, mix.means, mix.scale_tril.detach())
        log_n_NZ = mix.expert_log_prob(actions).reshape(-1, Z)
        log_w_NZ = log_w_BTZ.reshape(-1, Z)
        with torch.no_grad():
            log_lik = torch.logsumexp(log_n_NZ + log_w_NZ, dim=-1).mean()
            prior_NZ = self.log_posterior[rows].reshape(-1, Z)  # log p(z | o), previous visit
            joint_NZ = log_n_NZ / self.config.eta + prior_NZ  # R_z(o) / eta
            post_NZ = torch.log_softmax(joint_NZ, dim=-1)  # the new log p(z | o)
            self.log_posterior[rows] = post_NZ.reshape(rows.shape[0], -1, Z)
            log_c_NZ = joint_NZ - torch.logsumexp(joint_NZ, dim=0)  # log p(o | z) over the batch
            c_NZ = log_c_NZ.exp()
            entropy_Z = -(c_NZ * log_c_NZ).sum(0)
            target_NZ = post_NZ.exp()
            post_entropy = -(target_NZ * post_NZ).sum(-1).mean()
            if self.config.expert_weights == "curriculum":
                weight_NZ = c_NZ  # p(o | z): each expert's weights sum to 1 over the batch
            else:  # p(z | o) / max_z' p(z' | o) / N: every point's best expert weighs it 1
                best_NZ = post_NZ - post_NZ.max(-1, keepdim=True).values
                weight_NZ = best_NZ.exp() / best_NZ.shape[0]  # (mean over points, as EM's)
        expert_loss = -(weight_NZ * log_n_NZ).sum()
        gating_loss = self.gating_cross_entropy(target_NZ, log_w_NZ)
        self.step(expert_loss=expert_loss, gating_loss=gating_loss)
        lr = self.finish_iteration()
        return IMCStats(
            expert_loss=expert_loss.detach(),
            gating_loss=0.0 if gating_loss is None else gating_loss.detach(),
            log_likelihood=log_lik,
            gating_entropy=self.gating_entropy(log_w_BTZ.detach()),
            coverage=(entropy_Z.exp() / log_c_NZ.shape[0]).mean(),
            curriculum_entropy=entropy_Z.mean(),
            posterior_entropy=post_entropy,
            lr=lr,
        )

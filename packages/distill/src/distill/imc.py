"""IMC: Information Maximising Curriculum (Blessing et al., 2023), fitted to demonstrations.

Each expert z keeps a curriculum c_z(n), a distribution over the data points n of the batch;
it learns only from its curriculum and the curriculum moves to what the expert explains.
Per update, on one batch in normalised units, the N = B * T (observation window, action)
pairs of the batch are the data points (see "Normalisation" below):
- curricula, without gradient:
      log c_z(n) = ( log N_z(a_n | s_n) + eta * log q(z | s_n) ) / eta - log Z_z,
  Z_z normalising c_z over the N points (each expert's curriculum sums to 1);
- experts: one Adam step on the backbone and heads maximising
      sum_z sum_n c_z(n) log N_z(a_n | s_n);
- gating: one Adam step on the gating net minimising the soft cross-entropy
      mean_n -sum_z p(z | n) log q(z | s_n),   p(z | n) = c_z(n) / sum_z' c_z'(n)
  (the posterior over experts of a uniform prior p(z) and p(n | z) = c_z(n)).

eta > 0 is the curriculum's temperature; it sets how much of the data each expert must cover.
c_z(n) is proportional to q(z|s_n) N_z(a_n|s_n)^(1/eta): a Gaussian kernel around the
expert's mean with covariance eta * Sigma_z. Small eta: the curriculum sharpens onto the points
the expert already explains best and the expert settles on the nearest mode (mean shift with
a narrow kernel). Large eta: the curriculum flattens towards all points its gating sends it,
and the expert must cover (average over) several modes. Points no expert explains well
receive little weight from every curriculum: IMC may ignore data, while EM must explain it.

Covariance: with its optimal curriculum plugged in, expert z's objective is
eta * log sum_n q(z|s_n) exp(log N_z(a_n|s_n) / eta), which grows without bound as the expert
shrinks onto its nearest points. So by default (`fit_covariance=False`, as in the IMC baseline
of the VDD authors' code) the expert step detaches the Cholesky factors: the scale head is not
trained, only the means move, and a fresh policy keeps std `MoEConfig.init_std` (normalised
units), which with eta sets the kernel width sqrt(eta) * init_std. `fit_covariance=True` trains
them too: on an isolated Gaussian mode of std sigma the std then settles at
sigma * sqrt(1 - 1/eta) for eta > 1 and collapses towards `MoEConfig.min_std` for eta <= 1.

Normalisation: the curriculum is normalised over all B * T points of the batch together
(flattened), not per timestep: every (window, timestep) pair is one demonstration point (as in
the VDD authors' code), so an expert may concentrate on some timesteps of the window.

Shapes: B batch, T window, O obs, A action, Z experts, N = B * T points.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from distill.checks import check_positive_number
from distill.em import EMConfig
from distill.mixture import Batch, MixtureAlgorithm, MixtureStats
from moe import GaussianMixture

__all__ = ["IMCConfig", "IMCStats", "IMC"]


@dataclass(frozen=True)
class IMCConfig(EMConfig):
    """IMC settings: EM's (the same optimiser defaults as VDD) plus the curriculum's."""

    eta: float = 1.0  # curriculum temperature: larger = every expert covers more data
    fit_covariance: bool = False  # train the experts' covariances too (see module docstring)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive_number(type(self).__name__, eta=self.eta)
        if not isinstance(self.fit_covariance, bool):
            raise ValueError(
                f"IMCConfig.fit_covariance must be a bool, got {self.fit_covariance!r}"
            )


@dataclass(frozen=True)
class IMCStats(MixtureStats):
    """What one `update` did; likelihoods are of the batch *before* the step, normalised units.

    expert_loss: -sum_z sum_n c_z(n) log N_z(a_n|s_n); gating_loss: soft cross-entropy to
    p(z|n) (0 for a uniform gating).
    """

    log_likelihood: float  # mean log q(a|s) of the batch under the mixture
    gating_entropy: float  # mean entropy of q(z|s), nats
    coverage: float  # mean over experts of exp(H[c_z]) / N: the fraction of the batch covered
    curriculum_entropy: float  # mean over experts of H[c_z], nats (at most log N)
    lr: float


class IMC(MixtureAlgorithm):
    """`IMC(policy, config, *, init_actions=None)`: owns the optimisers; `update([batch])`
    recomputes the curricula and takes one step on experts and gating. Fit the policy's
    normalisers before constructing it."""

    CONFIG_CLS = IMCConfig

    def update(self, batches: Sequence[Batch]) -> IMCStats:
        obs, actions = self.single_batch(batches)
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
            log_c_NZ = log_n_NZ / self.config.eta + log_w_NZ
            log_c_NZ = log_c_NZ - torch.logsumexp(log_c_NZ, dim=0)  # each c_z sums to 1 over n
            c_NZ = log_c_NZ.exp()
            target_NZ = torch.softmax(log_c_NZ, dim=-1)  # p(z | n), uniform prior over z
            entropy_Z = -(c_NZ * log_c_NZ).sum(0)
        expert_loss = -(c_NZ * log_n_NZ).sum()
        gating_loss = self.gating_cross_entropy(target_NZ, log_w_NZ)
        self.step(expert_loss=expert_loss, gating_loss=gating_loss)
        lr = self.finish_iteration()
        return IMCStats(
            expert_loss=float(expert_loss.detach()),
            gating_loss=0.0 if gating_loss is None else float(gating_loss.detach()),
            log_likelihood=float(log_lik),
            gating_entropy=self.gating_entropy(log_w_BTZ.detach()),
            coverage=float((entropy_Z.exp() / log_c_NZ.shape[0]).mean()),
            curriculum_entropy=float(entropy_Z.mean()),
            lr=lr,
        )

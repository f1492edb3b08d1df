import math

import pytest
import torch
from torch import distributions as D

from moe import GaussianMixture

torch.manual_seed(0)


def random_mixture(lead=(3, 2), Z=4, A=3, diagonal=False) -> GaussianMixture:
    log_w = torch.log_softmax(torch.randn(*lead, Z), -1)
    means = 2 * torch.randn(*lead, Z, A)
    tril = torch.randn(*lead, Z, A, A).tril(-1) * (0.0 if diagonal else 0.5)
    tril = tril + torch.diag_embed(torch.rand(*lead, Z, A) + 0.3)
    return GaussianMixture(log_w, means, tril)


def reference(mix: GaussianMixture) -> D.MixtureSameFamily:
    comp = D.MultivariateNormal(mix.means, scale_tril=mix.scale_tril)
    return D.MixtureSameFamily(D.Categorical(logits=mix.log_weights), comp)


@pytest.mark.parametrize("diagonal", [False, True])
def test_log_prob_matches_torch_mixture(diagonal):
    mix = random_mixture(diagonal=diagonal)
    x = 2 * torch.randn(3, 2, 3)
    assert torch.allclose(mix.log_prob(x), reference(mix).log_prob(x), atol=1e-5)


def test_expert_log_prob_of_samples_matches_pointwise():
    mix = random_mixture(Z=3, A=2)
    a = mix.rsample_experts(5)  # (3, 2, Z, V, A)
    batched = mix.expert_log_prob(a)  # (3, 2, Z, V, Z')
    for z in range(3):
        for v in range(5):
            direct = mix.expert_log_prob(a[:, :, z, v])  # (3, 2, Z')
            assert torch.allclose(batched[:, :, z, v], direct, atol=1e-5)


def test_entropies_match_torch():
    mix = random_mixture()
    ref = D.MultivariateNormal(mix.means, scale_tril=mix.scale_tril).entropy()
    assert torch.allclose(mix.entropies(), ref, atol=1e-5)


def test_sample_moments_match_mixture():
    mix = random_mixture(lead=(1,), Z=3, A=2)
    big = GaussianMixture(mix.log_weights.expand(200_000, 3), mix.means.expand(200_000, 3, 2),
                          mix.scale_tril.expand(200_000, 3, 2, 2))
    x = big.sample(generator=torch.Generator().manual_seed(1))
    mean, cov = mix.mean()[0], mix.mixture_covariance()[0]
    assert torch.allclose(x.mean(0), mean, atol=0.03)
    emp_cov = torch.cov(x.T)
    assert torch.allclose(emp_cov, cov, atol=0.05 * cov.abs().max())
    ref = reference(mix)
    assert torch.allclose(mean, ref.mean[0], atol=1e-5)
    assert torch.allclose(torch.diagonal(cov), ref.variance[0], atol=1e-4)


def test_rsample_is_differentiable_and_responsibilities_normalised():
    mix = random_mixture()
    means = mix.means.clone().requires_grad_(True)
    a = GaussianMixture(mix.log_weights, means, mix.scale_tril).rsample_experts(4)
    a.sum().backward()
    assert means.grad is not None and torch.isfinite(means.grad).all()
    r = mix.responsibilities(torch.randn(3, 2, 3))
    assert torch.allclose(r.sum(-1), torch.ones(3, 2))


def test_shape_errors_are_clear():
    mix = random_mixture(A=3)
    with pytest.raises(ValueError, match="action dim is 3"):
        mix.log_prob(torch.randn(3, 2, 2))
    with pytest.raises(ValueError, match="shapes disagree"):
        GaussianMixture(torch.zeros(2, 4), torch.zeros(2, 3, 2), torch.zeros(2, 4, 2, 2))


def test_uniform_weights_give_log_z():
    mix = random_mixture()
    uni = GaussianMixture(torch.full_like(mix.log_weights, -math.log(4)), mix.means,
                          mix.scale_tril)
    assert torch.allclose(uni.weights.sum(-1), torch.ones(3, 2))

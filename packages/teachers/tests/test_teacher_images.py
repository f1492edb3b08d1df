"""Teachers on packed image observations (timm CNNs), and state-only outputs kept as they were."""

import json

import pytest
import torch

from moe import ImageObsEmbedding, pixel_dim
from state_reference import REFERENCE, reference_outputs
from teacher_helpers import TINY
from teachers import BESOConfig, BESOPolicy, DDPMConfig, DDPMPolicy, EncodedObs

S, A, H, K = 3, 2, 32, 2
O = S + pixel_dim(K, H)
IMAGE = dict(cameras=K, image_size=H, image_encoder="resnet10t")


def packed_obs(B: int, T: int, *, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    pixels = torch.randint(0, 256, (B, T, O - S), generator=g).float()
    return torch.cat([torch.randn(B, T, S, generator=g), pixels], dim=-1)


def test_state_only_outputs_match_the_saved_reference():
    """Samples and losses of fixed-seed state-only teachers, saved before image observations
    were added: cached teacher checkpoints rely on the same weights giving the same outputs."""
    saved = json.loads(REFERENCE.read_text())
    now = reference_outputs()
    assert sorted(now) == sorted(saved)
    for key, value in saved.items():
        torch.testing.assert_close(torch.tensor(now[key]), torch.tensor(value), rtol=1e-5,
                                   atol=1e-6, msg=key)


def test_state_only_network_keeps_its_keys():
    policy = BESOPolicy(BESOConfig(obs_dim=S, action_dim=A, **TINY))
    assert isinstance(policy.model.obs_embed, torch.nn.Linear)
    assert [k for k in policy.state_dict() if "obs_" in k] == [
        "obs_normalizer.mean", "obs_normalizer.std", "model.obs_embed.weight",
        "model.obs_embed.bias"]


@pytest.mark.parametrize("cls,cfg_cls,sampler", [(BESOPolicy, BESOConfig, "euler_ancestral"),
                                                  (DDPMPolicy, DDPMConfig, "ddpm")])
def test_image_teacher_trains_and_encodes_once_per_sample(cls, cfg_cls, sampler):
    pytest.importorskip("timm")
    torch.manual_seed(0)
    config = cfg_cls(obs_dim=O, action_dim=A, window=2, **TINY, **IMAGE)
    assert config.state_dim == S
    policy = cls(config)
    assert isinstance(policy.model.obs_embed, ImageObsEmbedding)
    policy.fit_normalizers(packed_obs(16, 2, seed=1), torch.randn(16, 2, A))
    assert policy.obs_normalizer.mean.shape == (S,)

    loss, stats = policy.compute_loss({"obs": packed_obs(4, 2), "actions": torch.randn(4, 2, A)})
    loss.backward()
    cnn = next(policy.model.obs_embed.encoders[0].parameters())
    assert torch.isfinite(loss) and cnn.grad is not None and cnn.grad.abs().sum() > 0

    calls = []
    policy.model.obs_embed.register_forward_hook(lambda *args: calls.append(1))
    actions = policy.sample_actions(packed_obs(3, 2), num_steps=4, sampler=sampler,
                                    generator=torch.Generator().manual_seed(0))
    assert actions.shape == (3, A) and torch.isfinite(actions).all()
    assert len(calls) == 1  # one observation encoding for all 4 denoising steps


def test_encoded_obs_gives_the_same_denoiser_output():
    torch.manual_seed(0)
    policy = BESOPolicy(BESOConfig(obs_dim=S, action_dim=A, window=2, **TINY)).eval()
    obs, x = torch.randn(5, 2, S), torch.randn(5, 2, A)
    sigma = torch.full((5,), 0.3)
    encoded = policy.model.encode_obs(obs)
    assert isinstance(encoded, EncodedObs) and encoded.shape == (5, 2, TINY["n_embd"])
    with torch.no_grad():
        assert torch.equal(policy.denoise(x, sigma, encoded), policy.denoise(x, sigma, obs))


def test_image_fields_are_validated_and_saved(tmp_path):
    with pytest.raises(ValueError, match="DDPMConfig.obs_dim=10 must exceed"):
        DDPMConfig(obs_dim=10, action_dim=A, cameras=1, image_size=2)
    with pytest.raises(ValueError, match="BESOConfig.shared_encoder must be a bool, got 1"):
        BESOConfig(obs_dim=O, action_dim=A, shared_encoder=1, **IMAGE)
    old = BESOConfig(obs_dim=S, action_dim=A).to_dict()
    for key in ("cameras", "image_size", "image_encoder", "shared_encoder", "image_pool"):
        old.pop(key)  # a config saved before image observations
    assert BESOConfig.from_dict(old) == BESOConfig(obs_dim=S, action_dim=A)


@pytest.mark.parametrize("cameras", [0, K])
def test_grouped_score_equals_the_score_of_repeated_observations(cameras):
    """VDD asks for the score of Z*V samples per state: an image teacher encodes each state
    once (`score_grouped`), with the same result as scoring G copies of every observation."""
    from teachers import BESOScore, DDPMScore

    torch.manual_seed(0)
    image = IMAGE if cameras else {}
    obs_dim = O if cameras else S
    obs = packed_obs(3, 2) if cameras else torch.randn(3, 2, S)
    actions = torch.randn(3 * 4, 2, A)
    for cls, cfg_cls, adapter in ((BESOPolicy, BESOConfig, BESOScore),
                                  (DDPMPolicy, DDPMConfig, DDPMScore)):
        policy = cls(cfg_cls(obs_dim=obs_dim, action_dim=A, window=2, **TINY, **image)).eval()
        calls = []
        policy.model.obs_embed.register_forward_hook(lambda *args: calls.append(1))
        grouped = adapter(policy, generator=torch.Generator().manual_seed(1)).score_grouped(
            actions, obs)
        assert len(calls) == 1
        plain = adapter(policy, generator=torch.Generator().manual_seed(1)).score(
            actions, obs.repeat_interleave(4, dim=0))
        torch.testing.assert_close(grouped, plain, rtol=1e-4, atol=1e-4)
        with pytest.raises(ValueError, match="multiple of 3 action rows"):
            adapter(policy).score_grouped(actions[:5], obs)

"""Students of image teachers: CD/CTM carry the image fields and encode once per sample; a
frozen MoE image encoder stays frozen under the MoE algorithms' optimisers."""

import pytest
import torch

from distill import CD, EM, CDConfig, ConsistencyConfig, ConsistencyPolicy, EMConfig
from distill.optim import prepare_mixture
from moe import MoEConfig, MoEPolicy, pixel_dim
from teachers import BESOConfig, BESOPolicy

pytest.importorskip("timm")

S, A, H, K = 3, 2, 32, 2
O = S + pixel_dim(K, H)
ARCH = dict(obs_dim=O, action_dim=A, window=2, n_layer=1, n_head=2, n_embd=32, cameras=K,
            image_size=H, image_encoder="resnet10t")


def packed_obs(B: int, T: int, *, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    pixels = torch.randint(0, 256, (B, T, O - S), generator=g).float()
    return torch.cat([torch.randn(B, T, S, generator=g), pixels], dim=-1)


def count_calls(module: torch.nn.Module) -> list:
    calls: list = []
    module.register_forward_hook(lambda *args: calls.append(1))
    return calls


def test_consistency_student_of_an_image_teacher():
    torch.manual_seed(0)
    teacher = BESOPolicy(BESOConfig(**ARCH)).eval()
    teacher.fit_normalizers(packed_obs(16, 2, seed=1), torch.randn(16, 2, A))
    config = ConsistencyConfig.from_teacher(teacher.config, parameterization="cm")
    assert (config.cameras, config.image_encoder, config.state_dim) == (K, "resnet10t", S)
    student = ConsistencyPolicy(config)
    algo = CD(student, teacher, CDConfig(batch_size=4, num_levels=6))
    teacher_cnn = next(teacher.model.obs_embed.encoders[0].parameters())
    assert torch.equal(next(student.model.obs_embed.encoders[0].parameters()), teacher_cnn)

    teacher_calls = count_calls(teacher.model.obs_embed)
    stats = algo.update([{"obs": packed_obs(4, 2), "actions": torch.randn(4, 2, A)}])
    assert torch.isfinite(torch.as_tensor(stats.loss))
    assert len(teacher_calls) == 1  # one encoding for all Heun steps of the teacher ODE

    student_calls = count_calls(student.model.obs_embed)
    actions = student.sample_actions(packed_obs(3, 2), num_steps=3)
    assert actions.shape == (3, A) and len(student_calls) == 1


def test_frozen_image_encoder_stays_frozen_under_em():
    torch.manual_seed(0)
    policy = MoEPolicy(MoEConfig(**ARCH, num_experts=2))
    obs, actions = packed_obs(8, 2, seed=2), torch.randn(8, 2, A)
    policy.fit_normalizers(obs, actions)
    policy.freeze_image_encoder()
    encoders = policy.obs_embed.encoders
    before = {k: v.clone() for k, v in encoders.state_dict().items()}
    config = EMConfig(batch_size=8, expert_init="random")
    expert_opt, _, _ = prepare_mixture(policy, config, init_actions=None)
    held = {id(p) for group in expert_opt.param_groups for p in group["params"]}
    assert held and not any(id(p) in held for p in encoders.parameters())
    algo = EM(policy, config)
    for _ in range(2):
        algo.update([{"obs": obs, "actions": actions}])
    after = encoders.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # weights and BN statistics

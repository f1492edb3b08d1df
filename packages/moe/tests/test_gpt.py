import pytest
import torch

from moe import GPT, GPTConfig


def test_causal_later_tokens_do_not_change_earlier_features():
    torch.manual_seed(0)
    gpt = GPT(GPTConfig(n_layer=2, n_head=2, n_embd=16, block_size=5)).eval()
    x = torch.randn(2, 5, 16)
    y = x.clone()
    y[:, 3:] = torch.randn(2, 2, 16)
    fx, fy = gpt(x), gpt(y)
    assert torch.allclose(fx[:, :3], fy[:, :3], atol=1e-6)
    assert not torch.allclose(fx[:, 3:], fy[:, 3:])


def test_too_long_sequence_and_bad_config_raise():
    gpt = GPT(GPTConfig(n_layer=1, n_head=1, n_embd=8, block_size=2))
    with pytest.raises(ValueError, match="block_size=2"):
        gpt(torch.zeros(1, 3, 8))
    with pytest.raises(ValueError, match="divisible"):
        GPTConfig(n_embd=10, n_head=4)
    with pytest.raises(ValueError, match="n_layer"):
        GPTConfig(n_layer=0)

"""Image observations: the timm encoders, the pass-through Normalizer and the MoE on packed
observations. Tiny sizes (32x32 images, resnet10t, 32-d) keep this file a few seconds long."""

import sys

import numpy as np
import pytest
import torch
from torch import nn

from moe import (
    ImageObsEmbedding, MoEConfig, MoEPolicy, Normalizer, SpatialSoftmax, make_obs_embedding,
    pack_image_obs, pixel_dim,
)

pytest.importorskip("timm")

S, A, H, K = 4, 2, 32, 2  # state dim, action dim, image size, cameras
O = S + pixel_dim(K, H)
IMAGE = dict(cameras=K, image_size=H, image_encoder="resnet10t")


@pytest.fixture(autouse=True)
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def packed_obs(B: int, T: int, *, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    state = torch.randn(B, T, S, generator=g) * 3 + 1
    pixels = torch.randint(0, 256, (B, T, O - S), generator=g).float()
    return torch.cat([state, pixels], dim=-1)


def embedding(**kw) -> ImageObsEmbedding:
    torch.manual_seed(0)
    return make_obs_embedding(**{"obs_dim": O, "n_embd": 32, **IMAGE, **kw})


def first_conv(encoder: nn.Module) -> nn.Parameter:
    """The CNN's first layer's weight (the furthest from the loss)."""
    return next(encoder.cnn.parameters())


def image_policy(**kw) -> MoEPolicy:
    torch.manual_seed(0)
    cfg = dict(obs_dim=O, action_dim=A, window=2, num_experts=3, n_layer=1, n_head=2,
               n_embd=32, **IMAGE)
    policy = MoEPolicy(MoEConfig(**{**cfg, **kw}))
    policy.fit_normalizers(packed_obs(16, 2, seed=1), torch.randn(16, 2, A))
    return policy


# ---------------------------------------------------------------------- the embedding
def test_state_only_embedding_is_the_plain_linear():
    emb = make_obs_embedding(obs_dim=5, n_embd=8)
    assert type(emb) is nn.Linear and (emb.in_features, emb.out_features) == (5, 8)


def test_state_only_moe_keeps_its_state_dict_keys():
    # head_layers=0: the architecture of checkpoints saved before the MLP heads, which load so
    policy = MoEPolicy(MoEConfig(obs_dim=3, action_dim=2, n_layer=1, n_head=2, n_embd=32,
                                 num_experts=3, head_layers=0))
    keys = list(policy.state_dict())
    assert [k for k in keys if k.startswith(("obs_embed", "obs_normalizer"))] == [
        "obs_normalizer.mean", "obs_normalizer.std", "obs_embed.weight", "obs_embed.bias"]
    assert len(keys) == 33 and policy.obs_normalizer.mean.shape == (3,)


@pytest.mark.parametrize("shared,pool", [(False, "avg"), (True, "avg"),
                                         (False, "spatial_softmax")])
def test_embedding_shapes(shared, pool):
    emb = embedding(shared_encoder=shared, image_pool=pool)
    assert len(emb.encoders) == (1 if shared else K)
    assert emb(packed_obs(3, 2)).shape == (3, 2, 32)


def test_shared_encoder_batches_cameras_like_separate_calls():
    emb = embedding(shared_encoder=True).eval()
    obs = packed_obs(2, 3)
    state, images = emb.split(obs)
    assert torch.equal(state, obs[..., :S])
    feats = emb.camera_features(images)
    for k in range(K):  # camera k's features come from camera k's pixels, in order
        one = emb.encoders[0](images[:, :, k].reshape(6, 3, H, H)).reshape(2, 3, -1)
        width = one.shape[-1]
        torch.testing.assert_close(feats[..., k * width:(k + 1) * width], one)


def test_shared_encoder_has_one_cnn_of_parameters():
    per_camera, shared = embedding(), embedding(shared_encoder=True)
    n = lambda params: sum(p.numel() for p in params)  # noqa: E731
    assert n(per_camera.encoder_parameters()) == K * n(shared.encoder_parameters())
    assert n(per_camera.encoder_parameters()) > 1e6  # resnet10t, without a classifier


def test_gradients_reach_the_cnns():
    emb = embedding()
    emb(packed_obs(2, 2)).pow(2).mean().backward()
    for enc in emb.encoders:
        assert first_conv(enc).grad is not None and first_conv(enc).grad.abs().sum() > 0


def test_pixels_are_scaled_and_the_state_matters():
    emb = embedding().eval()
    obs = packed_obs(2, 1)
    with torch.no_grad():
        out = emb(obs)
        moved_state = obs.clone()
        moved_state[..., :S] += 1
        moved_pixels = obs.clone()
        moved_pixels[..., S:] = 255 - moved_pixels[..., S:]
        assert not torch.allclose(emb(moved_state), out)
        assert not torch.allclose(emb(moved_pixels), out)


def test_pack_image_obs_is_the_inverse_of_split():
    rng = np.random.default_rng(0)
    cams = ("overview", "in_hand")
    obs = {"state": rng.normal(size=(3, S)),
           "images": {c: rng.integers(0, 256, (3, H, H, 3), dtype=np.uint8) for c in cams}}
    packed = pack_image_obs(obs, cameras=cams)
    assert packed.shape == (3, O) and packed.dtype == np.float32
    state, images = embedding().split(torch.from_numpy(packed)[:, None])  # (B, 1, ...)
    np.testing.assert_array_equal(state[:, 0].numpy(), obs["state"].astype(np.float32))
    for k, c in enumerate(cams):  # channels first, in the given camera order, unscaled
        np.testing.assert_array_equal(images[:, 0, k].numpy(),
                                      obs["images"][c].transpose(0, 3, 1, 2))
    single = {"state": obs["state"][0], "images": {c: v[0] for c, v in obs["images"].items()}}
    np.testing.assert_array_equal(pack_image_obs(single, cameras=cams), packed[0])
    swapped = pack_image_obs(obs, cameras=cams[::-1])
    assert not np.array_equal(swapped, packed)
    with pytest.raises(ValueError, match="in_hand"):
        pack_image_obs({"state": obs["state"], "images": {"overview": obs["images"]["overview"]}},
                       cameras=cams)
    with pytest.raises(ValueError, match="'state'"):
        pack_image_obs({"images": obs["images"]}, cameras=cams)


def test_spatial_softmax_finds_a_peak_and_stays_in_range():
    pool = SpatialSoftmax(in_channels=1, num_keypoints=1)
    nn.init.constant_(pool.conv.weight, 1.0)
    nn.init.zeros_(pool.conv.bias)
    feat = torch.zeros(1, 1, 5, 7)
    feat[0, 0, 0, 6] = 100.0  # top row, right column
    x, y = pool(feat)[0].tolist()
    assert x == pytest.approx(1.0, abs=1e-4) and y == pytest.approx(-1.0, abs=1e-4)
    out = SpatialSoftmax(in_channels=8, num_keypoints=4)(torch.randn(6, 8, 3, 4) * 10)
    assert out.shape == (6, 8) and out.abs().max() <= 1.0


def test_freezing_stops_gradients_and_batchnorm_updates():
    policy = image_policy()
    policy.freeze_image_encoder()
    policy.train()
    enc = policy.obs_embed.encoders
    before = {k: v.clone() for k, v in enc.state_dict().items()}
    trainable = {id(p) for p in policy.expert_parameters()}
    assert not any(id(p) in trainable for p in enc.parameters())
    assert not enc.training and policy.obs_embed.fuse.training
    opt = torch.optim.Adam(policy.parameters(), lr=1e-2)  # even with every parameter in it
    fuse = policy.obs_embed.fuse.weight.clone()
    for _ in range(2):  # the heads start at zero weights: features get gradients from step 2
        opt.zero_grad()
        loss, _ = policy.compute_loss({"obs": packed_obs(4, 2), "actions": torch.randn(4, 2, A)})
        loss.backward()
        assert all(p.grad is None for p in enc.parameters())
        opt.step()
    after = enc.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # weights and BN statistics
    assert not torch.equal(fuse, policy.obs_embed.fuse.weight)  # the rest still learns


def test_load_encoders_from_another_embedding():
    a, b = embedding(), embedding()
    for p in b.parameters():
        nn.init.normal_(p)
    a.load_encoders_from(b)
    assert all(torch.equal(x, y) for x, y in zip(a.encoders.state_dict().values(),
                                                 b.encoders.state_dict().values()))
    assert not torch.equal(a.fuse.weight, b.fuse.weight)  # only the CNNs are copied
    with pytest.raises(ValueError, match="image_pool"):
        a.load_encoders_from(embedding(image_pool="spatial_softmax"))
    with pytest.raises(ValueError, match="shared_encoder"):
        a.load_encoders_from(embedding(shared_encoder=True))
    with pytest.raises(TypeError, match="ImageObsEmbedding"):
        a.load_encoders_from(nn.Linear(O, 32))


def test_missing_timm_gives_a_one_line_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)  # makes `import timm` fail
    with pytest.raises(ImportError) as err:
        embedding()
    assert str(err.value) == 'image observations need timm: pip install "vdd-moe[image]"'
    make_obs_embedding(obs_dim=3, n_embd=8)  # state observations never need timm


# ---------------------------------------------------------------------- the Normalizer
class LazyWindows:
    """Like a lazy image dataset: answers only `[..., :k]` and refuses to be materialised."""

    def __init__(self, data: np.ndarray) -> None:
        self.data, self.shape, self.keys = data, data.shape, []

    def __getitem__(self, key):
        self.keys.append(key)
        assert key[0] is Ellipsis and key[1].stop <= S
        return self.data[key]

    def __array__(self, *args, **kwargs):
        raise AssertionError("the pixels were materialised")


def test_normalizer_passthrough():
    data = packed_obs(50, 2).numpy()
    norm = Normalizer(S, passthrough=O - S)
    lazy = LazyWindows(data)
    norm.fit(lazy)
    assert lazy.keys == [(Ellipsis, slice(None, S))]
    assert norm.mean.shape == (S,) and norm.state_dict()["std"].shape == (S,)
    x = torch.as_tensor(data)
    out = norm.normalize(x)
    assert torch.equal(out[..., S:], x[..., S:])  # pixels unchanged
    torch.testing.assert_close(out[..., :S].reshape(-1, S).mean(0), torch.zeros(S),
                               atol=1e-5, rtol=0)
    torch.testing.assert_close(norm.unnormalize(out), x)
    assert norm.normalize(x[..., :S]).shape == (50, 2, S)  # the state alone works too
    norm2 = Normalizer(S, passthrough=O - S).fit(data[..., :S])  # state-only data
    torch.testing.assert_close(norm2.mean, norm.mean)
    with pytest.raises(ValueError, match=f"last dim {S} or {O}, got 7"):
        norm.fit(np.zeros((3, 7)))


# ---------------------------------------------------------------------- the policy
def test_config_validates_the_image_fields():
    with pytest.raises(ValueError, match="obs_dim=6144 must exceed"):
        MoEConfig(obs_dim=pixel_dim(2, 32), action_dim=2, cameras=2, image_size=32)
    with pytest.raises(ValueError, match="image_pool must be one of .* got 'max'"):
        MoEConfig(obs_dim=O, action_dim=2, image_pool="max", **IMAGE)
    with pytest.raises(ValueError, match="cameras must be an int >= 0, got -1"):
        MoEConfig(obs_dim=O, action_dim=2, cameras=-1)
    assert MoEConfig(obs_dim=O, action_dim=2, **IMAGE).state_dim == S
    old = {"obs_dim": 3, "action_dim": 2}  # a config saved before image observations
    assert MoEConfig.from_dict(old).cameras == 0


def test_image_policy_learns_acts_and_round_trips(tmp_path):
    policy = image_policy()
    assert policy.obs_normalizer.mean.shape == (S,)
    batch = {"obs": packed_obs(4, 2), "actions": torch.randn(4, 2, A)}
    loss, stats = policy.compute_loss(batch)
    loss.backward()
    assert np.isfinite(stats["nll"])
    assert first_conv(policy.obs_embed.encoders[0]).grad is not None

    policy.eval()
    policy.reset()
    step = packed_obs(1, 1, seed=3)[0, 0].numpy()
    action = policy.act(step)
    assert isinstance(action, np.ndarray) and action.shape == (A,)
    assert policy.act(step).shape == (A,)  # the window fills up: (1, 2, O)

    policy.save(tmp_path / "ckpt")
    loaded = MoEPolicy.load(tmp_path / "ckpt")
    assert loaded.config == policy.config
    obs, actions = packed_obs(3, 2, seed=4), torch.randn(3, 2, A)
    with torch.no_grad():
        torch.testing.assert_close(loaded.log_prob(obs, actions), policy.log_prob(obs, actions),
                                   rtol=0, atol=0)


def test_policy_encoder_sharing_needs_cameras():
    student = image_policy()
    teacher_embed = embedding()
    student.load_image_encoder_from(teacher_embed)
    assert torch.equal(first_conv(student.obs_embed.encoders[1]),
                       first_conv(teacher_embed.encoders[1]))
    state_only = MoEPolicy(MoEConfig(obs_dim=3, action_dim=2, n_layer=1, n_head=2, n_embd=16))
    with pytest.raises(ValueError, match="state observations only"):
        state_only.freeze_image_encoder()

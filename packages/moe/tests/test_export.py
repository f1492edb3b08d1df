"""ONNX export (`MoEPolicy.export_onnx`) and the torch-free runtime (`moe_runtime`).

Exported and eager actions must agree to 1e-5 for the same uniform draws: state and image
policies, full and diagonal covariance, window 1 and 5; the file must run in a process that
never imported torch or our packages. Tiny sizes keep the file a few seconds long.
Needs the `export` extra (onnx, onnxruntime); scripts/setup.sh installs it.
"""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from moe import MoEConfig, MoEPolicy, pixel_dim
from moe.mixture import experts_from_uniform

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from moe.export import FORMAT, OPSET  # noqa: E402
from moe.export import main as export_main  # noqa: E402
from moe_runtime import FORMAT as RUNTIME_FORMAT  # noqa: E402
from moe_runtime import DEFAULT_THREADS, OnnxPolicy, default_providers  # noqa: E402

S, A, Z = 3, 2, 5  # state dim, action dim, experts
RUNTIME_FILE = Path(importlib.util.find_spec("moe_runtime").origin)


@pytest.fixture(autouse=True)
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def random_policy(*, window: int, covariance: str = "full", cameras: int = 0, **kw) -> MoEPolicy:
    """A policy moved away from its initialisation (zero mean-head and gating weights), so that
    means and gating depend on the observation, with fitted normalisers; eval mode."""
    torch.manual_seed(0)
    image = dict(cameras=cameras, image_size=32, image_encoder="lcnet_050") if cameras else {}
    obs_dim = S + pixel_dim(cameras, image.get("image_size", 0))
    policy = MoEPolicy(MoEConfig(obs_dim=obs_dim, action_dim=A, window=window, num_experts=Z,
                                 n_layer=1, n_head=2, n_embd=16, covariance=covariance,
                                 head_hidden=16, **image, **kw))
    with torch.no_grad():
        for name, p in policy.named_parameters():
            if name.startswith("gating.out"):  # gating logits of order 1: several experts
                p.add_(0.05 * torch.randn_like(p))
            elif name.startswith("experts.") and not name.endswith(("_head.out.weight",
                                                                   "_head.out.bias")):
                p.add_(0.1 * torch.randn_like(p))  # the heads' hidden layers: actions of order 1-10
            elif not name.startswith("gating") and "encoders" not in name:
                p.add_(0.5 * torch.randn_like(p))
    obs = observations(64, window, obs_dim, seed=1)
    policy.fit_normalizers(obs, np.random.default_rng(1).normal(-1.0, 0.5, (64, window, A)))
    return policy.eval()


def observations(B: int, T: int, obs_dim: int, *, seed: int = 0) -> np.ndarray:
    """Raw windows (B, T, O): states around 2 +- 3, pixels 0..255 after the state."""
    rng = np.random.default_rng(seed)
    state = rng.normal(2.0, 3.0, (B, T, S))
    pixels = rng.integers(0, 256, (B, T, obs_dim - S))
    return np.concatenate([state, pixels], axis=-1).astype(np.float32)


def uniforms(B: int, *, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random(B, dtype=np.float32)


def check_agreement(policy: MoEPolicy, path: Path, *, B: int, T: int, greedy: bool = False):
    """Eager `sample_actions` and the file give the same actions (1e-5) for the same draws."""
    obs, u = observations(B, T, policy.config.obs_dim), uniforms(B)
    eager = policy.sample_actions(obs, greedy=greedy, u=None if greedy else u).numpy()
    exported = OnnxPolicy(path).sample_actions(obs, u=u)
    assert exported.shape == (B, A) and exported.dtype == np.float32
    np.testing.assert_allclose(exported, eager, atol=1e-5, rtol=0)
    return obs, u, eager


@pytest.mark.parametrize("window", [1, 5])
@pytest.mark.parametrize("covariance", ["full", "diagonal"])
def test_state_policy_file_matches_eager(tmp_path, covariance, window):
    policy = random_policy(window=window, covariance=covariance)
    path = policy.export_onnx(tmp_path / "policy.onnx")
    obs, u, _ = check_agreement(policy, path, B=64, T=window)
    # the draws did exercise the gating: several experts were chosen
    log_w = policy.mixture(obs).log_weights[:, -1]
    assert len(set(experts_from_uniform(log_w, torch.as_tensor(u)).tolist())) >= 3
    if window > 1:  # a shorter window (start of an episode, before padding) works too
        check_agreement(policy, path, B=8, T=2)


@pytest.mark.parametrize("gating,greedy", [("learned", True), ("uniform", False),
                                           ("uniform", True)])
def test_greedy_files_and_uniform_gating_match_eager(tmp_path, gating, greedy):
    policy = random_policy(window=2, gating=gating)
    path = policy.export_onnx(tmp_path / "policy.onnx", greedy=greedy)
    assert [i.name for i in ort.InferenceSession(str(path)).get_inputs()] == (
        ["obs"] if greedy else ["obs", "u"])
    check_agreement(policy, path, B=32, T=2, greedy=greedy)


@pytest.mark.parametrize("greedy", [False, True])
def test_a_fixed_batch_file_matches_eager_and_checks_its_shape(tmp_path, greedy):
    policy = random_policy(window=5)
    path = policy.export_onnx(tmp_path / "b1.onnx", batch=1, greedy=greedy)
    session = ort.InferenceSession(str(path))
    assert session.get_inputs()[0].shape == [1, 5, S]  # every shape a constant
    runtime = OnnxPolicy(path)
    assert runtime.batch == 1
    obs, u = observations(1, 5, S), uniforms(1)
    np.testing.assert_allclose(runtime.sample_actions(obs, u=u),
                               policy.sample_actions(obs, greedy=greedy,
                                                     u=None if greedy else u).numpy(), atol=1e-5)
    policy.reset()
    steps = observations(7, 1, S, seed=5)[:, 0]
    for t in range(7):  # act pads the start of the episode to a full window
        np.testing.assert_allclose(runtime.act(steps[t], u=0.25 + 0.1 * t),
                                   policy.act(steps[t], greedy=greedy,
                                              u=None if greedy else 0.25 + 0.1 * t), atol=1e-5)
    with pytest.raises(ValueError, match=r"\(1, 5, 3\) \(a fixed-batch file\)"):
        runtime.sample_actions(observations(2, 5, S))
    with pytest.raises(ValueError, match="batch must be None or a positive int"):
        policy.export_onnx(tmp_path / "bad.onnx", batch=0)


def test_motion_embedding_policy_matches_eager(tmp_path):
    policy = random_policy(window=4, obs_motion=True)
    check_agreement(policy, policy.export_onnx(tmp_path / "p.onnx"), B=16, T=4)


@pytest.mark.parametrize("window,covariance", [(1, "full"), (1, "diagonal"), (5, "full"),
                                               (5, "diagonal")])
def test_image_policy_file_matches_eager(tmp_path, window, covariance):
    pytest.importorskip("timm")
    policy = random_policy(window=window, covariance=covariance, cameras=2)
    path = policy.export_onnx(tmp_path / "policy.onnx")
    check_agreement(policy, path, B=3, T=window)


def test_export_keeps_the_training_mode(tmp_path):
    policy = random_policy(window=1).train()
    policy.export_onnx(tmp_path / "p.onnx")
    assert policy.training


def test_file_runs_in_a_process_without_torch_or_our_packages(tmp_path):
    """Plain onnxruntime, then moe_runtime copied as a single file: the same actions as eager
    `sample_actions` and `act`; torch and our packages never imported."""
    policy = random_policy(window=3)
    path = policy.export_onnx(tmp_path / "policy.onnx")
    obs, u = observations(6, 3, S), uniforms(6)
    steps = observations(5, 4, S, seed=2)  # 5 control steps of a batch of 4
    step_u = uniforms(20, seed=3).reshape(5, 4)
    policy.reset()
    acted = np.stack([policy.act(steps[t], u=step_u[t]) for t in range(5)])
    np.savez(tmp_path / "case.npz", obs=obs, u=u, steps=steps, step_u=step_u, acted=acted,
             expected=policy.sample_actions(obs, u=u).numpy())
    (tmp_path / "copied_runtime.py").write_text(RUNTIME_FILE.read_text())
    script = f"""
import sys
import numpy as np
import onnxruntime as ort
sys.path.insert(0, {str(tmp_path)!r})
import copied_runtime
case = np.load({str(tmp_path / "case.npz")!r})
sess = ort.InferenceSession({str(path)!r}, providers=["CPUExecutionProvider"])
plain = sess.run(["action"], {{"obs": case["obs"], "u": case["u"]}})[0]
assert np.abs(plain - case["expected"]).max() < 1e-5, np.abs(plain - case["expected"]).max()
policy = copied_runtime.OnnxPolicy({str(path)!r})
assert np.abs(policy.sample_actions(case["obs"], u=case["u"]) - case["expected"]).max() < 1e-5
acted = np.stack([policy.act(case["steps"][t], u=case["step_u"][t]) for t in range(5)])
assert np.abs(acted - case["acted"]).max() < 1e-5, np.abs(acted - case["acted"]).max()
ours = ("torch", "moe", "moe_runtime", "teachers", "distill", "envs", "bench")
print("imported:", sorted(m for m in sys.modules if m.split(".")[0] in ours))
"""
    out = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "imported: []"


def test_runtime_act_keeps_the_window_like_eager_act(tmp_path):
    policy = random_policy(window=3)
    runtime = OnnxPolicy(policy.export_onnx(tmp_path / "p.onnx"))
    steps, step_u = observations(6, 2, S), uniforms(12, seed=4).reshape(6, 2)
    for _ in range(2):  # a second episode after reset starts from a fresh window
        policy.reset()
        runtime.reset()
        for t in range(6):
            np.testing.assert_allclose(runtime.act(steps[t], u=step_u[t]),
                                       policy.act(steps[t], u=step_u[t]), atol=1e-5)
    runtime.reset()
    assert runtime.act(steps[0, 0], u=0.3).shape == (A,)
    with pytest.raises(ValueError, match="call reset"):
        runtime.act(steps[0])  # a batch of 2 after single observations
    runtime.reset()
    with pytest.raises(ValueError, match="act expects"):
        runtime.act(np.zeros((2, S + 1)))
    with pytest.raises(ValueError, match="observations must be shaped"):
        runtime.sample_actions(np.zeros((1, 4, S)))  # longer than the window
    with pytest.raises(ValueError, match="u must be shaped"):
        runtime.sample_actions(np.zeros((2, 3, S)), u=[0.5])


def test_runtime_draws_reproducibly_from_its_seed(tmp_path):
    path = random_policy(window=1).export_onnx(tmp_path / "p.onnx")
    obs = np.repeat(observations(1, 1, S), 200, axis=0)
    a, b = (OnnxPolicy(path, seed=7).sample_actions(obs) for _ in range(2))
    np.testing.assert_array_equal(a, b)
    assert len(np.unique(a.round(5), axis=0)) >= 3  # several experts drawn for one state


def test_file_metadata_opset_and_validity(tmp_path):
    policy = random_policy(window=5)
    path = policy.export_onnx(tmp_path / "policy.onnx")
    model = onnx.load(str(path))
    onnx.checker.check_model(model)  # the appended metadata leaves a valid model
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [OPSET]
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["moe.format"] == FORMAT == RUNTIME_FORMAT and meta["moe.greedy"] == "false"
    assert meta["moe.batch"] == "any"
    assert (meta["moe.window"], meta["moe.obs_dim"], meta["moe.action_dim"]) == ("5", "3", "2")
    assert json.loads(meta["moe.config"])["num_experts"] == Z
    runtime = OnnxPolicy(path)
    assert (runtime.window, runtime.obs_dim, runtime.action_dim, runtime.greedy,
            runtime.batch) == (5, S, A, False, None)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_runtime_refuses_a_file_that_is_not_an_exported_moe(tmp_path):
    with torch.no_grad():
        torch.onnx.export(torch.nn.Linear(3, 2), (torch.zeros(1, 3),), str(tmp_path / "x.onnx"),
                          dynamo=False, input_names=["obs"], output_names=["action"])
    with pytest.raises(ValueError, match="not an exported MoE policy"):
        OnnxPolicy(tmp_path / "x.onnx")


def test_providers_and_threads(tmp_path):
    providers = default_providers()
    assert providers[-1] == "CPUExecutionProvider"
    assert ("CUDAExecutionProvider" in providers) == (
        "CUDAExecutionProvider" in ort.get_available_providers())
    assert providers[0] == ("CUDAExecutionProvider" if len(providers) == 2
                            else "CPUExecutionProvider")
    path = random_policy(window=1).export_onnx(tmp_path / "p.onnx")
    runtime = OnnxPolicy(path, providers=["CPUExecutionProvider"], threads=2)
    assert runtime.providers == ["CPUExecutionProvider"]
    assert DEFAULT_THREADS == 1
    with pytest.raises(ValueError, match="threads"):
        OnnxPolicy(path, threads=0)


def test_export_command_line(tmp_path, capsys):
    policy = random_policy(window=2)
    policy.save(tmp_path / "ckpt")
    export_main([str(tmp_path / "ckpt"), str(tmp_path / "out" / "greedy.onnx"), "--greedy"])
    assert "obs (B, 2, 3) -> action (B, 2)" in capsys.readouterr().out
    check_agreement(policy, tmp_path / "out" / "greedy.onnx", B=8, T=2, greedy=True)


def test_missing_onnx_names_the_extra(tmp_path, monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "onnx" else find_spec(name, *a))
    with pytest.raises(ImportError, match=r'pip install "vdd-moe\[export\]"'):
        random_policy(window=1).export_onnx(tmp_path / "p.onnx")

"""Use a MoE policy on its own: fit it to demonstrations, save and load it, drive a robot.

The "robot" here is a point in the plane that moves by the commanded action; the
demonstrations go to one of two goals, so the action distribution is bimodal.
Run: python examples/control_loop.py
"""

import tempfile

import numpy as np
import torch

from moe import MoEConfig, MoEPolicy


def demonstrations(n_episodes: int = 200, steps: int = 20, seed: int = 0):
    rng = np.random.default_rng(seed)
    goals = np.array([[1.0, 1.0], [-1.0, 1.0]])
    obs, actions = [], []
    for _ in range(n_episodes):
        pos, goal = np.zeros(2), goals[rng.integers(2)]
        for _ in range(steps):
            a = 0.2 * (goal - pos) + 0.01 * rng.normal(size=2)
            obs.append(pos.copy())
            actions.append(a)
            pos = pos + a
    return np.array(obs, np.float32), np.array(actions, np.float32)


def main() -> None:
    torch.manual_seed(0)
    obs, actions = demonstrations()
    policy = MoEPolicy(MoEConfig(obs_dim=2, action_dim=2, window=1, num_experts=2,
                                 n_layer=1, n_head=1, n_embd=32))
    policy.fit_normalizers(obs, actions)  # the normaliser lives inside the policy
    data = {"obs": torch.as_tensor(obs)[:, None], "actions": torch.as_tensor(actions)[:, None]}
    opt = torch.optim.Adam(policy.parameters(), lr=3e-3)
    for step in range(300):  # plain maximum likelihood; see vdd-distill for distillation
        idx = torch.randint(len(obs), (256,))
        loss, stats = policy.compute_loss({k: v[idx] for k, v in data.items()})
        opt.zero_grad()
        loss.backward()
        opt.step()
    print(f"final NLL {stats['nll']:.2f}")

    with tempfile.TemporaryDirectory() as d:
        policy.save(d)  # model.safetensors + config.json
        policy = MoEPolicy.load(d)

    ends = []
    for episode in range(10):
        policy.reset()  # clears the observation window
        pos = np.zeros(2, np.float32)
        for _ in range(20):
            pos = pos + policy.act(pos)  # one forward pass per action
        ends.append(pos)
    ends = np.round(np.array(ends), 1)
    print("episode end points:", ends.tolist())


if __name__ == "__main__":
    main()

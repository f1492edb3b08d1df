"""VDD as published beside ours: one variant per VDD method, labelled, configured from its base."""

import gin
import pytest

from bench import methods as M
from bench.config import parse_gin
from distill import VDDConfig


@pytest.fixture
def clean_gin():
    gin.clear_config()
    yield
    gin.clear_config()


def test_every_vdd_method_has_a_published_variant_and_both_are_labelled():
    table = M.method_table()
    for base, label in (("vdd", "VDD (exact score"), ("vdd_beso", "VDD-BESO"),
                        ("vdd_ddpm", "VDD-DDPM")):
        ours, published = table[base], table[f"{base}_published"]
        assert ours.label.startswith(label) and ours.label.endswith("ours)")
        assert published.label.startswith(label) and published.label.endswith("published)")
        assert (published.base, published.teacher, published.algorithm) == (
            base, ours.teacher, ours.algorithm)
        assert published.overrides == {"expert_init": "random", "reseed_every": 0,
                                       "visited_share": 0.0, "query_min_weight": 0.0}
        assert ours.overrides == {} and ours.base is None
    assert sum(name.endswith("_published") for name in table) == 3


def test_a_variant_takes_its_base_bindings_then_its_own_then_the_fixed_settings(clean_gin):
    parse_gin([], ["VDDConfig.lr = 0.5", "vdd_beso/VDDConfig.num_samples = 8",
                   "vdd_beso_published/VDDConfig.cmp_steps = 1",
                   "vdd_beso_published/VDDConfig.reseed_every = 50",
                   "vdd_beso/VDDConfig.visited_share = 0.5",
                   "vdd_beso/VDDConfig.query_min_weight = 0.001",
                   "student/MoEConfig.n_embd = 16",
                   "student/vdd_beso/MoEConfig.num_experts = 3",
                   "student/vdd_beso_published/MoEConfig.gating = 'uniform'"])
    table = M.method_table()
    ours = M.algorithm_config(table["vdd_beso"])
    published = M.algorithm_config(table["vdd_beso_published"])
    assert isinstance(published, VDDConfig)
    assert (ours.lr, ours.num_samples, ours.cmp_steps, ours.expert_init) == (0.5, 8, 2, "data")
    assert (published.lr, published.num_samples, published.cmp_steps) == (0.5, 8, 1)
    assert (ours.visited_share, ours.query_min_weight) == (0.5, 0.001)
    assert (published.expert_init, published.reseed_every, published.visited_share,
            published.query_min_weight) == ("random", 0, 0.0, 0.0)  # fixed wins: ours stay off

    class Task:
        obs_dim, action_dim, window = 3, 2, 1

    moe_ours = M.student_config(Task, table["vdd_beso"])
    moe_published = M.student_config(Task, table["vdd_beso_published"])
    assert (moe_ours.n_embd, moe_ours.num_experts, moe_ours.gating) == (16, 3, "learned")
    assert (moe_published.n_embd, moe_published.num_experts, moe_published.gating) == (
        16, 3, "uniform")

"""The diagnosis's statistics (core/diagnosis.py) and its rule (suite/diagnosis.py), on small tensors and
on a real PCA-degenerate node."""
import pytest
import torch

from pytest_circuit_ablation.core import diagnosis as stats
from pytest_circuit_ablation.core.pca import fit_projection
from pytest_circuit_ablation.suite import diagnosis as rule

GEN = torch.Generator().manual_seed(0)


def test_spread_is_zero_for_a_constant_and_scale_free_otherwise():
    const = torch.randn(1, 4, 6, generator=GEN, dtype=torch.float64).expand(50, 4, 6)
    assert stats.spread(const) == 0.0
    acts = torch.randn(50, 4, 6, generator=GEN, dtype=torch.float64)
    assert stats.spread(acts) == pytest.approx(stats.spread(7.0 * acts))
    assert stats.spread(acts) > 0.5
    # the position where it varies most decides; BOS (position 0) is ignored
    mostly = const.clone()
    mostly[:, 2] += 0.01 * torch.randn(50, 6, generator=GEN, dtype=torch.float64)
    mostly[:, 0] = torch.randn(50, 6, generator=GEN, dtype=torch.float64)
    assert 0 < stats.spread(mostly) < 0.05


def test_explained_variance_is_one_for_rank_k_deviations_and_less_otherwise():
    basis = torch.randn(2, 8, generator=GEN, dtype=torch.float64)
    low_rank = torch.randn(60, 3, 2, generator=GEN, dtype=torch.float64) @ basis + 5.0  # rank 2 around a mean
    assert stats.explained_variance(low_rank, 2) == pytest.approx(1.0)
    full = torch.randn(60, 3, 8, generator=GEN, dtype=torch.float64)
    assert 0.2 < stats.explained_variance(full, 2) < 0.6


def test_a_head_narrower_than_k_is_pca_degenerate_and_a_wide_one_is_not():
    """hook_result = z W_O has rank <= d_head: with d_head <= k the components span all of it."""
    w_o = torch.randn(2, 8, generator=GEN, dtype=torch.float64)  # d_head 2 -> d_model 8
    narrow = torch.randn(60, 4, 2, generator=GEN, dtype=torch.float64) @ w_o
    wide = torch.randn(60, 4, 8, generator=GEN, dtype=torch.float64)
    for acts, degenerate in ((narrow, True), (wide, False)):
        node = stats.node_stats(acts, fit_projection(acts, 2, centre=False), 2)
        assert node.pca_degenerate is degenerate, node
    assert stats.node_stats(wide, None, 2).orth_share is None  # no PCA in the sweep: not judged


def _effects(checkpoint=0.0, zero=0.0, scaled=0.0):
    return {("resample", 1.0): checkpoint, ("resample", 5.0): scaled, ("zero", 1.0): zero, ("pca-self-var", 1.0): 0.9}


@pytest.mark.parametrize("in_circuit, offence, spread, effects, verdict", [
    (True, None, 1.0, _effects(0.9), rule.CAUSAL),
    (True, "effect 0.2 < tau_in 0.5", 1.0, _effects(0.2), rule.WEAK),
    (False, "Wilson upper bound 0.3 > tau_out 0.1", 1.0, _effects(0.25), rule.LEAKING),
    (False, None, 0.0, _effects(zero=0.8), rule.CONSTANT_LOAD),
    (False, None, 0.01, _effects(scaled=0.3), rule.CONSTANT_LOAD),
    (False, None, 0.9, _effects(zero=0.8), rule.LOAD),
    (False, None, 0.0, _effects(zero=0.05, scaled=0.09), rule.IRRELEVANT),
])
def test_each_verdict(in_circuit, offence, spread, effects, verdict):
    found = rule.diagnose(rule.DiagnosisRule(), in_circuit, offence, spread, effects)
    assert found.verdict == verdict, found


def test_identity_and_interchange_settings_at_scale_one_never_count_as_load():
    """pca-self-var x 1.0 (an identity) shows 0.9 in these effects: it must not make a node load-bearing."""
    found = rule.diagnose(rule.DiagnosisRule(), False, None, 0.0, _effects())
    assert found.verdict == rule.IRRELEVANT and found.moved_effect == 0.0


def test_a_sweep_of_interchanges_at_scale_one_leaves_out_of_circuit_nodes_unmeasured():
    """With only resample x 1.0 nothing could show a node's load: it was called irrelevant."""
    for in_circuit, verdict in ((False, rule.UNMEASURED), (True, rule.CAUSAL)):
        found = rule.diagnose(rule.DiagnosisRule(), in_circuit, None, 0.0, {("resample", 1.0): 0.0, ("pca-resample-var", 1.0): 0.0})
        assert found.verdict == verdict and found.moved_effect is None, found
    assert not rule.measures_load([("resample", 1.0), ("pca-self-orth", 1.0)])
    assert rule.measures_load([("resample", 1.0), ("resample", 0.5)]) and rule.measures_load([("zero", 1.0)])


def test_require_irrelevant_fails_only_constant_load_bearing_out_of_circuit_nodes():
    strict = rule.DiagnosisRule(require_irrelevant=True)
    for in_circuit, spread, effects, fails in ((False, 0.0, _effects(zero=0.8), True), (False, 0.9, _effects(zero=0.8), False),
                                               (False, 0.0, _effects(), False), (True, 0.0, _effects(0.9, zero=0.8), False)):
        found = rule.diagnose(strict, in_circuit, None, spread, effects)
        assert (rule.requirement_offence(strict, in_circuit, found) is not None) is fails, found
    assert rule.requirement_offence(rule.DiagnosisRule(), False, rule.diagnose(rule.DiagnosisRule(), False, None, 0.0,
                                                                                _effects(zero=0.8))) is None

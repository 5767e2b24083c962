import math
from collections import defaultdict
from fractions import Fraction
from itertools import product

import torch

from pytest_circuit_ablation.core import metrics
from pytest_circuit_ablation.core.hubfiles import load_hl_model
from tests.helpers import case3


def test_equal_true_values_are_the_same_label():
    """Every pair of HL outputs with the same exact value compares 'unchanged', every other pair
    'changed', over all 256 case-3 inputs: label equality is decided on values, not float bits."""
    case = case3()
    hl = load_hl_model(case.dir)
    bodies = list(product(case.vocab, repeat=4))
    with torch.no_grad():
        out = hl(torch.tensor([case.encode(list(b)) for b in bodies]))[:, 1:]
    truth = [case.module().reference(list(b)) for b in bodies]
    by_value = defaultdict(list)
    for i, t in enumerate(truth):
        for p, v in enumerate(t):
            by_value[v].append(float(out[i, p, 0]))
    spread = max(max(v) - min(v) for v in by_value.values())
    assert spread < case.label_atol / 10
    values = sorted(by_value)
    gap = min(float(b - a) for a, b in zip(values, values[1:]))
    assert gap > case.label_atol * 100
    flat = out.reshape(-1, 1)
    exact = torch.tensor([float(v) for t in truth for v in t])
    same = ~metrics.labels_changed(flat[:, None, :], flat[None, :, :], False, case.label_atol)
    assert torch.equal(same, exact[:, None] == exact[None, :])


def test_disagreement_regression_and_categorical():
    hl = torch.tensor([[[0.5], [0.25]]])
    ll = torch.tensor([[[0.549], [0.31]]])
    assert metrics.disagrees(ll, hl, False).tolist() == [[False, True]]
    a = torch.tensor([[[0.1, 0.9], [0.8, 0.2]]])
    b = torch.tensor([[[0.0, 1.0], [0.0, 1.0]]])
    assert metrics.disagrees(a, b, True).tolist() == [[False, True]]


def test_wilson_interval():
    low, high = metrics.wilson_interval(0, 100)
    assert low == 0.0 and 0.03 < high < 0.04
    low, high = metrics.wilson_interval(50, 100)
    assert math.isclose(low, 0.4038, abs_tol=1e-4) and math.isclose(high, 0.5962, abs_tol=1e-4)
    assert metrics.wilson_interval(100, 100)[1] == 1.0
    assert all(math.isnan(x) for x in metrics.wilson_interval(0, 0))


def test_auroc_and_margin():
    assert metrics.auroc([1.0, 0.9], [0.0, 0.1, 0.2]) == 1.0
    assert metrics.auroc([0.5], [0.5]) == 0.5
    assert metrics.auroc([0.0], [1.0]) == 0.0
    assert math.isclose(metrics.margin([1.0, 0.9], [0.0, 0.2]), 0.7)
    assert math.isnan(metrics.auroc([], [1.0]))


def test_effect_of_nothing_counted_is_nan():
    assert math.isnan(metrics.effect(0, 0))
    assert metrics.effect(3, 4) == 0.75


def test_reference_fraction_example():
    assert case3().module().reference(["a", "x", "b", "x"]) == [0, Fraction(1, 2), Fraction(1, 3), Fraction(1, 2)]

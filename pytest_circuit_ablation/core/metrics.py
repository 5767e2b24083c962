"""The effect metric and the statistics built on it (the README's "What is measured" and "The gate").

A cell is (pair, position), BOS excluded. It *counts* when the HL label of the base differs from the
HL label of the source; it is *flipped* when the ablated LL output disagrees with the HL output on the
base. Effect = flipped / counted, pooled over all cells (the reference averages per-batch ratios of a
shuffled loader, which is neither deterministic nor recomputable; the counts are both).

Regression labels: "same label" means |hl_a - hl_b| <= ``label_atol`` (1e-4 by default), not exact
float equality. A compiled HL computes fractions through softmax, so equal true values can differ in
their last bits; 1e-4 is far below the grid spacing of any task here and far below the 0.05 tolerance
the disagreement test uses, so it merges exactly the rounding noise and nothing else.

Torch functions run where the engine runs (CPU or CUDA); the statistics are plain Python so that the
plugin and the report need no torch.
"""
from __future__ import annotations

import math
from typing import Sequence

REGRESSION_ATOL = 0.05  # iit's isclose tolerance for "LL agrees with HL"
REGRESSION_RTOL = 1e-5  # torch.isclose's default, which the reference leaves on


HL_ZERO = 1e-7  # categorical HL outputs below this are zero: rounding noise, not a leak


def hl_labels_output(out, categorical: bool):
    """The HL model's output as labels are read from it. Where the RASP program gives None a compiled
    categorical HL outputs zeros, computed as ~1e-10 of rounding noise in float64 (case 19) and as exact
    zeros in float32, InterpBench's precision; their argmax would be noise. Snapping |x| < 1e-7 to zero
    makes float64 labels equal float32 ones on every built-in case, and keeps the real leaks of heads
    that select nothing (2e-6 in case 13, 7e-4 in case 21), which InterpBench's labels follow."""
    if not categorical:
        return out
    return out.masked_fill(out.abs() < HL_ZERO, 0.0)


def labels_changed(hl_base, hl_source, categorical: bool, label_atol: float):
    """Bool [..., pos]: does the source's HL label differ from the base's?"""
    if categorical:
        return hl_base.argmax(-1) != hl_source.argmax(-1)
    return ((hl_base - hl_source).abs() > label_atol).any(-1)


def disagrees(ll_out, hl_out, categorical: bool):
    """Bool [..., pos]: is the LL output wrong with respect to the HL output?"""
    if categorical:
        return ll_out.argmax(-1) != hl_out.argmax(-1)
    import torch

    return (~torch.isclose(ll_out, hl_out, rtol=REGRESSION_RTOL, atol=REGRESSION_ATOL)).any(-1)


KL_EPS = 1e-12  # iit's guard in the KL normalisation


def label_nll(logits, labels):
    """-log softmax(logits)[label] per cell: KL(one-hot HL label || softmax(LL logits)), as iit's KL_DIV
    compares a one-hot HL output with the LL's distribution."""
    return -logits.log_softmax(-1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)


def kl_effect(kl_sum: float | None, counted: int) -> float:
    """Mean over counted cells of the normalised KL (iit's KL_DIV): per cell
    (kl - kl_clean) / (kl_corrupt - kl_clean + 1e-12), where kl_clean is the unablated LL on the base and
    kl_corrupt the unablated LL on the source, all against the base's HL label. 0 = no effect, 1 = as
    far from the label as the source's own output; it is not capped (zero or scaled ablations can push
    the LL further off than any real input does). NaN when nothing counted."""
    return kl_sum / counted if kl_sum is not None and counted else float("nan")


def effect(flipped: int, counted: int) -> float:
    """Share of counted cells that flipped; NaN when nothing counted (reported, never a silent 0)."""
    return flipped / counted if counted else float("nan")


def wilson_interval(successes: int, trials: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score 95% interval for a proportion (exact 0 and 1 at the ends, not rounding dust)."""
    if trials <= 0:
        return (float("nan"), float("nan"))
    p = successes / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return (low, high)


def auroc(in_effects: Sequence[float], out_effects: Sequence[float]) -> float:
    """P(a random in-circuit node has a larger effect than a random out-of-circuit one), ties count half."""
    if not in_effects or not out_effects:
        return float("nan")
    wins = 0.0
    for a in in_effects:
        for b in out_effects:
            wins += 1.0 if a > b else 0.5 if a == b else 0.0
    return wins / (len(in_effects) * len(out_effects))


def margin(in_effects: Sequence[float], out_effects: Sequence[float]) -> float:
    """min(in) - max(out): positive when a single threshold separates the circuit from the rest."""
    if not in_effects or not out_effects:
        return float("nan")
    return min(in_effects) - max(out_effects)

"""Two cheap statistics per node, beside the sweep, that tell a *constant* node from an *irrelevant* one.

SIIT's strict loss makes out-of-circuit nodes constant, not necessarily irrelevant: a resample ablation at
scale 1 swaps a constant for the same constant and changes nothing, while zero ablation or a scaled
resample can still move the output. The sweep measures the second part; this module measures the first:

* ``spread``: how much the node's activation varies across inputs relative to its size, at the position
  where it varies most (BOS excluded): ``max_p sqrt(mean_n |a_np - mu_p|^2) / mean_n |a_np|``. 0 for a
  node that writes the same vector on every input.
* ``explained``: the share of the activation's variance (around its mean, per position, BOS excluded)
  that the first ``k`` principal components capture, averaged over positions: how much of what varies
  the PCA modes' "variance part" holds.
* ``orth_share``: the largest ``|Q(a)| / |a|`` over inputs and positions, for the fitted projection:
  where it is ~0 the PCA "rest" is empty (a head with d_head <= k has rank <= k), so ``pca-*-orth``
  change nothing and ``pca-resample-var`` is ``resample``: the node is *PCA-degenerate*.

The verdicts built on these numbers live in ``suite/diagnosis.py``.
"""
from __future__ import annotations

from dataclasses import dataclass

from .engine import one_thread
from .modes import Projection, reject

#: below this |Q(a)| / |a| the PCA "rest" is rounding noise (measured ~1e-15 on degenerate heads)
DEGENERATE_BELOW = 1e-9


@dataclass(frozen=True)
class NodeStats:
    """The statistics of one node over a run's inputs (see the module docstring)."""

    spread: float
    constant: bool  # the activation is exactly the same on every input, at every position
    explained: float | None  # None: no PCA in the sweep
    orth_share: float | None  # None: no PCA in the sweep

    @property
    def pca_degenerate(self) -> bool:
        return self.orth_share is not None and self.orth_share < DEGENERATE_BELOW


def spread(acts) -> float:
    """acts [N, P, width] -> the relative spread across inputs at the position where it is largest."""
    import torch

    x = acts[:, 1:].to(torch.float64)
    if x.shape[1] == 0:
        return 0.0
    shifted = x - x[:1]  # the same deviations from the mean, and exactly 0 for an exact constant
    dev = (shifted - shifted.mean(dim=0, keepdim=True)).norm(dim=-1).pow(2).mean(dim=0).sqrt()  # [P-1]
    size = x.norm(dim=-1).mean(dim=0)  # [P-1]
    rel = torch.where(size > 0, dev / torch.where(size > 0, size, torch.ones_like(size)), torch.zeros_like(size))
    return float(rel.max())


def explained_variance(acts, k: int) -> float:
    """Mean over positions (BOS excluded) of the variance share of the top ``k`` principal components;
    1.0 at a position with no variance at all (nothing is left outside them)."""
    import torch

    x = acts[:, 1:].to(torch.float64)
    x = x - x.mean(dim=0, keepdim=True)
    shares = []
    for p in range(x.shape[1]):
        s2 = torch.linalg.svdvals(x[:, p]).pow(2)
        total = float(s2.sum())
        shares.append(1.0 if total <= 0 else float(s2[:k].sum()) / total)
    return sum(shares) / len(shares) if shares else 1.0


def orth_share(acts, proj: Projection) -> float:
    """The largest |Q(a)| / |a| over inputs and positions (BOS excluded; zero activations skipped)."""
    import torch

    a = acts.to(torch.float64)
    q = reject(a, proj.to(a.device, torch.float64))[:, 1:].norm(dim=-1)
    size = a[:, 1:].norm(dim=-1)
    rel = q[size > 0] / size[size > 0]
    return float(rel.max()) if rel.numel() else 0.0


def node_stats(acts, proj: Projection | None, k: int) -> NodeStats:
    """All three statistics of one node from its clean activations [N, P, width]. On one torch thread: the
    SVD and the norms round differently on one and two threads, and diagnosis.csv must be the same bytes
    in a serial run (every core) and under ``-n`` (one thread per worker)."""
    constant = bool((acts == acts[:1]).all())
    with one_thread():
        if proj is None:
            return NodeStats(spread(acts), constant, None, None)
        return NodeStats(spread(acts), constant, explained_variance(acts, k), orth_share(acts, proj))

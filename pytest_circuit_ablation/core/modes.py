"""The ablation modes as pure functions on one node's activations.

For a node at each position: ``a`` is its activation on the base input, ``s`` on the source input,
``V`` the k x width PCA components fitted at that position (orthonormal rows; a direction the
activations do not have, whose variance is rounding noise, is a zero row: ``pca``), ``mu`` the activation
mean when the components are centred (else 0), ``P(x) = V^T V (x - mu)`` the *vector* projection of the
deviation onto their span, ``Q(x) = (x - mu) - P(x)`` the rest, so ``x = mu + P(x) + Q(x)``, and
``lam`` the scale (the table omits ``mu``, which every PCA mode keeps):

=====================  ============================  =========================================
mode                   patched activation             lam = 1
=====================  ============================  =========================================
resample               lam * s (every position)       plain resample ablation (lam 0 = zero)
mean                   lam * mean over inputs         plain mean ablation (iit's)
zero                   0                              zero ablation (scale has no effect)
pca-self-var           Q(a) + lam * P(a)              identity
pca-self-orth          P(a) + lam * Q(a)              identity
pca-resample-var       Q(a) + lam * P(s)              swap only the high-variance part
pca-resample-orth      P(a) + lam * Q(s)              swap only the rest
=====================  ============================  =========================================

PCA modes leave position 0 (BOS) alone. Everything is computed as a *delta* (patched - a) so that
identity settings add an exact zero and leave the model's output bit-identical.

How this differs from the seed notebook: its hook replaced ``x`` by ``x + c_add - c_remove`` where each
``c`` was the *sum of the projection coefficients* ``sum_k (x . v_k)``, a scalar broadcast over every
dimension, rather than the projected vector ``sum_k (x . v_k) v_k``. That adds a constant vector along
(1, 1, ..., 1) instead of moving the activation within the component span, so its "variance part"
was neither the PCA subspace nor its complement. Here ``P`` is the true orthogonal projection, so
``P(x) + Q(x) = x``, ``P(P(x)) = P(x)`` and ``V Q(x) = 0`` hold (tests/test_modes_properties.py).
"""
from __future__ import annotations

from dataclasses import dataclass

MODES = ("resample", "mean", "zero", "pca-self-var", "pca-self-orth", "pca-resample-var", "pca-resample-orth")
#: each mode in a reader's words (the report page's key); ``lam`` is the scale
MEANING = {
    "resample": "the node's activation replaced by lam x its activation on the source input (lam 0: zero ablation, "
                "lam 1: interchange)",
    "mean": "replaced by lam x its mean over the inputs",
    "zero": "replaced by 0 (the scale changes nothing)",
    "pca-self-var": "its part in the top-k PCA directions scaled by lam, the rest kept (lam 1: unchanged)",
    "pca-self-orth": "its part outside the top-k PCA directions scaled by lam, the rest kept (lam 1: unchanged)",
    "pca-resample-var": "its part in the top-k PCA directions replaced by lam x the source input's",
    "pca-resample-orth": "its part outside the top-k PCA directions replaced by lam x the source input's",
}
PCA_MODES = frozenset(m for m in MODES if m.startswith("pca-"))
SOURCE_MODES = frozenset({"resample", "pca-resample-var", "pca-resample-orth"})  # depend on the source input
IDENTITY_AT_ONE = frozenset({"pca-self-var", "pca-self-orth"})


@dataclass(frozen=True)
class Ablation:
    """One ablation setting of a node: a mode at a scale."""

    mode: str
    scale: float


@dataclass(frozen=True)
class Projection:
    """PCA directions of one node: ``components`` [pos, k, width] (row 0, BOS, unused), optional ``mean`` [pos, width]."""

    components: object  # torch.Tensor
    mean: object | None = None

    def to(self, device, dtype) -> "Projection":
        mean = None if self.mean is None else self.mean.to(device, dtype)
        return Projection(self.components.to(device, dtype), mean)


def project(x, proj: Projection):
    """P(x) = V^T V (x - mu): the part of x's deviation from the mean (mu = 0 uncentred) that lies in each
    position's component span; x [..., pos, width]."""
    import torch

    v = proj.components
    centred = x if proj.mean is None else x - proj.mean
    coeff = torch.einsum("...pw,pkw->...pk", centred, v)
    return torch.einsum("...pk,pkw->...pw", coeff, v)


def reject(x, proj: Projection):
    """Q(x) = (x - mu) - P(x): the rest of the deviation, orthogonal to the span. So x = mu + P(x) + Q(x),
    and a mode that scales P or Q scales only a deviation: centred modes keep the mean at every scale."""
    return (x if proj.mean is None else x - proj.mean) - project(x, proj)


def _drop_bos(delta):
    delta = delta.clone()
    delta[..., 0, :] = 0
    return delta


def source_part(mode: str, x, proj: Projection | None = None):
    """T(x) of a source-dependent mode, whose delta is ``lam * T(s) - T(a)``: x itself (resample),
    P(x) (pca-resample-var) or Q(x) (pca-resample-orth), with BOS zeroed for the PCA modes. The engine
    uses this split to compute each pair's patched residual from per-input terms."""
    if mode == "resample":
        return x
    if proj is None:
        raise ValueError(f"mode {mode!r} needs PCA directions")
    if mode == "pca-resample-var":
        return _drop_bos(project(x, proj))
    if mode == "pca-resample-orth":
        return _drop_bos(reject(x, proj))
    raise ValueError(f"mode {mode!r} does not depend on a source input")


def delta(mode: str, lam: float, a, s=None, mean=None, proj: Projection | None = None):
    """patched - a, for activations a (base) and s (source) of shape [..., pos, width]."""
    if mode in SOURCE_MODES:
        if lam == 0.0:  # the source drops out (and may be absent)
            return -source_part(mode, a, proj)
        return lam * source_part(mode, s, proj) - source_part(mode, a, proj)
    if mode == "mean":
        return lam * mean - a
    if mode == "zero":
        return -a
    if proj is None:
        raise ValueError(f"mode {mode!r} needs PCA directions")
    if mode == "pca-self-var":
        return _drop_bos((lam - 1.0) * project(a, proj))
    if mode == "pca-self-orth":
        return _drop_bos((lam - 1.0) * reject(a, proj))
    raise ValueError(f"unknown ablation mode {mode!r}")


def patched(mode: str, lam: float, a, s=None, mean=None, proj: Projection | None = None):
    """The patched activation itself. Modes that replace the activation outright are computed directly
    (resample at 1 is exactly the source, the plain interchange); the others as ``a + delta``, so that
    identity settings return exactly ``a``."""
    import torch

    if mode == "resample":
        return lam * s
    if mode == "mean":
        return (lam * mean).expand_as(a)
    if mode == "zero":
        return torch.zeros_like(a)
    return a + delta(mode, lam, a, s, mean, proj)


def is_identity(mode: str, lam: float) -> bool:
    """Settings at which a mode is an exact no-op."""
    return mode in IDENTITY_AT_ONE and lam == 1.0

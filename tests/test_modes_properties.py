"""The identities of design notes section 2, checked by hypothesis on random shapes and data."""
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_circuit_ablation.core import modes
from pytest_circuit_ablation.core.modes import Projection, project, reject
from pytest_circuit_ablation.core.pca import fit_projection

EXAMPLES = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def problems(draw, centred=None):
    """Random activations a, s [batch, pos, width] and an orthonormal projection per position."""
    batch = draw(st.integers(1, 6))
    pos = draw(st.integers(2, 6))
    width = draw(st.integers(1, 10))
    k = draw(st.integers(1, width))
    seed = draw(st.integers(0, 2**32 - 1))
    centre = draw(st.booleans()) if centred is None else centred
    scale = draw(st.sampled_from([1e-3, 1.0, 1e3]))
    gen = torch.Generator().manual_seed(seed)
    a = torch.randn(batch, pos, width, generator=gen, dtype=torch.float64) * scale
    s = torch.randn(batch, pos, width, generator=gen, dtype=torch.float64) * scale
    q, _ = torch.linalg.qr(torch.randn(pos, width, width, generator=gen, dtype=torch.float64))
    comps = q.transpose(1, 2)[:, :k, :].contiguous()  # k orthonormal rows per position
    mean = torch.randn(pos, width, generator=gen, dtype=torch.float64) * scale if centre else None
    lam = draw(st.sampled_from([0.0, 0.1, 0.5, 0.8, 1.0, 1.2, 2.0, 10.0]))
    return a, s, Projection(comps, mean), lam, scale


def close(x, y, scale):
    return torch.allclose(x, y, rtol=1e-9, atol=1e-9 * max(1.0, scale))


@EXAMPLES
@given(problems(centred=False))
def test_projection_is_idempotent(p):
    a, _, proj, _, scale = p
    once = project(a, proj)
    assert close(project(once, proj), once, scale)


@EXAMPLES
@given(problems())
def test_rest_is_orthogonal_to_components(p):
    """Centred or not, Q holds none of the span: a mode that swaps Q cannot move the variance part."""
    a, _, proj, _, scale = p
    coeff = torch.einsum("bpw,pkw->bpk", reject(a, proj), proj.components)
    assert coeff.abs().max() <= 1e-9 * max(1.0, scale)


def test_centred_modes_keep_the_mean_at_scale_zero():
    """With centred components, every PCA mode scales a deviation from the mean, never the mean itself: at
    scale 0 the self modes' outputs still average to the activation mean (the mean used to fall into the
    variance part, so pca-self-var at 0 removed it)."""
    gen = torch.Generator().manual_seed(5)
    a = torch.randn(60, 4, 6, generator=gen, dtype=torch.float64) + 3.0 * torch.randn(1, 4, 6, generator=gen, dtype=torch.float64)
    proj = fit_projection(a, 2, centre=True)
    mu = a.mean(dim=0)
    for mode in ("pca-self-var", "pca-self-orth"):
        out = modes.patched(mode, 0.0, a, proj=proj)
        assert torch.allclose(out[:, 1:].mean(dim=0), mu[1:], atol=1e-9), mode
    s = a.flip(0)
    for mode in ("pca-resample-var", "pca-resample-orth"):
        out = modes.patched(mode, 0.0, a, s, proj=proj)
        assert torch.allclose(out[:, 1:].mean(dim=0), mu[1:], atol=1e-9), mode


@EXAMPLES
@given(problems())
def test_self_modes_at_one_are_exact_no_ops(p):
    a, _, proj, _, _ = p
    for mode in ("pca-self-var", "pca-self-orth"):
        assert torch.equal(modes.patched(mode, 1.0, a, proj=proj), a)


@EXAMPLES
@given(problems())
def test_resample_at_one_is_the_interchange(p):
    a, s, _, _, _ = p
    assert torch.equal(modes.patched("resample", 1.0, a, s), s)


@EXAMPLES
@given(problems())
def test_resample_at_zero_is_zero_ablation(p):
    a, s, _, _, _ = p
    assert torch.equal(modes.patched("resample", 0.0, a, s), modes.patched("zero", 1.0, a, s))
    assert torch.equal(modes.patched("resample", 0.0, a, s), torch.zeros_like(a))


@EXAMPLES
@given(problems())
def test_pca_modes_leave_bos_alone_and_match_definitions(p):
    a, s, proj, lam, scale = p
    P, Q = project, reject
    mu = 0.0 if proj.mean is None else proj.mean
    want = {
        "pca-self-var": mu + Q(a, proj) + lam * P(a, proj),
        "pca-self-orth": mu + P(a, proj) + lam * Q(a, proj),
        "pca-resample-var": mu + Q(a, proj) + lam * P(s, proj),
        "pca-resample-orth": mu + P(a, proj) + lam * Q(s, proj),
    }
    for mode, expected in want.items():
        got = modes.patched(mode, lam, a, s, proj=proj)
        assert torch.equal(got[:, 0], a[:, 0]), mode
        assert close(got[:, 1:], expected[:, 1:], scale * max(1.0, lam)), mode


@EXAMPLES
@given(st.integers(0, 2**32 - 1), st.integers(3, 12), st.integers(8, 40), st.floats(-50, 50))
def test_pca_components_ignore_a_constant_shift(seed, width, n, shift):
    """The notebook's last cell: PCA directions do not move when a constant vector is added."""
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(rng.normal(size=(n, 3, width)))
    k = min(2, width)
    offset = torch.from_numpy(rng.normal(size=width)) * shift
    base = fit_projection(x, k, centre=False).components
    moved = fit_projection(x + offset, k, centre=False).components
    # compare the spans (signs of components are arbitrary): projectors must agree
    pb = torch.einsum("pkw,pkv->pwv", base[1:], base[1:])
    pm = torch.einsum("pkw,pkv->pwv", moved[1:], moved[1:])
    assert torch.allclose(pb, pm, atol=1e-6)


def test_unknown_mode_is_an_error():
    with pytest.raises(ValueError):
        modes.delta("bogus", 1.0, torch.zeros(1, 2, 3))


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("centre", [False, True])
def test_fitted_components_are_orthonormal_and_beat_random_bases(seed, centre):
    """What the PCA modes rely on: each position's k components are orthonormal, and they capture at least
    as much of the activations' variance (around their mean, as PCA fits) as any random orthonormal basis
    of the same size."""
    g = torch.Generator().manual_seed(seed)
    mixing = torch.randn(7, 7, generator=g, dtype=torch.float64) * torch.linspace(0.1, 3.0, 7, dtype=torch.float64)
    acts = torch.randn(80, 3, 7, generator=g, dtype=torch.float64) @ mixing + 2.0  # anisotropic, off-centre
    proj = fit_projection(acts, 2, centre=centre)
    for p in range(1, 3):
        v = proj.components[p]
        assert torch.allclose(v @ v.T, torch.eye(2, dtype=torch.float64), atol=1e-10)
        dev = acts[:, p] - acts[:, p].mean(dim=0)
        captured = float((dev @ v.T).pow(2).sum())
        for _ in range(25):
            q, _ = torch.linalg.qr(torch.randn(7, 2, generator=g, dtype=torch.float64))
            assert captured >= float((dev @ q).pow(2).sum()) - 1e-9


def _line_off_the_origin(noise_seed: int):
    """Activations [60, 2, 6] whose position 1 lies on a line that misses the origin (one principal
    direction), perturbed at rounding level, as two machines' arithmetic would."""
    g = torch.Generator().manual_seed(0)
    u = torch.nn.functional.normalize(torch.randn(6, generator=g, dtype=torch.float64), dim=0)
    offset = torch.randn(6, generator=g, dtype=torch.float64) * 3.0
    acts = torch.randn(60, 2, 6, generator=g, dtype=torch.float64)
    acts[:, 1] = offset + torch.randn(60, 1, generator=g, dtype=torch.float64) * u
    wobble = torch.Generator().manual_seed(noise_seed)
    return acts * (1 + 4e-16 * torch.randn(acts.shape, generator=wobble, dtype=torch.float64)), u


def test_a_direction_at_rounding_level_is_left_out():
    """With k = 2 on rank-1 data the second direction is rounding noise; kept, the uncentred projection
    of the offset onto it would move each activation by an amount that depends on the arithmetic. Left
    out, the projector is the line's own and two rounding-level perturbations give the same P(a)."""
    projected = []
    for noise_seed in (1, 2):
        acts, u = _line_off_the_origin(noise_seed)
        proj = fit_projection(acts, 2, centre=False)
        v = proj.components[1]
        assert torch.equal(v[1], torch.zeros(6, dtype=torch.float64))
        assert torch.allclose(v[0].abs(), u.abs(), atol=1e-9)
        projected.append(project(acts, proj)[:, 1])
    assert torch.allclose(projected[0], projected[1], atol=1e-12)


def test_a_constant_position_has_no_direction_and_fits_without_warnings():
    """Every input writes the same vector at position 1: nothing varies, so there is no direction there
    (pca-self-var is the identity and pca-self-orth scales the whole activation), and scikit-learn's
    divide-by-zero warning about the variance ratio is never raised."""
    import warnings

    acts = torch.randn(30, 3, 5, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    acts[:, 1] = torch.tensor([0.5, -1.25, 2.0, 0.0, 0.75], dtype=torch.float64)  # its mean is exact
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        proj = fit_projection(acts, 2, centre=False)
    assert torch.equal(proj.components[1], torch.zeros(2, 5, dtype=torch.float64))
    assert proj.components[2].abs().sum() > 0
    got = modes.patched("pca-self-orth", 3.0, acts, proj=proj)
    assert torch.allclose(got[:, 1], 3.0 * acts[:, 1])

"""PCA directions per node and per position, fitted with scikit-learn and cached on disk.

Directions are fitted on the activations of the distinct inputs at each position except BOS
(position 0 is constant under causal attention and is never patched by a PCA mode). A cache entry is
keyed by everything that changes it: the model's file hash, the node, the number of components, the
centring flag, the inputs' hash and scikit-learn's version. Entries are written atomically with a
checksum of their arrays; an entry that fails to read or to verify is refitted and rewritten, never
used. Workers of pytest-xdist share the folder: the same key always holds the same bytes.

A position whose activations span fewer than k directions (a causal model's position 1 takes one
value per token; a head's output has rank at most d_head) has no k-th principal direction: LAPACK
returns one made of rounding noise, and an uncentred projection onto it can move a large part of the
activation (case 34's L0H2 at position 1: |a . v| = 1.1 for |a| = 129), differently on another CPU or
BLAS. Components whose singular value is at rounding level are therefore left out (zero rows), so P
projects onto the span the activations actually have; an exactly constant position has none.
"""
from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

from ..errors import AblationError, SettingError
from .files import write_atomic
from .modes import Projection
from .nodes import Node

CACHE_VERSION = 2  # 2: components at rounding level left out


def fit_projection(acts, n_components: int, centre: bool) -> Projection:
    """Fit up to ``n_components`` PCA directions per position on acts [N, pos, width] (float64 on CPU);
    a direction whose variance is rounding noise is a zero row (see the module docstring)."""
    import numpy as np
    import torch
    from sklearn.decomposition import PCA

    x = acts.detach().to("cpu", torch.float64).numpy()
    n, n_pos, width = x.shape
    if not 1 <= n_components <= min(width, n):
        raise SettingError("pca_components", n_components, f"must be between 1 and {min(width, n)} for this node")
    comps = np.zeros((n_pos, n_components, width))
    means = np.zeros((n_pos, width))
    for p in range(1, n_pos):
        xp = x[:, p]
        means[p] = xp.mean(axis=0)
        if not (xp != xp[:1]).any():
            continue  # exactly constant: no direction (and scikit-learn would divide by a zero variance)
        pca = PCA(n_components=n_components, svd_solver="full")
        pca.fit(xp)
        real = pca.singular_values_ > _rounding_level(xp)  # descending, so a leading run
        comps[p, :int(real.sum())] = pca.components_[real]
        means[p] = pca.mean_
    return Projection(torch.from_numpy(comps), torch.from_numpy(means) if centre else None)


def _rounding_level(x) -> float:
    """The largest singular value that rounding alone gives the centred rows of x [N, width]: the
    matrix-rank tolerance, max(N, width) * eps * the largest singular value of x itself (the raw
    activations, whose size sets their rounding)."""
    import numpy as np

    return max(x.shape) * np.finfo(x.dtype).eps * float(np.linalg.norm(x, 2))


def cache_key(model_hash: str, node: Node, n_components: int, centre: bool, inputs_hash: str) -> str:
    import sklearn

    parts = [str(CACHE_VERSION), model_hash, node.full_name, str(n_components), str(bool(centre)), inputs_hash, sklearn.__version__]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]


def _checksum(comps, mean) -> str:
    import numpy as np

    digest = hashlib.sha256(np.ascontiguousarray(comps).tobytes())
    if mean is not None:
        digest.update(np.ascontiguousarray(mean).tobytes())
    return digest.hexdigest()


def _read(path: Path, key: str, shape: tuple[int, int, int]) -> Projection | None:
    """A verified cache entry, or None if it is missing, unreadable, fails its checksum, or is not the entry
    of ``key`` with components of ``shape`` (a file copied or renamed from another node's name would
    otherwise be used as this node's directions)."""
    import numpy as np
    import torch

    try:
        with np.load(path, allow_pickle=False) as z:
            comps = z["components"]
            mean = z["mean"] if "mean" in z.files else None
            meta = json.loads(str(z["meta"]))
    except Exception:
        return None
    if meta.get("checksum") != _checksum(comps, mean) or meta.get("key") != key or tuple(comps.shape) != shape:
        return None
    return Projection(torch.from_numpy(comps), None if mean is None else torch.from_numpy(mean))


def _write(path: Path, key: str, proj: Projection) -> None:
    import numpy as np

    comps = proj.components.cpu().numpy()
    mean = None if proj.mean is None else proj.mean.cpu().numpy()
    arrays = {"components": comps, "meta": np.array(json.dumps({"checksum": _checksum(comps, mean), "key": key}))}
    if mean is not None:
        arrays["mean"] = mean
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    write_atomic(path, buf.getvalue())


def get_projection(acts, node: Node, n_components: int, centre: bool, *, cache_dir: Path | None,
                   model_hash: str, inputs_hash: str) -> Projection:
    """Cached directions for one node, fitted if absent or invalid."""
    path = None
    if cache_dir is not None:
        key = cache_key(model_hash, node, n_components, centre, inputs_hash)
        path = Path(cache_dir) / f"{key}.npz"
        cached = _read(path, key, (acts.shape[1], n_components, acts.shape[2])) if path.exists() else None
        if cached is not None:
            return cached
    proj = fit_projection(acts, n_components, centre)
    if path is not None:
        try:
            _write(path, key, proj)
        except OSError:
            pass  # an unwritable cache only costs a refit next time
    return proj

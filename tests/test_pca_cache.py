"""PCA directions are cached on disk, keyed by what changes them; a corrupt entry is refitted, not used."""
import torch

from pytest_circuit_ablation.core.nodes import Node
from pytest_circuit_ablation.core.pca import cache_key, get_projection


def _acts(seed=0):
    return torch.randn(40, 5, 12, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_cache_round_trip_and_corruption(tmp_path):
    node = Node(0, 1)
    kw = dict(cache_dir=tmp_path, model_hash="m1", inputs_hash="i1")
    fresh = get_projection(_acts(), node, 2, False, **kw)
    entries = list(tmp_path.glob("*.npz"))
    assert len(entries) == 1
    again = get_projection(_acts(seed=9), node, 2, False, **kw)  # other data, same key: served from the cache
    assert torch.equal(again.components, fresh.components)
    data = bytearray(entries[0].read_bytes())
    data[len(data) // 2] ^= 0xFF
    entries[0].write_bytes(bytes(data))
    refit = get_projection(_acts(seed=9), node, 2, False, **kw)  # corrupt: refitted on the data given
    assert not torch.equal(refit.components, fresh.components)
    assert torch.equal(get_projection(_acts(seed=9), node, 2, False, **kw).components, refit.components)


def test_key_changes_with_everything_that_changes_directions():
    base = cache_key("m", Node(0, 1), 2, False, "i")
    assert len({base, cache_key("m2", Node(0, 1), 2, False, "i"), cache_key("m", Node(0, 2), 2, False, "i"),
                cache_key("m", Node(0, 1), 3, False, "i"), cache_key("m", Node(0, 1), 2, True, "i"),
                cache_key("m", Node(0, 1), 2, False, "i2")}) == 6

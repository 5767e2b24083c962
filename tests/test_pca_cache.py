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


def test_an_entry_under_another_nodes_name_is_refitted_not_used(tmp_path):
    """A cache file copied or renamed from another node's key passes its checksum; its stored key (or its
    shape, for a node of another width) says it is not this node's."""
    kw = dict(cache_dir=tmp_path, model_hash="m1", inputs_hash="i1")
    head_a = get_projection(_acts(), Node(0, 1), 2, False, **kw)
    get_projection(_acts(seed=3), Node(0, 2), 2, False, **kw)
    key_a = tmp_path / f"{cache_key('m1', Node(0, 1), 2, False, 'i1')}.npz"
    key_b = tmp_path / f"{cache_key('m1', Node(0, 2), 2, False, 'i1')}.npz"
    key_b.write_bytes(key_a.read_bytes())  # head 2's name now holds head 1's directions
    served = get_projection(_acts(seed=3), Node(0, 2), 2, False, **kw)
    assert not torch.equal(served.components, head_a.components)
    wide = torch.randn(40, 5, 48, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    mlp_key = tmp_path / f"{cache_key('m1', Node(0, None), 2, False, 'i1')}.npz"
    mlp_key.write_bytes(key_a.read_bytes())  # a width-12 entry under a width-48 node's name
    assert get_projection(wide, Node(0, None), 2, False, **kw).components.shape == (5, 2, 48)

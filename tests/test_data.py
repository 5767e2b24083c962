import pytest

from pytest_circuit_ablation.core import data
from pytest_circuit_ablation.errors import AblationError
from tests.helpers import case3


def test_hundred_distinct_sorted_and_seeded():
    case = case3()
    bodies = data.distinct_bodies(case, 100, seed=0)
    assert len(bodies) == len(set(bodies)) == 100
    assert all(len(b) == 4 and set(b) <= {"a", "b", "c", "x"} for b in bodies)
    ids = [case.encode(list(b)) for b in bodies]
    assert ids == sorted(ids)
    assert bodies == data.distinct_bodies(case, 100, seed=0)
    assert bodies != data.distinct_bodies(case, 100, seed=1)


def test_encoding_is_interpbench_s():
    assert case3().encode(["a", "b", "c", "x"]) == [0, 2, 3, 4, 5]


def test_all_ordered_pairs():
    pairs = data.all_pairs(100)
    assert pairs.shape == (10_000, 2)
    assert len({tuple(p) for p in pairs.tolist()}) == 10_000
    assert pairs[:3].tolist() == [[0, 0], [0, 1], [0, 2]]


def test_too_many_inputs_is_refused():
    with pytest.raises(AblationError, match="has only 256 distinct inputs"):
        data.distinct_bodies(case3(), 300, seed=0)


def test_a_case_with_more_bodies_than_sys_maxsize_still_draws_its_inputs():
    """InterpBench's case 39 has more possible bodies than a Python range can be sampled from."""
    import copy

    case = case3()
    spec = copy.deepcopy(case.spec)
    spec["max_seq_len"] = 40  # 4 tokens over 39 positions: 4**39 > 2**63
    big = type(case)(case.id, case.dir, spec)
    assert data.n_possible_inputs(big) > 2**63
    bodies = data.distinct_bodies(big, 100, seed=0)
    assert len(set(bodies)) == 100 and all(len(b) == 39 for b in bodies)
    assert bodies == data.distinct_bodies(big, 100, seed=0) != data.distinct_bodies(big, 100, seed=1)

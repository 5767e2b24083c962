"""The batched engine's counts equal the plain oracle loop's, exactly, for every mode and scale on
every case-3 model (40 distinct inputs = 1,600 pairs here, to fit CI; the benchmark repeats the check
on the full 100 inputs = 10,000 pairs)."""
import pytest
import torch

from pytest_circuit_ablation import data, engine, modes, oracle
from pytest_circuit_ablation.models import load_hl_model, load_ll_model
from pytest_circuit_ablation.nodes import all_nodes
from pytest_circuit_ablation.pca import fit_projection
from pytest_circuit_ablation.settings import DEFAULT_SCALES
from tests.helpers import MODEL_NAMES, case3, model_dir

N_INPUTS = 40
CONFIGS = [engine.Config(m, s) for m in modes.MODES for s in DEFAULT_SCALES]


@pytest.fixture(scope="module", params=MODEL_NAMES)
def setup(request):
    case = case3()
    hl = load_hl_model(case.dir)
    ll = load_ll_model(model_dir(request.param))
    tokens = data.encode_inputs(case, data.distinct_bodies(case, N_INPUTS, seed=7))
    with torch.no_grad():
        hl_out = hl(tokens)
        _, cache = ll.run_with_cache(tokens)
    nodes = all_nodes(2, 4)
    projections = {n: fit_projection(oracle.node_act(cache, n), 2, centre=(n.layer == 1)) for n in nodes}
    with torch.no_grad():
        expected = oracle.oracle_counts(ll, hl_out, tokens, nodes, CONFIGS, categorical=False,
                                        label_atol=case.label_atol, projections=projections, batch_size=800)
    return ll, hl_out, tokens, nodes, projections, expected, case


@pytest.mark.parametrize("fast", [True, False], ids=["float32-verified", "float64"])
def test_engine_equals_oracle(setup, fast):
    ll, hl_out, tokens, nodes, projections, expected, case = setup
    with torch.no_grad():
        eng = engine.Engine(ll, hl_out, tokens, categorical=False, label_atol=case.label_atol, fast=fast, memory_budget_mb=32)
        got = eng.run(nodes, CONFIGS, projections).counts
    mismatched = {k: (got[k], v) for k, v in expected.items() if got[k] != v}
    assert not mismatched, f"{len(mismatched)} of {len(expected)} differ, e.g. {list(mismatched.items())[:3]}"
    assert len(expected) == len(nodes) * len(modes.MODES) * len(DEFAULT_SCALES)


def test_counts_do_not_depend_on_batching(setup):
    ll, hl_out, tokens, nodes, projections, _, case = setup
    runs = []
    for budget in (16, 300):
        with torch.no_grad():
            eng = engine.Engine(ll, hl_out, tokens, categorical=False, label_atol=case.label_atol, memory_budget_mb=budget)
            runs.append(eng.run(nodes, CONFIGS, projections).counts)
    assert runs[0] == runs[1]

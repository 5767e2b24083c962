"""End to end: a no-op ablation, applied through a TransformerLens hook, leaves the output bit-identical."""
import pytest
import torch

from pytest_circuit_ablation.core import data, engine, modes, oracle
from pytest_circuit_ablation.core.hubfiles import load_ll_model
from pytest_circuit_ablation.core.nodes import all_nodes
from pytest_circuit_ablation.core.pca import fit_projection
from tests.helpers import case3, model_dir


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("mode", sorted(modes.IDENTITY_AT_ONE))
def test_identity_ablation_is_bit_identical(mode, dtype):
    case = case3()
    model = load_ll_model(model_dir("siit"), dtype=dtype)
    tokens = data.encode_inputs(case, data.distinct_bodies(case, 50, seed=3))
    with torch.no_grad():
        clean, cache = model.run_with_cache(tokens)
        for node in all_nodes(2, 4):
            act = oracle.node_act(cache, node)
            proj = fit_projection(act, 2, centre=False)
            proj = modes.Projection(proj.components.to(act.dtype))
            hook = oracle.make_hook(node, modes.Ablation(mode, 1.0), None, None, proj)
            out = model.run_with_hooks(tokens, fwd_hooks=[(node.hook, hook)])
            assert torch.equal(out, clean), node.name

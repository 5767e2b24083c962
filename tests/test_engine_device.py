"""The CUDA path has never run in this project's CI (no GPU there). What most often breaks it is a tensor
made without ``device=``: it lands on the CPU, and the first operation mixing it with the model's tensors
fails, on a GPU only. With torch's default device set to 'meta' once the models are loaded, such a tensor
lands on meta instead, and that first operation fails here too: a CPU run of everything after loading
(inputs, engine, PCA, HL reference, diagnosis statistics) then proves every tensor is made where the
model is. (Tensors brought from numpy and moved with ``.to(device)`` are not covered: they stay on the CPU
either way.)"""
import pytest
import torch

from pytest_circuit_ablation.core import evaluate
from pytest_circuit_ablation.core.sweep import Sweep


@pytest.mark.parametrize("case_id, centre", [("3", True),    # causal, regression; centred PCA (its means)
                                             ("14", False),  # bidirectional, categorical (KL sums)
                                             ("21", False)])  # four layers, pruned attention
def test_every_tensor_after_loading_is_made_on_the_models_device(case_id, centre, monkeypatch):
    load_pair = evaluate.load_pair

    def load_then_meta(*args, **kwargs):
        pair = load_pair(*args, **kwargs)
        torch.set_default_device("meta")
        return pair

    monkeypatch.setattr(evaluate, "load_pair", load_then_meta)
    before = torch.get_default_device()
    try:
        ev = evaluate.evaluate_case(case_id, "siit", Sweep(scales=(0.0, 0.5, 1.0, 2.0), inputs=20, pca_centre=centre))
    finally:
        torch.set_default_device(before)
    assert torch.get_default_device() == before
    assert ev.result.counts and ev.hl_effects and ev.node_stats
    assert all(t.device.type == "cpu" for t in (ev.inputs.tokens, ev.pair.ll.W_E))

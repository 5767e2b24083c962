"""Every compiled case beyond case 3 computes its task: the stored HL model agrees with ``reference()``.

Case 3 has its own, exhaustive check in test_hl_model.py. Here each other case folder gets 200 random
full-length inputs (seeded): regression outputs must match to 1e-4, categorical outputs must pick the
class (``tracr_layout.json``'s ``output_classes``, in class order) whose value ``reference()`` returns.
"""
import json

import pytest
import torch

from pytest_circuit_ablation.cases import available_case_ids, load_case
from pytest_circuit_ablation.compile import correspondence_from_layout
from pytest_circuit_ablation.models import load_hl_model
from pytest_circuit_ablation.train.siit import spec_ll_shape

CASE_IDS = [c for c in available_case_ids() if c != "3"]
N_INPUTS = 200


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_stored_hl_model_matches_the_reference(case_id):
    case = load_case(case_id)
    reference = case.module().reference
    layout = json.loads((case.dir / "tracr_layout.json").read_text())
    hl = load_hl_model(case.dir)
    assert hl.cfg.n_ctx == case.max_seq_len

    gen = torch.Generator().manual_seed(int(case_id) if case_id.isdigit() else 0)
    picks = torch.randint(len(case.vocab), (N_INPUTS, case.max_seq_len - 1), generator=gen)
    bodies = [[case.vocab[i] for i in row] for row in picks.tolist()]
    with torch.no_grad():
        out = hl(torch.tensor([case.encode(b) for b in bodies]))[:, 1:]
    expected = [reference(b) for b in bodies]

    if case.is_categorical:
        classes = layout["output_classes"]
        assert hl.cfg.d_vocab_out == len(classes)
        want = torch.tensor([[classes.index(str(v)) for v in row] for row in expected])
        got = out.argmax(-1)
        bad = (got != want).nonzero().tolist()
        assert not bad, f"first mismatch (input, position): {bad[0]}: {bodies[bad[0][0]]}"
    else:
        assert hl.cfg.d_vocab_out == 1
        want = torch.tensor([[float(v) for v in row] for row in expected], dtype=out.dtype)
        assert (out[..., 0] - want).abs().max() < 1e-4


@pytest.mark.parametrize("case_id", available_case_ids())
def test_ll_config_follows_spec_section_5_or_says_why(case_id):
    case = load_case(case_id)
    hl = json.loads((case.dir / "hl_model_cfg.json").read_text())
    ll = case.spec["ll_config"]
    rule = spec_ll_shape(hl)
    shape = {k: ll[k] for k in rule}
    departure = ll.get("departure")
    if departure is None:
        assert shape == rule
    else:
        assert shape != rule, "a departure is recorded but the shape follows the rule"
        assert departure["spec_section_5"] == {k: rule[k] for k in departure["spec_section_5"]}
        assert len(departure["why"]) > 40
    assert ll["d_model"] == ll["n_heads"] * ll["d_head"]


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_correspondence_follows_the_compiled_layout(case_id):
    """Spec section 6: same layer, same head index. (Case 3 carries InterpBench's override instead;
    test_hl_model.py checks it.)"""
    case = load_case(case_id)
    layout = json.loads((case.dir / "tracr_layout.json").read_text())
    assert case.spec["correspondence"] == correspondence_from_layout(layout)

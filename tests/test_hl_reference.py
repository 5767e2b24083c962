"""The gate's HL reference: what interchanging an HL node does inside the HL model itself, and why the
gate needs it (a perfect LL model does not score 1 on every in-circuit node)."""
import pytest
import torch

from pytest_circuit_ablation.core.cases import load_case, model_nodes
from pytest_circuit_ablation.core.modes import Ablation
from pytest_circuit_ablation.core.evaluate import evaluate_model
from pytest_circuit_ablation.core.metrics import effect
from pytest_circuit_ablation.core.nodes import parse_node
from pytest_circuit_ablation.core.oracle import oracle_counts
from pytest_circuit_ablation.core.sweep import Sweep


def _evaluate(case_id):
    case = load_case(case_id)
    ref = case.builtin_models[0]
    return evaluate_model(ref, model_nodes(ref), case.circuit(), Sweep(modes=("resample",), scales=(1.0,), inputs=40)), case


@pytest.mark.parametrize("case_id, hl_hook", [("13", "blocks.0.attn.hook_result[0]"), ("18", "blocks.0.attn.hook_result[1]"),
                                              # four layers, two of them with empty attention (pruned)
                                              ("21", "blocks.3.attn.hook_result[0]"), ("21", "blocks.1.mlp.hook_post")])
def test_hl_reference_equals_a_plain_transformerlens_interchange_in_the_hl_model(case_id, hl_hook):
    ev, case = _evaluate(case_id)
    hl_node = parse_node(hl_hook)
    ll_node = next(n for n in ev.circuit if n.hook == hl_node.hook and n.head == hl_node.head)
    counts = oracle_counts(ev.pair.hl, ev.inputs.hl_outputs, ev.inputs.tokens, [hl_node], [Ablation("resample", 1.0)],
                           categorical=case.is_categorical, label_atol=case.label_atol)
    assert ev.hl_effect(ll_node, "resample", 1.0) == effect(*counts[(hl_node, "resample", 1.0)])


def test_an_hl_variable_that_never_varies_has_no_effect_and_the_gate_expects_none():
    """Case 18's length head: every input has the same length, so the HL node never changes and its
    interchange does nothing; the absolute gate would fail a perfect model on it, the HL gate does not."""
    ev, _ = _evaluate("18")
    length_head = parse_node("blocks.0.attn.hook_result[1]")
    assert ev.hl_effect(length_head, "resample", 1.0) == 0.0
    assert effect(*ev.result.counts[(length_head, "resample", 1.0)]) < 0.01


def test_in_circuit_nodes_of_perfect_models_score_below_one_as_their_hl_nodes_do():
    """Case 13: comparing with the next token matters only where the label depends on it, so the head
    that fetches it scores what the HL head scores (about 0.6), far from 1, in the LL and the HL alike."""
    ev, _ = _evaluate("13")
    head = parse_node("blocks.0.attn.hook_result[0]")
    hl = ev.hl_effect(head, "resample", 1.0)
    assert 0.4 < hl < 0.8
    assert abs(effect(*ev.result.counts[(head, "resample", 1.0)]) - hl) <= 0.05


def _hl_21(n_inputs=40):
    from pytest_circuit_ablation.core import data
    from pytest_circuit_ablation.core.hubfiles import load_hl_model

    case = load_case("21")
    hl = load_hl_model(case.dir)
    tokens = data.encode_inputs(case, data.distinct_bodies(case, n_inputs, seed=3))
    with torch.no_grad():
        return case, hl, tokens, hl(tokens)


def test_a_tie_heavy_model_runs_in_float64_and_one_without_ties_in_float32():
    """Case 21's compiled HL model outputs exact ties wherever its program gives None (68% of counted
    cells), so float32 could decide few of its cells: the engine runs it in float64 from the start. Its
    trained LL model has no ties and keeps the fast float32 path."""
    from pytest_circuit_ablation.core.engine import Engine
    from pytest_circuit_ablation.core.hubfiles import load_ll_model

    case, hl, tokens, hl_out = _hl_21()
    with torch.no_grad():
        ll = load_ll_model(case.builtin_models[0].path)
        on_hl = Engine(hl, hl_out, tokens, categorical=True, label_atol=0.0, is_hl=True)
        on_ll = Engine(ll, hl_out, tokens, categorical=True, label_atol=0.0)
    assert on_hl._clean_tied_share() > 0.5 and on_hl.f32 is on_hl.f64
    assert on_ll._clean_tied_share() < 0.01 and on_ll.f32 is not on_ll.f64


def test_mostly_unsure_micro_batches_redone_in_float64_give_the_oracle_counts(monkeypatch):
    """With the float64 start turned off, nearly every row of case 21's HL runs holds a tie: each such
    micro-batch is recomputed whole in float64 through the batched path, and the counts still equal the
    plain float64 loop's."""
    from pytest_circuit_ablation.core.engine import Engine

    monkeypatch.setattr(Engine, "TIED_SHARE", 2.0)
    case, hl, tokens, hl_out = _hl_21()
    nodes = [parse_node("blocks.0.mlp.hook_post"), parse_node("blocks.1.mlp.hook_post"),
             parse_node("blocks.3.attn.hook_result[0]")]
    configs = [Ablation("resample", s) for s in (0.5, 1.0, 2.0)]
    with torch.no_grad():
        eng = Engine(hl, hl_out, tokens, categorical=True, label_atol=0.0, is_hl=True, memory_budget_mb=8)
        got = eng.run(nodes, configs).counts
        expected = oracle_counts(hl, hl_out, tokens, nodes, configs, categorical=True, label_atol=0.0)
    assert eng.f32 is not eng.f64 and eng.redone_batches > 0
    assert got == expected

"""Every built-in case is InterpBench's task: the stored HL model computes ``reference()``, its token ids,
classes, length and masking are what tracr compiles from the program, and the LL shape is InterpBench's.

Case 3 has its own exhaustive check in test_hl_model.py as well.
"""
import json
import os

import pytest
import torch

from pytest_circuit_ablation.core.cases import available_case_ids, load_case
from pytest_circuit_ablation.tools.compile import correspondence_from_layout
from pytest_circuit_ablation.core.interpbench import ll_shape
from pytest_circuit_ablation.core.hubfiles import load_hl_model

CASE_IDS = available_case_ids()
MAX_INPUTS = 2000

#: InterpBench's first hub release: the sixteen case ids, and per case (max_seq_len, causal) and the LL
#: shape (layers, heads, d_head, d_model, d_mlp) its rule gives (the table in ../shared/reference/interpbench-cases.md, beside the project).
INTERPBENCH = {
    "3": (5, True, (2, 4, 3, 12, 48)), "4": (10, True, (2, 4, 5, 20, 80)), "7": (10, False, (2, 4, 4, 17, 68)),
    "8": (10, True, (2, 4, 1, 4, 16)), "11": (10, True, (2, 4, 3, 12, 48)), "13": (10, False, (2, 4, 5, 20, 80)),
    "14": (10, False, (2, 4, 2, 8, 32)), "18": (10, False, (2, 4, 6, 26, 104)), "19": (15, True, (2, 4, 8, 32, 128)),
    "21": (10, True, (4, 4, 12, 50, 200)), "24": (10, True, (2, 4, 9, 36, 144)), "33": (10, True, (2, 4, 1, 4, 16)),
    "34": (10, True, (2, 4, 4, 16, 64)), "35": (10, True, (2, 4, 2, 9, 36)), "36": (10, True, (2, 4, 1, 6, 24)),
    "37": (10, True, (2, 4, 3, 12, 48)),
}


def test_the_sixteen_cases_of_the_first_hub_release_are_built_in():
    assert set(INTERPBENCH) <= set(CASE_IDS)


def _bodies(case):
    """Every full-length body when there are at most MAX_INPUTS, else MAX_INPUTS seeded random ones."""
    values, length = case.vocab_values, case.max_seq_len - 1
    if len(values) ** length <= MAX_INPUTS:
        import itertools

        return [list(b) for b in itertools.product(values, repeat=length)]
    gen = torch.Generator().manual_seed(int(case.id))
    picks = torch.randint(len(values), (MAX_INPUTS, length), generator=gen)
    return [[values[i] for i in row] for row in picks.tolist()]


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_stored_hl_model_computes_the_reference(case_id):
    """reference() against the stored HL on every input or 2000 random ones, positions where the program
    gives None excepted (there the compiled HL is the label by definition)."""
    case = load_case(case_id)
    reference = case.module().reference
    hl = load_hl_model(case.dir)
    bodies = _bodies(case)
    with torch.no_grad():
        out = hl(torch.tensor([case.encode(b) for b in bodies]))[:, 1:]
    expected = [reference(b) for b in bodies]
    if case.is_categorical:
        classes = case.output_classes
        got = out.argmax(-1).tolist()
        bad = [(i, p) for i, row in enumerate(expected) for p, v in enumerate(row)
               if v is not None and classes[got[i][p]] != v]
        assert not bad, f"{len(bad)} cells differ; first (input, position): {bad[0]}: {bodies[bad[0][0]]}"
        assert type(classes[0]) is type(next(v for row in expected for v in row if v is not None))
    else:
        want = torch.tensor([[float(v) for v in row] for row in expected], dtype=out.dtype)
        assert (out[..., 0] - want).abs().max() < 1e-4


@pytest.mark.parametrize("case_id", sorted(INTERPBENCH, key=int))
def test_length_masking_and_shape_are_interpbenchs(case_id):
    case = load_case(case_id)
    max_seq_len, causal, _ = INTERPBENCH[case_id]
    hl = json.loads((case.dir / "hl_model_cfg.json").read_text())
    assert (case.max_seq_len, case.causal) == (max_seq_len, causal)
    assert (case.spec["interpbench"]["max_seq_len"], case.spec["interpbench"]["causal"]) == (max_seq_len, causal)
    assert hl["n_ctx"] == max_seq_len
    assert hl["attention_dir"] == ("causal" if causal else "bidirectional")
    assert hl["d_vocab"] == len(case.encoding) == len(case.vocab) + 2
    assert hl["d_vocab_out"] == (len(case.output_classes) if case.is_categorical else 1)


@pytest.mark.parametrize("case_id", sorted(INTERPBENCH, key=int))
def test_ll_shape_rule_gives_interpbenchs_table(case_id):
    hl = json.loads((load_case(case_id).dir / "hl_model_cfg.json").read_text())
    shape = ll_shape(case_id, hl)
    assert tuple(shape[k] for k in ("n_layers", "n_heads", "d_head", "d_model", "d_mlp")) == INTERPBENCH[case_id][2]


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_ll_config_follows_interpbenchs_rule_or_says_why(case_id):
    case = load_case(case_id)
    hl = json.loads((case.dir / "hl_model_cfg.json").read_text())
    ll = case.spec["ll_config"]
    rule = ll_shape(case_id, hl)
    shape = {k: ll[k] for k in rule}
    departure = ll.get("departure")
    if departure is None:
        assert shape == rule
    else:
        assert shape != rule, "a departure is recorded but the shape follows the rule"
        assert departure["interpbench_rule"] == {k: rule[k] for k in departure["interpbench_rule"]}
        assert len(departure["why"]) > 40


@pytest.mark.parametrize("case_id", [c for c in CASE_IDS if not load_case(c).spec.get("correspondence_override")])
def test_correspondence_follows_the_compiled_layout(case_id):
    """Same layer, same head index as the compiled HL. (Case 3 carries InterpBench's override instead;
    test_hl_model.py checks it.)"""
    case = load_case(case_id)
    layout = json.loads((case.dir / "tracr_layout.json").read_text())
    assert case.spec["correspondence"] == correspondence_from_layout(layout)


def _tracr_or_skip():
    try:
        import tracr  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("tracr is not installed; CI must recompile every case (scripts/setup.sh --compile)")
        pytest.skip("tracr not installed (pip install -e '.[compile]')")


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_recompiling_the_program_gives_the_stored_case(case_id):
    """tracr compiles program.py into exactly the stored HL weights, and case.json's token ids, vocabulary
    order, output classes and correspondence are the compiled model's own (compile_case refuses a
    difference, naming the field)."""
    _tracr_or_skip()
    from pytest_circuit_ablation.tools.compile import compile_program, derived_spec, spec_differences, to_hooked_transformer

    case = load_case(case_id)
    program, assembled = compile_program(case)
    model, layout = to_hooked_transformer(case, program, assembled)
    assert spec_differences(case, derived_spec(case, assembled, layout)) == []
    stored = load_hl_model(case.dir, dtype="float32").state_dict()
    fresh = model.state_dict()
    assert set(fresh) == set(stored)
    worst = max(float((fresh[k].float() - stored[k].float()).abs().max()) for k in fresh if fresh[k].numel())
    assert worst == 0.0


def test_the_compile_tool_says_which_correspondence_the_gate_uses(tmp_path, capsys):
    """For case 3 it printed the compiled layout's correspondence (L1H0) as if the gate would use it; the
    gate uses case.json's override (L1H2)."""
    import shutil

    from pytest_circuit_ablation.tools.compile import main as compile_main

    _tracr_or_skip()
    shutil.copytree(load_case("3").dir, tmp_path / "3", ignore=shutil.ignore_patterns("models"))
    assert compile_main(["3", "--cases-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "case 3: correspondence: case.json's own, which the gate uses (correspondence_override: " in out
    assert '"ll": ["blocks.1.attn.hook_result[2]"]' in out.split("the compiled layout's would be")[0]
    # without the override, case.json holds the compiled correspondence, and says so
    spec = json.loads((tmp_path / "3" / "case.json").read_text())
    spec.pop("correspondence_override")
    spec["correspondence"] = correspondence_from_layout(json.loads((tmp_path / "3" / "tracr_layout.json").read_text()))
    (tmp_path / "3" / "case.json").write_text(json.dumps(spec))
    assert compile_main(["3", "--cases-dir", str(tmp_path)]) == 0
    assert "case 3: correspondence from the compiled layout, as case.json has it: " in capsys.readouterr().out


@pytest.mark.parametrize("case_id", ["13"])
def test_the_compile_tools_check_against_tracr_holds_where_the_program_gives_none(case_id):
    """circuit-ablation-compile 13 failed ("converted model disagrees with tracr by 1.0"): it compared the
    argmaxes of tracr's and TransformerLens's outputs, which at the last position (the program gives None:
    the logits are ~0 and tied) break the tie differently. It compares the logits."""
    _tracr_or_skip()
    from pytest_circuit_ablation.tools.compile import check_against_tracr, compile_program, to_hooked_transformer

    case = load_case(case_id)
    program, assembled = compile_program(case)
    model, _ = to_hooked_transformer(case, program, assembled)
    assert check_against_tracr(case, assembled, model, samples=200) < 1e-4

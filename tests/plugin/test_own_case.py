"""A task of one's own, as the README's "A task of your own" walks through it: a draft case.json and a
RASP program, compiled (tracr fills in what it decides), trained, and gated from $CIRCUIT_ABLATION_CASES."""
import json

import pytest

from tests.plugin.conftest import read_csv

# imported here, before pytester's snapshot of sys.modules: a test that uses pytester drops what it imported,
# and importing JAX a second time in one process aborts it (absl's SetTimeZone "has already been called")
pytest.importorskip("tracr.compiler.compiling", reason="tracr not installed: pip install -e '.[compile]' (CI installs it)")

PROGRAM = '''
def program():
    from tracr.rasp import rasp

    first = rasp.Select(rasp.indices, rasp.indices, lambda key, query: key == 0).named("first")
    first_token = rasp.categorical(rasp.Aggregate(first, rasp.tokens)).named("first_token")
    return rasp.categorical(rasp.Map(lambda token: token == "a", first_token)).named("first_is_a")


def reference(body):
    return [body[0] == "a" for _ in body]
'''
DRAFT = {"name": "first_is_a", "output": "categorical", "vocab": ["c", "a", "b"], "max_seq_len": 5, "causal": True,
         "ll_config": {"n_layers": 2, "n_heads": 4, "d_head": 3, "d_model": 12, "d_mlp": 48}}


def _case(root, program=PROGRAM, draft=DRAFT):
    (root / "isa").mkdir(parents=True)
    (root / "isa" / "program.py").write_text(program)
    (root / "isa" / "case.json").write_text(json.dumps(draft))
    return root / "isa"


def test_a_draft_case_compiles_trains_and_gates(run_suite, pytester, tmp_path, monkeypatch, capsys):
    """A new case's case.json cannot hold tracr's token ids before the first compile: compiling refused
    the draft ('missing key encoding'), and with a guessed encoding said only that the converted model
    disagrees with tracr."""
    from pytest_circuit_ablation.tools.compile import main as compile_main
    from pytest_circuit_ablation.tools.train.cli import main as train_main

    cases = tmp_path / "cases"
    folder = _case(cases)
    monkeypatch.setenv("CIRCUIT_ABLATION_CASES", str(cases))
    assert compile_main(["isa"]) == 2  # without --update-case-json the draft is refused, saying what fills it in
    assert "missing key 'encoding' (circuit-ablation-compile --update-case-json fills it in)" in capsys.readouterr().err
    assert compile_main(["isa", "--update-case-json"]) == 0
    spec = json.loads((folder / "case.json").read_text())
    assert spec["encoding"] == {"BOS": 0, "PAD": 1, "a": 2, "b": 3, "c": 4} and spec["vocab"] == ["a", "b", "c"]
    assert spec["output_classes"] == [False, True] and "?" not in spec["correspondence"]
    assert {e["hl"] for e in spec["correspondence"].values()} == {"blocks.0.attn.hook_result[0]", "blocks.0.mlp.hook_post"}
    assert all(e["ll"] == [e["hl"]] for e in spec["correspondence"].values())
    assert compile_main(["isa"]) == 0  # the filled-in case.json is what tracr compiles
    capsys.readouterr()
    assert train_main(["isa", "--name", "siit", "--max-seconds", "120", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert f"gate it with: CIRCUIT_ABLATION_CASES=" not in out  # set in the environment, not by --cases-dir
    result = run_suite("--ablation-tasks=isa", "--ablation-inputs=20", "--ablation-report", fast=False,
                       *("--ablation-modes=resample,zero", "--ablation-scales=0,1", "--ablation-images=none"))
    assert result.ret == 0, result.stdout.str()[-3000:]
    result.stdout.fnmatch_lines(["caseisa siit * PASS *"])
    models = read_csv(pytester.path / "reports" / "models.csv")
    assert [(m["task"], m["model"], m["verdict"]) for m in models] == [("isa", "siit", "PASS")]


def test_a_program_tracr_compiles_unfaithfully_is_refused(tmp_path, capsys):
    """tracr compiles a categorical aggregate over several keys into a model that is not the program; only
    tracr's model against itself was checked, so that model was written as the case's HL model."""
    from pytest_circuit_ablation.tools.compile import main as compile_main

    program = '''
def program():
    from tracr.rasp import rasp

    earlier = rasp.Select(rasp.indices, rasp.indices, rasp.Comparison.LEQ)
    return rasp.Aggregate(earlier, rasp.tokens).named("earlier_token")
'''
    folder = _case(tmp_path, program, dict(DRAFT, name="earlier_token", max_seq_len=4))
    assert compile_main(["isa", "--cases-dir", str(tmp_path), "--update-case-json"]) == 2
    err = capsys.readouterr().err
    assert f"error: {folder / 'program.py'}: " in err and err.count("\n") == 1
    assert "RASP's own evaluation of program() fails on" in err or "tracr cannot compile this program faithfully" in err
    assert not (folder / "hl_model.pth").exists()
    # a reference() that is another function than the program is refused too
    (folder / "program.py").write_text(PROGRAM.replace('return [body[0] == "a" for _ in body]', 'return [body[0] == "b" for _ in body]'))
    assert compile_main(["isa", "--cases-dir", str(tmp_path), "--update-case-json"]) == 2
    assert "reference() gives" in capsys.readouterr().err

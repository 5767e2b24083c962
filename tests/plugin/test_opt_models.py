"""--ablation-models: a user's InterpBench-layout folder, gated with the one documented command."""
import json
import pickle
from itertools import product

import torch

from pytest_circuit_ablation.core.hubfiles import load_ll_model
from tests.helpers import case3

from tests.plugin.conftest import read_csv


def test_user_folder_is_gated(run_suite, pytester, interpbench_dir):
    result = run_suite(f"--ablation-models={interpbench_dir}", "--ablation-report")
    result.assert_outcomes(passed=34)  # 1 load, 1 accuracy, 20 effects, 2 separations, 10 diagnoses
    rows = read_csv(pytester.path / "reports" / "ablation.csv")
    assert {r["model"] for r in rows} == {"InterpBench"} and len(rows) == 20
    result.stdout.fnmatch_lines(["*case3 InterpBench*PASS*"])


def test_perturbed_out_of_circuit_head_fails_the_gate_by_name(run_suite, interpbench_dir):
    """Out-of-circuit head L1H3 is rewired to do half of in-circuit head L1H2's work (same Q/K/V, each
    with half of W_O; L1H3's old constant output moved into b_O): the model still does its task, but
    the circuit no longer explains it, and the gate says which node is to blame."""
    path = interpbench_dir / "3" / "ll_model.pth"
    state = torch.load(path, weights_only=True)
    model = load_ll_model(interpbench_dir / "3", dtype="float32")
    tokens = torch.tensor([case3().encode(list(b)) for b in product("abcx", repeat=4)])
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens)
    state["blocks.1.attn.b_O"] += cache["blocks.1.attn.hook_result"][:, 1:, 3].mean(dim=(0, 1))
    for w in ("W_Q", "W_K", "W_V", "b_Q", "b_K", "b_V"):
        state[f"blocks.1.attn.{w}"][3] = state[f"blocks.1.attn.{w}"][2]
    state["blocks.1.attn.W_O"][2] /= 2
    state["blocks.1.attn.W_O"][3] = state["blocks.1.attn.W_O"][2]
    torch.save(state, path)
    result = run_suite(f"--ablation-models={interpbench_dir}")
    assert result.ret == 1
    result.stdout.fnmatch_lines([
        "case3-InterpBench-L1H3-resample-1.0: out-of-circuit node: Wilson upper bound * > tau_out 0.1",
        "case3-InterpBench-resample-1.0: gate fails; out-of-circuit above tau_out 0.1: L1H3=*",
        "case3 InterpBench * FAIL *offenders: L1H3=?.???[[]upper=?.???[]]",  # judged on the upper bound
    ])
    result.assert_outcomes(passed=32, failed=2)  # with 10 diagnosis items
    assert "test_accuracy" not in result.stdout.str().split("short test summary")[-1]


def test_edges_pkl_defines_the_circuit(run_suite, interpbench_dir):
    """A folder's edges.pkl replaces the case's correspondence: naming the wrong head fails the gate."""
    edges = [("blocks.0.hook_mlp_out", "blocks.1.hook_q_input[1]"), ("blocks.1.attn.hook_result[1]", "blocks.1.hook_resid_post")]
    (interpbench_dir / "3" / "edges.pkl").write_bytes(pickle.dumps(edges))
    report = interpbench_dir.parent / "report"
    result = run_suite(f"--ablation-models={interpbench_dir}", "--ablation-report", f"--ablation-report-dir={report}",
                       "--ablation-images=none")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*case3-InterpBench-resample-1.0*in-circuit off its mark: L1H1=*out-of-circuit above tau_out 0.1: L1H2=*"])
    # the report says which circuit judged the model: its files' hash alone read the same as under case 3's own
    meta = json.loads((report / "ablation.json").read_text())
    assert meta["definitions"]["case3-InterpBench"]["circuit"] == ["L0MLP", "L1H1"]  # case 3's own: L0MLP, L1H2
    assert meta["definitions"]["case3-InterpBench"]["circuit_from"] == "edges.pkl"
    assert meta["provenance"]["models_dir"] == str(interpbench_dir.resolve())


def test_folder_without_any_loadable_case(run_suite, tmp_path):
    (tmp_path / "empty" / "3").mkdir(parents=True)
    result = run_suite(f"--ablation-models={tmp_path / 'empty'}")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["ERROR: --ablation-models *empty: no <case>/ll_model.pth inside*"])


def test_case_number_without_task_definition(run_suite, interpbench_dir):
    """One case is refused with one line naming it; the other still runs."""
    (interpbench_dir / "999").mkdir()
    for f in (interpbench_dir / "3").iterdir():
        (interpbench_dir / "999" / f.name).write_bytes(f.read_bytes())
    result = run_suite(f"--ablation-models={interpbench_dir}", "--ablation-tasks=3,999", fast=False,
                       *("--ablation-modes=resample", "--ablation-scales=1.0", "--ablation-inputs=30"))
    assert result.ret == 4  # 999 is not a built-in task: an unknown --ablation-tasks value
    result = run_suite(f"--ablation-models={interpbench_dir}", fast=False,
                       *("--ablation-modes=resample", "--ablation-scales=1.0", "--ablation-inputs=30"))
    result.assert_outcomes(passed=23, failed=1)  # with 10 diagnosis items
    result.stdout.fnmatch_lines(["case999-InterpBench refused: unknown task '999': no */cases/999/case.json*", "case999 InterpBench *REFUSED: unknown task '999'*"])


def test_interpbench_shaped_models_of_all_sixteen_cases_reach_their_accuracy_item(run_suite, tmp_path):
    """Untrained models configured by InterpBench's LL rule: every one loads and is judged (its accuracy
    item fails on its numbers); nothing is refused. An altered copy is refused in one line."""
    from tests.helpers import interpbench_shaped_folder
    from tests.test_cases_compiled import INTERPBENCH

    hub = interpbench_shaped_folder(tmp_path / "InterpBench", sorted(INTERPBENCH, key=int))
    cfg = pickle.loads((hub / "33" / "ll_model_cfg.pkl").read_bytes())
    cfg["n_ctx"] = 6
    (hub / "33" / "ll_model_cfg.pkl").write_bytes(pickle.dumps(cfg))
    result = run_suite(f"--ablation-models={hub}", fast=False,
                       *("--ablation-modes=resample", "--ablation-scales=1.0", "--ablation-inputs=20"))
    out = result.stdout.str()
    for case_id in INTERPBENCH:
        if case_id == "33":
            continue
        assert f"case{case_id}-InterpBench refused" not in out
        result.stdout.fnmatch_lines([f"case{case_id}-InterpBench: LL matches HL on *% of cells*"])
    result.stdout.fnmatch_lines(["case33-InterpBench refused: *33/ll_model_cfg.pkl: n_ctx is 6, but built-in case 33 (*) has 10;*"])


def _as_control(tmp_path, monkeypatch, model):
    """A copy of the built-in case 3 whose only model is ``model``, declared a negative control."""
    import json
    import shutil

    from tests.helpers import CASE3

    root = tmp_path / "cases"
    shutil.copytree(CASE3, root / "3", ignore=shutil.ignore_patterns("models"))
    shutil.copytree(CASE3 / "models" / model, root / "3" / "models" / "control")
    spec = json.loads((root / "3" / "case.json").read_text())
    spec["models"] = {"control": {"role": "negative-control", "why": "planted for a test"}}
    (root / "3" / "case.json").write_text(json.dumps(spec))
    monkeypatch.setenv("CIRCUIT_ABLATION_CASES", str(root))
    return root


def test_a_negative_control_that_passes_its_gate_fails_the_run_as_accepted(run_suite, tmp_path, monkeypatch):
    _as_control(tmp_path, monkeypatch, "siit")  # the SIIT model passes the gate: as a control it must not
    result = run_suite()
    assert result.ret == 1
    result.stdout.fnmatch_lines(["case3 control * ACCEPTED (a negative control passed the gate!)*", "FAILED *case3-control-resample-1.0* - [[]XPASS*"])


def test_a_negative_control_that_errors_is_not_counted_as_rejected(run_suite, monkeypatch):
    """Only the gate's own rejection counts: an error inside a control's gate item fails the run."""
    import pytest_circuit_ablation.suite.checks as checks

    def broken(*_):
        raise RuntimeError("planted error")

    monkeypatch.setattr(checks, "separation", broken)
    result = run_suite("--ablation-tasks=3")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["FAILED test_circuits.py::test_separation[[]case3-iit-resample-1.0[]] - RuntimeErr*"])


def test_a_rejected_control_leaves_no_xpass_noise(run_suite):
    result = run_suite()
    assert result.ret == 0
    out = result.stdout.str()
    assert "XPASS" not in out and "xpassed" not in out
    result.stdout.fnmatch_lines(["case3 iit * REJECTED (as a negative control must be)*", "case3 natural * REJECTED (as a negative control must be)*"])


def test_a_task_filter_that_leaves_no_case_of_the_folder_says_which_cases_it_has(run_suite, interpbench_dir):
    result = run_suite(f"--ablation-models={interpbench_dir}", "--ablation-tasks=4")
    assert result.ret == 4
    result.stderr.fnmatch_lines([f"ERROR: --ablation-tasks 4: no such case under --ablation-models {interpbench_dir} (it has 3)"])
    result = run_suite(f"--ablation-models={interpbench_dir}", "--ablation-tasks=3,4")  # ran 3, said nothing of 4
    assert result.ret == 4
    result.stderr.fnmatch_lines([f"ERROR: --ablation-tasks 4: no such case under --ablation-models {interpbench_dir} (it has 3)"])


def test_a_folder_of_unusable_files_is_refused_naming_the_file_and_what_is_wrong(run_suite, interpbench_dir):
    """Each is one short line naming the user's file: an activation the engine does not compute (it was
    TransformerLens's assertion, 650 characters of function addresses), a config with fewer heads than
    the circuit names (it blamed only the built-in case.json), weights that are a folder (it said "file
    not found")."""
    folder = interpbench_dir / "3"
    original = (folder / "ll_model_cfg.pkl").read_bytes()
    cfg = pickle.loads(original)
    for change, expected in [
        ({"act_fn": "swishy"}, f"*{folder}/ll_model_cfg.pkl: act_fn = 'swishy' is not supported (supported: gelu, gelu_new, "
                               "gelu_pytorch_tanh, relu, silu))"),
        ({"n_heads": 2}, f"*case.json: circuit names nodes the model does not have: blocks.1.attn.hook_result[[]2[]] "
                         f"(its {folder}/ll_model_cfg.pkl: 2 layers, 2 heads))"),
    ]:
        (folder / "ll_model_cfg.pkl").write_bytes(pickle.dumps({**cfg, **change}))
        result = run_suite(f"--ablation-models={interpbench_dir}")
        assert result.ret == 4
        result.stderr.fnmatch_lines([expected])
        assert "<function" not in result.stderr.str()
    (folder / "ll_model_cfg.pkl").write_bytes(original)
    (folder / "ll_model.pth").unlink()
    (folder / "ll_model.pth").mkdir()
    result = run_suite(f"--ablation-models={interpbench_dir}")
    assert result.ret == 4
    result.stderr.fnmatch_lines([f"*{folder}/ll_model.pth: a folder, not a file)"])

"""Faults are survived and bad models refused with one line while the rest still runs."""
import shutil

import torch

from pytest_circuit_ablation.core.hubfiles import save_ll_model
from tests.helpers import CASE3
from tests.plugin.conftest import read_csv


def _builtin_copy(tmp_path, monkeypatch):
    """A private copy of the built-in cases (so a test may break one of its models)."""
    root = tmp_path / "cases"
    shutil.copytree(CASE3, root / "3")
    monkeypatch.setenv("CIRCUIT_ABLATION_CASES", str(root))
    return root / "3"


def test_refused_model_does_not_stop_the_others(run_suite, pytester, tmp_path, monkeypatch):
    case = _builtin_copy(tmp_path, monkeypatch)
    state = torch.load(case / "models" / "natural" / "ll_model.pth", weights_only=True)
    state["blocks.0.mlp.W_in"][0, 0] = float("nan")
    torch.save(state, case / "models" / "natural" / "ll_model.pth")
    result = run_suite("--ablation-report")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["case3-natural refused: */models/natural/ll_model.pth: weight blocks.0.mlp.W_in has NaN or infinite values"])
    models = {m["model"]: m for m in read_csv(pytester.path / "reports" / "models.csv")}
    assert models["natural"]["load"] == "failed" and "NaN or infinite" in models["natural"]["message"]
    assert models["siit"]["load"] == "passed" and models["siit"]["accuracy_outcome"] == "passed"
    result.stdout.fnmatch_lines(["case3 natural * REFUSED: *NaN or infinite values", "case3 siit * PASS *"])


def test_untrained_model_fails_accuracy_and_its_gate_is_not_meaningful(run_suite, tmp_path):
    from transformer_lens import HookedTransformer

    from pytest_circuit_ablation.core.hubfiles import load_ll_model

    trained = load_ll_model(CASE3 / "models" / "siit", dtype="float32")
    torch.manual_seed(1)
    untrained = HookedTransformer(trained.cfg, move_to_device=False)
    save_ll_model(untrained, tmp_path / "Untrained" / "3")
    result = run_suite(f"--ablation-models={tmp_path / 'Untrained'}", "-rs")
    result.assert_outcomes(passed=22, failed=1, skipped=11)  # skipped: the checkpoint items (10 nodes + the gate); passed: 10 diagnoses (invariants only)
    result.stdout.fnmatch_lines(["case3-Untrained: LL matches HL on *% of cells*needs 99%"])
    result.stdout.fnmatch_lines(["*not meaningful: case3-Untrained matches its HL model on only*"])
    result.stdout.fnmatch_lines(["case3 Untrained * NOT MEANINGFUL *"])
    # its nodes are not listed as leaking beside that verdict: its effects say nothing about them
    result.stdout.fnmatch_lines(["diagnosis: 0 nodes of gated models flagged *"])
    assert "case3 Untrained L0H0:" not in result.stdout.str()


def _snapshot(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_interrupted_run_keeps_the_previous_report(run_suite, pytester):
    assert run_suite("--ablation-report").ret == 0
    before = _snapshot(pytester.path / "reports")
    pytester.makepyfile(interrupt_plugin='''
        def pytest_runtest_call(item):
            if "case3-siit-L0H3" in item.nodeid:
                raise KeyboardInterrupt
    ''')
    pytester.syspathinsert()
    result = run_suite("--ablation-report", "--ablation-inputs=31", "-p", "interrupt_plugin", subprocess=True)
    assert result.ret == 2
    assert _snapshot(pytester.path / "reports") == before
    assert run_suite("--ablation-report", "--ablation-inputs=31").ret == 0
    after = _snapshot(pytester.path / "reports")
    assert after.keys() == before.keys() and after["ablation.csv"] != before["ablation.csv"]


def test_an_interrupt_before_any_item_finished_is_called_an_interrupt(run_suite, pytester):
    """Ctrl-C during the first model's evaluation said the items were deselected or only collected."""
    pytester.makepyfile(interrupt_plugin='''
        def pytest_runtest_call(item):
            raise KeyboardInterrupt
    ''')
    pytester.syspathinsert()
    result = run_suite("--ablation-report", "-p", "interrupt_plugin", subprocess=True)
    assert result.ret == 2
    result.stdout.fnmatch_lines(["--ablation-report given, but the run was interrupted before any of the suite's items "
                                 "finished: nothing was gated and no report written"])


def test_killed_worker_keeps_the_previous_report(run_suite, pytester, monkeypatch):
    assert run_suite("--ablation-report", "-n", "2").ret == 0
    before = (pytester.path / "reports" / "ablation.csv").read_bytes()
    pytester.makepyfile(crash_plugin='''
        import os
        def pytest_runtest_call(item):
            if "case3-siit-L1H1-resample-1.0" in item.nodeid and os.environ.get("PYTEST_XDIST_WORKER"):
                os._exit(1)
    ''')
    pytester.syspathinsert()
    monkeypatch.setenv("PYTHONPATH", str(pytester.path))  # for the xdist workers
    result = run_suite("--ablation-report", "--ablation-inputs=31", "-n", "2", "-p", "crash_plugin", subprocess=True)
    assert result.ret == 1
    # the item that crashed its worker is not sent again (xdist's LoadScope re-sent it: it crashed a second
    # worker, or ran twice), and the rest of its case runs on a replacement worker
    result.stdout.fnmatch_lines(["*report not written (1 item lost with a crashed worker)*"])
    result.assert_outcomes(failed=1, passed=99, xfailed=2)  # the 102 items of case 3 at the fast settings, each once
    assert (pytester.path / "reports" / "ablation.csv").read_bytes() == before


def test_three_serial_runs_and_a_parallel_one_are_byte_identical(run_suite, pytester):
    outputs = []
    for i, extra in enumerate([(), (), (), ("-n", "2")]):
        assert run_suite("--ablation-report", f"--ablation-report-dir=r{i}", *extra).ret == 0
        outputs.append({n: (pytester.path / f"r{i}" / n).read_bytes() for n in ("ablation.csv", "separation.csv", "models.csv")})
    assert all(o == outputs[0] for o in outputs)


def test_edges_naming_missing_nodes(run_suite, interpbench_dir):
    import pickle

    (interpbench_dir / "3" / "edges.pkl").write_bytes(pickle.dumps([("blocks.5.attn.hook_result[9]", "blocks.1.hook_resid_post")]))
    result = run_suite(f"--ablation-models={interpbench_dir}")
    assert result.ret == 4  # the only case in the folder is refused: nothing loadable
    result.stderr.fnmatch_lines(["ERROR: --ablation-models *: no loadable case (*edges.pkl: circuit names nodes the model does not have: blocks.5.attn.hook_result?9? "
                                 "(its *ll_model_cfg.pkl: 2 layers, 4 heads))"])


def test_huge_sweep_is_refused_up_front_with_the_memory_it_needs(run_suite, interpbench_dir, monkeypatch):
    """Case 3's 250 inputs need a few MB of pair grid; the default 128 MiB micro-batch budget is what does
    not fit in 100 MiB, so that is the option named (tests/test_store.py has the inputs' side)."""
    import pytest_circuit_ablation.core.evaluate as evaluate

    monkeypatch.setattr(evaluate, "available_bytes", lambda device: 100 * 2**20)
    result = run_suite(f"--ablation-models={interpbench_dir}", "--ablation-inputs=250", fast=False,
                       *("--ablation-modes=resample", "--ablation-scales=1.0"))
    assert result.ret == 1
    result.stdout.fnmatch_lines(["case3-InterpBench refused: --ablation-memory-mb 128: the sweep of case3-InterpBench needs about * GiB "
                                 "(0.0 GiB for 250 inputs' pairs, 0.1 GiB micro-batch budget), only 0.1 GiB is available"])


def test_model_that_never_reached_its_targets_is_reported_not_dropped(run_suite, pytester, tmp_path, monkeypatch):
    import json

    case = _builtin_copy(tmp_path, monkeypatch)
    spec = json.loads((case / "case.json").read_text())
    spec["models"]["extra"] = {"role": "gated", "status": "not-trained", "why": "strict accuracy 84.8% after 2500 steps"}
    (case / "case.json").write_text(json.dumps(spec))
    result = run_suite("--ablation-report", "-rs")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["case3 extra * SKIPPED: not trained to its targets: strict accuracy 84.8%*"])
    result.stdout.fnmatch_lines(["SKIPPED * case3-extra: not trained to its targets: strict accuracy 84.8% after 2500 steps*"])
    models = {m["model"]: m for m in read_csv(pytester.path / "reports" / "models.csv")}
    assert models["extra"]["load"] == "skipped" and "84.8%" in models["extra"]["message"]


def test_edges_naming_no_node_are_refused_not_judged_as_an_empty_circuit(run_suite, interpbench_dir):
    import pickle

    (interpbench_dir / "3" / "edges.pkl").write_bytes(pickle.dumps([("blocks.0.hook_resid_pre", "blocks.1.hook_resid_post")]))
    result = run_suite(f"--ablation-models={interpbench_dir}")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["ERROR: --ablation-models *: no loadable case (*edges.pkl: names no attention head or MLP "
                                 "of the model (endpoints: blocks.0.hook_resid_pre, blocks.1.hook_resid_post)*"])


def test_a_run_stopped_by_maxfail_keeps_the_previous_report(run_suite, pytester):
    """-x ends a serial run as failed, not interrupted, with most items never run: its rows would replace a
    whole report with a fragment."""
    assert run_suite("--ablation-report").ret == 0
    before = _snapshot(pytester.path / "reports")
    result = run_suite("--ablation-report", "--ablation-tau-out=0", "-x")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["report not written (the run stopped early: stopping after 1 failures); the previous "
                                 "one is left as it was", "*stopping after 1 failures*"])
    assert _snapshot(pytester.path / "reports") == before
    # under xdist, and with --sw, pytest ends such a run as interrupted: it still stopped by request
    from tests.plugin.conftest import FAST

    for result in (run_suite("--ablation-report", "--ablation-tau-out=0", "-n", "2", "-x"),
                   pytester.runpytest("--pyargs", "pytest_circuit_ablation", "-p", "no:randomly", *FAST, "--sw",
                                      "--ablation-report", "--ablation-tau-out=0")):  # --sw needs the cache
        assert result.ret in (1, 2)
        result.stdout.fnmatch_lines(["report not written (the run stopped early*); the previous one is left as it was"])
        assert _snapshot(pytester.path / "reports") == before


def test_a_selection_that_splits_a_model_keeps_the_previous_report(run_suite, pytester):
    """-k that keeps only some items of a model (here its separation items): the page listed verdicts for
    models whose node tables and accuracy were missing, with links to anchors that did not exist. A
    selection of whole models writes their report."""
    assert run_suite("--ablation-report").ret == 0
    before = _snapshot(pytester.path / "reports")
    result = run_suite("--ablation-report", "-k", "test_separation")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["report not written (only some of the items of case3-iit, case3-natural and 1 more ran; *); "
                                 "the previous one is left as it was"])
    assert _snapshot(pytester.path / "reports") == before
    result = run_suite("--ablation-report", "-k", "L0H0")  # some items of every model, none of them a load item
    assert "selection:" not in result.stdout.str()  # it said "0 of the 3 planned models ran" under their rows
    result.stdout.fnmatch_lines(["report not written (only some of the items of *"])
    result = run_suite("--ablation-report", "-k", "siit")
    assert result.ret == 0
    models = (pytester.path / "reports" / "models.csv").read_text().splitlines()
    assert len(models) == 2 and ",siit," in models[1]
    # and says it is a selection, in the terminal and on the page (it read as the whole run)
    result.stdout.fnmatch_lines(["selection: 1 of the 3 planned models ran; not run: case3-iit, case3-natural"])
    page = (pytester.path / "reports" / "index.html").read_text()
    assert "This run covers 1 of the 3 planned models (a selection such as -k); not run: case3-iit, case3-natural." in page
    result = run_suite("--ablation-report")
    assert "selection:" not in result.stdout.str() and "This run covers" not in (pytester.path / "reports" / "index.html").read_text()

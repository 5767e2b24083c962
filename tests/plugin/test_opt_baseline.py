"""--ablation-save-baseline, --ablation-baseline, --ablation-baseline-tol."""
import json
import shutil

from tests.helpers import model_dir


def test_unchanged_model_passes_and_drifted_model_fails(run_suite, pytester, interpbench_dir):
    base = pytester.path / "baseline.json"
    models = f"--ablation-models={interpbench_dir}"
    assert run_suite(models, f"--ablation-save-baseline={base}").ret == 0
    doc = json.loads(base.read_text())
    assert len(doc["effects"]) == 20 and "case3-InterpBench-L1H2-resample-1.0" in doc["effects"]

    assert run_suite(models, f"--ablation-baseline={base}").ret == 0

    # the model is retrained without the strict loss: same task accuracy, but its L1 MLP now matters
    for f in ("ll_model.pth", "ll_model_cfg.pkl"):
        shutil.copy(model_dir("iit") / f, interpbench_dir / "3" / f)
    result = run_suite(models, f"--ablation-baseline={base}", "--ablation-report")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["case3-InterpBench-L1MLP-resample-0.5: effect moved from 0.0000 in the baseline to * (tolerance 0.02)"])
    result.stdout.fnmatch_lines(["*items drifted from the baseline*", "*drifted: case3-InterpBench-L1MLP-*"])
    assert "test_accuracy" not in result.stdout.str().split("short test summary")[-1]
    # the drift is in the CSV, beside the effect, and on the page
    from tests.plugin.conftest import read_csv

    row = next(r for r in read_csv(pytester.path / "reports" / "ablation.csv") if r["item"] == "case3-InterpBench-L1MLP-resample-0.5")
    assert row["baseline"] == "drift" and float(row["baseline_effect"]) == 0.0 < float(row["effect"])
    page = (pytester.path / "reports" / "index.html").read_text()
    assert "<h2 id='baseline'>Baseline</h2>" in page and "<td class=l>case3-InterpBench-L1MLP-resample-0.5</td><td class=l>drift</td>" in page
    # compared with and saved to one file: the drifted numbers do not replace the baseline they failed against
    # (a retried CI job then compared with them and passed)
    saved = base.read_bytes()
    result = run_suite(models, f"--ablation-baseline={base}", f"--ablation-save-baseline={base}")
    assert result.ret == 1 and base.read_bytes() == saved
    result.stdout.fnmatch_lines([f"baseline not written (* items drifted from it, the baseline this run was compared with; "
                                 f"to accept this run's numbers, save without --ablation-baseline); {base} is left as it was"])


def test_items_absent_from_the_baseline_are_reported_not_failed(run_suite, pytester, interpbench_dir):
    base = pytester.path / "baseline.json"
    models = f"--ablation-models={interpbench_dir}"
    run_suite(models, f"--ablation-save-baseline={base}", "--ablation-scales=1.0", fast=False,
              *("--ablation-modes=resample", "--ablation-inputs=30"))
    result = run_suite(models, f"--ablation-baseline={base}")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*10 items not in the baseline*"])
    assert "compared with nothing" not in result.stdout.str()


def test_a_model_compared_with_nothing_fails_the_run_alone_or_beside_others(run_suite, pytester):
    """Items absent from the baseline are counted, not failed; but a model none of whose items is in it was
    compared with nothing (a new model, a renamed models folder): the terminal and the page say so, and the
    run fails, whether it ran alone (as on a shard) or beside models that were compared; and a failed
    comparison is not saved over the baseline it failed against (a retried job then passed)."""
    base = pytester.path / "baseline.json"
    settings = ("--ablation-modes=resample", "--ablation-scales=1.0", "--ablation-inputs=30")
    assert run_suite("--ablation-tasks=3", f"--ablation-save-baseline={base}", *settings, fast=False).ret == 0
    saved = base.read_bytes()
    result = run_suite("--ablation-tasks=33", f"--ablation-baseline={base}", "--ablation-report", "--ablation-images=none",
                       f"--ablation-save-baseline=./{base.name}", *settings, fast=False)
    assert result.ret == 1  # a regression check that compared nothing passed, green
    result.stdout.fnmatch_lines(["baseline *: 0 items drifted from the baseline by more than 0.02, * items not in the baseline, "
                                 "30 baseline items not in this run",  # case 3's three models, 10 nodes at resample x 1.0
                                 "  compared with nothing: no item of case33-natural, case33-siit is in the baseline*; the run fails",
                                 "baseline not written (case33-natural, case33-siit compared with nothing in it, the baseline this "
                                 "run was compared with; to accept this run's numbers, save without --ablation-baseline); *"])
    assert base.read_bytes() == saved
    page = (pytester.path / "reports" / "index.html").read_text()
    assert "Compared with baseline.json (tolerance 0.02): 0 items drifted" in page
    assert "Compared with nothing: no item of case33-natural, case33-siit is in the baseline" in page
    result = run_suite("--ablation-tasks=3,33", f"--ablation-baseline={base}", *settings, fast=False)
    assert result.ret == 1  # beside case 3's models, which were compared, as alone
    result.stdout.fnmatch_lines(["  compared with nothing: no item of case33-natural, case33-siit is in the baseline*"])
    assert run_suite("--ablation-tasks=3", f"--ablation-baseline={base}", *settings, fast=False).ret == 0


def test_unreadable_baseline(run_suite, pytester):
    (pytester.path / "b.json").write_text("{not json")
    (pytester.path / "c.json").write_bytes(b"\xff\xfe\x00bad")  # not UTF-8: was an INTERNALERROR
    for name in ("b.json", "c.json"):
        result = run_suite(f"--ablation-baseline={name}")
        assert result.ret == 4
        result.stderr.fnmatch_lines([f"ERROR: --ablation-baseline *{name}: not a baseline file*"])


def test_a_baseline_entry_of_the_wrong_type_is_refused_before_any_item(run_suite, pytester):
    """It raised TypeError in its item, and that item's row went missing from the report."""
    import json

    settings = {"inputs": 30, "seed": 0, "pca_components": 2, "pca_centre": False}
    # a NaN compared as never drifting (every item passed); a huge integer raised OverflowError in its item
    for entry in ({"effect": "abc"}, 5, {"effect": float("nan")}, {"effect": 10**400}, {"effet": 0.5},
                  {"effect": 7.0}, {"effect": -0.1}):  # an effect is a share of cells: outside [0, 1] is not one
        doc = {"format": "pytest-circuit-ablation baseline v1", "settings": settings, "effects": {"case3-siit-L0H0-resample-1.0": entry}}
        (pytester.path / "b.json").write_text(json.dumps(doc))
        result = run_suite("--ablation-baseline=b.json")
        assert result.ret == 4
        result.stderr.fnmatch_lines(["ERROR: --ablation-baseline *b.json: entry 'case3-siit-L0H0-resample-1.0' is not *"])


def test_a_baseline_without_its_settings_or_nested_past_the_parser_is_refused(run_suite, pytester):
    import json

    doc = {"format": "pytest-circuit-ablation baseline v1", "effects": {}}
    for name, text in (("none.json", json.dumps(doc)), ("text.json", json.dumps(dict(doc, settings="x"))),
                       ("deep.json", "[" * 100_000)):
        (pytester.path / name).write_text(text)
        result = run_suite(f"--ablation-baseline={name}")
        assert result.ret == 4, name
        result.stderr.fnmatch_lines([f"ERROR: --ablation-baseline *{name}: *"])
        assert "Traceback" not in result.stderr.str() + result.stdout.str()


def test_a_baseline_saved_with_other_settings_is_refused_naming_the_setting(run_suite, pytester, interpbench_dir):
    base = pytester.path / "baseline.json"
    models = f"--ablation-models={interpbench_dir}"
    assert run_suite(models, f"--ablation-save-baseline={base}").ret == 0
    result = run_suite(models, f"--ablation-baseline={base}", "--ablation-inputs=31")
    assert result.ret == 4
    result.stderr.fnmatch_lines([f"ERROR: --ablation-baseline {base}: saved with inputs = 30, this run has 31; compare runs made with the same settings"])
    result = run_suite(models, f"--ablation-baseline={base}", "--ablation-seed=3")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["ERROR: --ablation-baseline *: saved with seed = 0, this run has 3;*"])


def test_a_baseline_needs_whole_models_effect_items_only(run_suite, pytester, interpbench_dir):
    """A baseline holds effect items: ``-k test_effect`` saves a whole one (and no report, which needs
    every item); ``-k L0H0`` runs some of a model's effect items and saves nothing, saying so."""
    base = pytester.path / "baseline.json"
    models = f"--ablation-models={interpbench_dir}"
    result = run_suite(models, f"--ablation-save-baseline={base}", "--ablation-report", "-k", "test_effect")
    assert result.ret == 0
    assert len(json.loads(base.read_text())["effects"]) == 20
    assert not (pytester.path / "reports").exists()
    result.stdout.fnmatch_lines(["report not written (only some of the items of case3-InterpBench ran; *"])
    before = base.read_bytes()
    result = run_suite(models, f"--ablation-save-baseline={base}", "--ablation-inputs=31", "-k", "L0H0")
    assert result.ret == 0
    result.stdout.fnmatch_lines([f"baseline not written (only some of the effect items of case3-InterpBench ran); {base} is left as it was"])
    assert base.read_bytes() == before


def test_a_drift_from_or_to_an_undefined_effect_is_printed_not_a_crash():
    """A baseline entry may be null (an effect with no counted cell); its drift line formatted None and
    ended the run in an INTERNALERROR at the terminal summary."""
    from types import SimpleNamespace

    from pytest_circuit_ablation.report.terminal import _baseline_lines

    settings = SimpleNamespace(baseline_path="b.json", baseline_tol=0.02, baseline={})
    rows = [{"item": "a", "baseline": "drift", "baseline_effect": None, "effect": 0.25},
            {"item": "b", "baseline": "drift", "baseline_effect": 0.5, "effect": float("nan")}]
    assert _baseline_lines(rows, settings)[1:] == ["  drifted: b: 0.5000 -> undefined", "  drifted: a: undefined -> 0.2500"]

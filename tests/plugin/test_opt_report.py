"""--ablation-report (a flag), --ablation-report-dir DIR, and their ini keys."""
import json
from pathlib import Path

import pytest

from tests.helpers import case3
from tests.plugin.conftest import read_csv


def test_report_rows_and_columns(run_suite, pytester):
    result = run_suite("--ablation-report")
    # the two negative controls are rejected by their gate items (xfail); their node items only record
    result.assert_outcomes(passed=100, xfailed=2)  # with 3 x 10 diagnosis items
    rows = read_csv(pytester.path / "reports" / "ablation.csv")
    assert len(rows) == 3 * 10 * 2  # models x nodes x scales, one mode
    row = next(r for r in rows if r["model"] == "siit" and r["node"] == "L1H2" and r["scale"] == "1.0")
    assert row["status"] == "in_circuit" and row["hook"] == "blocks.1.attn.hook_result" and row["head"] == "2"
    assert float(row["effect"]) > 0.9 and int(row["cells_counted"]) > 0 and row["outcome"] == "passed"
    assert row["gate_role"] == "gate"
    sep = read_csv(pytester.path / "reports" / "separation.csv")
    assert {(r["model"], r["scale"]) for r in sep} == {(m, s) for m in ("iit", "natural", "siit") for s in ("0.5", "1.0")}
    models = read_csv(pytester.path / "reports" / "models.csv")
    assert [m["model"] for m in models] == ["iit", "natural", "siit"] and all(m["load"] == "passed" for m in models)
    # the training record comes from each model's meta.json; regression rows carry no KL
    siit = json.loads((case3().dir / "models" / "siit" / "meta.json").read_text())["final_metrics"]
    assert models[2]["train_strict_accuracy"] == repr(round(siit["strict_accuracy"] / 100, 12)) and siit["strict_accuracy"] >= 99.5  # a fraction, as accuracy, without division dust
    assert float(models[2]["accuracy"]) == 1.0
    # each model's verdict as a word, for its role: the controls rejected, the gated model passing
    assert [(m["role"], m["verdict"]) for m in models] == [("negative-control", "REJECTED")] * 2 + [("gated", "PASS")]
    assert {(r["model"], r["scale"], r["verdict"]) for r in sep} == {
        ("iit", "0.5", ""), ("iit", "1.0", "REJECTED"), ("natural", "0.5", ""), ("natural", "1.0", "REJECTED"),
        ("siit", "0.5", ""), ("siit", "1.0", "PASS")}
    assert int(models[2]["train_steps"]) == siit["steps"]
    assert row["kl_effect"] == ""
    diag = read_csv(pytester.path / "reports" / "diagnosis.csv")
    assert len(diag) == 3 * 10 and {r["verdict"] for r in diag if r["model"] == "siit" and r["status"] == "in_circuit"} == {"causal"}
    result.stdout.fnmatch_lines(["*circuit ablation*", "*case3 siit*PASS*AUROC 1.000*", "diagnosis: 0 nodes of gated models flagged*",
                                 "report: *ablation.csv"])


def test_an_item_run_twice_is_one_row(run_suite, pytester):
    """--keep-duplicates (or --dist each, a rerun plugin) runs an item more than once: each run's rows
    were all kept, so every table held each row twice and the summary listed each model twice."""
    assert run_suite("--ablation-report", "--ablation-images=none").ret == 0
    once = {name: (pytester.path / "reports" / name).read_bytes() for name in ("ablation.csv", "separation.csv", "diagnosis.csv", "models.csv")}
    result = run_suite("--ablation-report", "--ablation-images=none", "--keep-duplicates", "pytest_circuit_ablation")
    assert result.ret == 0
    result.assert_outcomes(passed=200, xfailed=4)  # every item twice
    assert {name: (pytester.path / "reports" / name).read_bytes() for name in once} == once
    assert result.stdout.str().count("case3 siit ") == 1


def test_report_folder_and_ini_fallback(run_suite, pytester):
    pytester.makeini("[pytest]\nablation_report = true\nablation_report_dir = out/here\n")
    assert run_suite().ret == 0
    assert (pytester.path / "out" / "here" / "ablation.csv").exists()
    run_suite("--ablation-report", "--ablation-report-dir=cli")
    assert (pytester.path / "cli" / "ablation.csv").exists()


@pytest.mark.skipif(pytest.version_tuple[:2] < (9, 2), reason="typed ini keys need pytest 9.2")
def test_native_toml_table_takes_toml_types(run_suite, pytester):
    """pytest 9's native ``[tool.pytest]`` table refuses a TOML value of another type than its key's: a
    bool, an integer and a number are written as TOML has them, and quoted text still works."""
    pytester.makepyprojecttoml('[tool.pytest]\nablation_report = true\nablation_inputs = 20\nablation_tau_out = 0.25\n'
                               'ablation_seed = "3"\nablation_pca_centre = false\n')
    result = run_suite("--ablation-tasks=3", "--ablation-modes=resample", "--ablation-scales=1.0", fast=False)
    assert result.ret in (0, 1), result.stderr.str()
    settings = json.loads((pytester.path / "reports" / "ablation.json").read_text())["settings"]
    assert (settings["inputs"], settings["tau_out"], settings["seed"], settings["pca_centre"]) == (20, 0.25, 3, False)
    pytester.makepyprojecttoml("[tool.pytest]\nablation_inputs = true\n")
    result = run_suite("--ablation-tasks=3", fast=False)
    assert result.ret == 4 and "'ablation_inputs' expects one of int | string, got bool" in result.stderr.str()
    pytester.makepyprojecttoml("[tool.pytest]\nablation_tau_in = 1.5\n")
    result = run_suite()
    assert result.ret == 4
    result.stderr.fnmatch_lines(["ERROR: ablation_tau_in in */pyproject.toml: 1.5 must be between 0 and 1*"])


def test_report_flag_takes_no_value_and_false_in_the_ini_writes_nothing(run_suite, pytester):
    """The flag never swallows the next argument (here a test path), and ``false`` is a bool, not a folder."""
    pytester.makeini("[pytest]\nablation_report = false\n")
    run_suite()
    assert not (pytester.path / "false").exists() and not (pytester.path / "reports").exists()
    suite = pytester.path / "suite"
    suite.mkdir()
    (suite / "test_other.py").write_text("def test_other():\n    pass\n")
    result = pytester.runpytest("--ablation-report", str(suite), "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert not (suite / "ablation.csv").exists()
    assert not (pytester.path / "reports").exists()  # checked writable at start, and nothing made for a run without the suite


def test_command_line_report_dir_is_relative_to_the_invocation_directory(run_suite, pytester, monkeypatch):
    """As pytest does for its own paths: a command-line path from the current directory, an ini path from
    the rootdir."""
    pytester.makeini("[pytest]\n")
    sub = pytester.path / "sub"
    sub.mkdir()
    monkeypatch.chdir(sub)
    run_suite("--ablation-report", "--ablation-report-dir=here", f"--rootdir={pytester.path}")
    assert (sub / "here" / "ablation.csv").exists() and not (pytester.path / "here").exists()


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_a_folder_whose_parent_refuses_new_entries_is_refused_at_start(run_suite, pytester):
    """/proc passes a permission check for root, as a read-only mount does, and then refuses the folder:
    the run did all its work and only then said "report not written". A writable parent keeps nothing."""
    result = run_suite("--ablation-report", "--ablation-report-dir=/proc/no-such-entry/reports")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["ERROR: --ablation-report-dir: cannot write to /proc/no-such-entry/reports (cannot make a folder in /proc: *)"])
    before = sorted(pytester.path.iterdir())
    from pytest_circuit_ablation.core.files import writable_problem

    assert writable_problem(pytester.path / "new" / "reports") is None
    assert sorted(pytester.path.iterdir()) == before


def test_no_report_without_the_option(run_suite, pytester):
    run_suite()
    assert not (pytester.path / "reports").exists()


def test_unwritable_report_folder_fails_before_any_model_work(run_suite, pytester):
    blocker = pytester.path / "blocked"
    blocker.write_text("a file, not a folder")
    result = run_suite("--ablation-report", f"--ablation-report-dir={blocker}/sub")
    assert result.ret == 4
    result.stderr.fnmatch_lines([f"ERROR: --ablation-report-dir: cannot write to {blocker}/sub*"])


def test_a_folder_of_the_projects_own_files_is_refused_before_any_model_work(run_suite, pytester):
    """--ablation-report-dir=docs replaced the project's docs/index.html (and removed every PNG and PDF of
    docs/figures) without a word."""
    docs = pytester.path / "docs"
    (docs / "figures").mkdir(parents=True)
    (docs / "index.html").write_text("<p>our docs</p>")
    (docs / "figures" / "diagram.png").write_bytes(b"png")
    result = run_suite("--ablation-report", "--ablation-report-dir=docs")
    assert result.ret == 4
    result.stderr.fnmatch_lines([f"ERROR: --ablation-report-dir: {docs} holds index.html, which no report of this plugin "
                                 "wrote (no ablation.json of one): a report would overwrite it; choose an empty or new folder"])
    assert (docs / "index.html").read_text() == "<p>our docs</p>" and (docs / "figures" / "diagram.png").exists()
    (docs / "index.html").unlink()  # beside its own files, a report is written and leaves them alone
    assert run_suite("--ablation-report", "--ablation-report-dir=docs", "--ablation-images=none").ret == 0
    assert (docs / "figures" / "diagram.png").exists() and (docs / "index.html").stat().st_size > 1000


def test_an_item_that_errors_before_recording_its_row_leaves_the_report_unwritten(run_suite, pytester):
    """A report without that item's row (or, for a load item, without the whole model) would look
    complete; the previous report is kept, as after a crashed worker."""
    run_suite("--ablation-report")
    before = (pytester.path / "reports" / "ablation.csv").read_bytes()
    pytester.syspathinsert()  # a -p plugin: a rootdir conftest is not loaded under --pyargs
    pytester.makepyfile(bugplug=
        "import pytest\n"
        "@pytest.hookimpl(tryfirst=True)\n"
        "def pytest_runtest_call(item):\n"
        "    if item.name == 'test_effect[case3-siit-L0H0-resample-1.0]':\n"
        "        raise RuntimeError('a bug')\n")
    result = run_suite("--ablation-report", "-p", "bugplug")
    assert (pytester.path / "reports" / "ablation.csv").read_bytes() == before
    assert result.ret == 1
    result.stdout.fnmatch_lines(["report not written (1 item failed with an error before recording its numbers); the previous one is left as it was"])


def test_a_folder_in_the_way_of_a_report_file_leaves_the_report_whole(run_suite, pytester):
    """index.html as a folder: the CSVs were replaced, then the page's move raised a traceback."""
    (pytester.path / "reports" / "index.html").mkdir(parents=True)
    (pytester.path / "reports" / "ablation.csv").write_text("old")
    (pytester.path / "reports" / "ablation.json").write_text('{"settings": {}, "models": {}}')  # an earlier report's folder
    result = run_suite("--ablation-report")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["report not written (cannot write *index.html: a folder is in the way); the previous one is left as it was"])
    assert (pytester.path / "reports" / "ablation.csv").read_text() == "old"
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    (pytester.path / "b").mkdir()
    result = run_suite("--ablation-save-baseline=b")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["ERROR: --ablation-save-baseline: * is a folder; name the file to write"])


def test_results_read_round_trips_every_table_and_the_readme_analysis_runs(run_suite, pytester):
    from pytest_circuit_ablation import results

    assert run_suite("--ablation-report", "--ablation-tasks=3,35", "--ablation-modes=resample,zero",
                     "--ablation-scales=0.5,1.0", "--ablation-inputs=30", fast=False).ret == 0
    folder = pytester.path / "reports"
    tables = results.read(folder)
    for name, frame in tables.items():
        assert results.to_csv(frame, name) == (folder / f"{name}.csv").read_text(), name
    effects = tables["ablation"]
    assert str(effects["cells_counted"].dtype) == "Int64" and str(effects["effect"].dtype) == "float64"
    assert effects["kl_effect"].isna().any() and effects["kl_effect"].notna().any()  # regression and categorical
    assert str(tables["diagnosis"]["pca_degenerate"].dtype) == "boolean"  # not the strings "true"/"false"
    worst = effects.query("gate_role == 'gate'").groupby("status").effect.max()  # the README's example
    assert worst["not_in_circuit"] < 0.1 < worst["in_circuit"]


def test_under_runxfail_the_controls_are_still_reported_as_rejected(run_suite, pytester):
    """--runxfail turns a rejected control's xfail into a failure (so the run fails, as asked); the verdict
    comes from the gate's own decision, not from that outcome."""
    result = run_suite("--ablation-report", "--runxfail")
    assert result.ret == 1
    models = {m["model"]: m["verdict"] for m in read_csv(pytester.path / "reports" / "models.csv")}
    assert models == {"iit": "REJECTED", "natural": "REJECTED", "siit": "PASS"}
    result.stdout.fnmatch_lines(["case3 iit * REJECTED (as a negative control must be)*"])


def test_an_empty_path_option_is_refused_not_ignored(run_suite):
    """'--ablation-baseline=' (an unset shell variable) compared nothing; '--ablation-report-dir=' wrote to
    the default folder."""
    for option in ("--ablation-baseline=", "--ablation-save-baseline=", "--ablation-report-dir=", "--ablation-models="):
        result = run_suite("--ablation-report", option)
        assert result.ret == 4, option
        result.stderr.fnmatch_lines([f"ERROR: {option[:-1]}: empty: give a path"])


def test_ctrl_c_while_the_report_is_written_keeps_the_previous_one_and_says_so(run_suite, pytester, monkeypatch):
    """Ctrl-C while Chromium drew the PNGs was a sixty-line traceback and no word about the report. (The
    runs are in this process: monkeypatch puts write_report back for the tests after this one.)"""
    import pytest_circuit_ablation.report as report

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    run_suite("--ablation-report")
    before = (pytester.path / "reports" / "ablation.csv").read_bytes()
    monkeypatch.setattr(report, "write_report", interrupted)
    result = run_suite("--ablation-report")
    assert (pytester.path / "reports" / "ablation.csv").read_bytes() == before
    assert result.ret == 2  # interrupted
    result.stdout.fnmatch_lines(["report not written (interrupted while it was being written); the previous one is left as it was"])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_junit_xml_holds_no_internal_rows(run_suite, pytester):
    """The rows travel from workers in user_properties; pytest's JUnit XML wrote each as a testcase
    property (about 700 bytes of Python repr per item, 14 MB for the main job)."""
    import xml.etree.ElementTree as ET

    for extra in ((), ("-n", "2")):
        assert run_suite("--ablation-report", "--ablation-images=none", "--junitxml=j.xml", *extra).ret == 0
        root = ET.parse(pytester.path / "j.xml").getroot()
        assert len(root.findall(".//testcase")) == 102
        assert root.findall(".//property") == []
        assert len(read_csv(pytester.path / "reports" / "ablation.csv")) == 60  # the report still has every row

"""--ablation-tasks."""


def test_unknown_task_is_one_line(run_suite):
    result = run_suite("--ablation-tasks=nope")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["ERROR: --ablation-tasks: unknown task 'nope' (built-in cases: 3*"])


def test_empty_task_list_is_one_line(run_suite):
    """An empty value (say, an unset shell variable) is an error, not a silent run of every case."""
    result = run_suite("--ablation-tasks=")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["ERROR: --ablation-tasks: expected a comma-separated list, got ''"])


def test_selected_task_only(run_suite):
    result = run_suite("--collect-only", "-q")
    out = result.stdout.str()
    assert "case3-siit-L1H2-resample-1.0" in out
    # every built-in case has models, and only case 3's are collected
    assert not [line for line in out.splitlines() if "[case" in line and "[case3-" not in line]


def test_nothing_planned_is_a_usage_error(run_suite, tmp_path, monkeypatch):
    """No model to gate (here: a cases folder with a case but no models) exits 4 with one line, never a
    green run that checked nothing."""
    import json
    import shutil

    from pytest_circuit_ablation.core.cases import builtin_cases_dir

    empty = tmp_path / "cases"
    (empty / "3").mkdir(parents=True)
    for name in ("case.json", "hl_model.pth", "hl_model_cfg.json"):
        shutil.copy(builtin_cases_dir() / "3" / name, empty / "3" / name)
    spec = json.loads((empty / "3" / "case.json").read_text())
    spec["models"] = {}
    (empty / "3" / "case.json").write_text(json.dumps(spec))
    monkeypatch.setenv("CIRCUIT_ABLATION_CASES", str(empty))
    result = run_suite(fast=False)
    assert result.ret == 4
    result.stderr.fnmatch_lines(["ERROR: circuit ablation: no models planned: no built-in case has a model under *cases*"])
    monkeypatch.setenv("CIRCUIT_ABLATION_CASES", str(tmp_path / "missing"))  # a typo in the variable's folder
    for args in ((), ("--ablation-tasks=3",)):  # which said "unknown task '3' (built-in cases: none)"
        result = run_suite(*args, fast=False)
        assert result.ret == 4
        result.stderr.fnmatch_lines([f"ERROR: $CIRCUIT_ABLATION_CASES={tmp_path / 'missing'}: no such folder"])
    monkeypatch.setenv("CIRCUIT_ABLATION_CASES", str(tmp_path))  # a folder, but of no case
    result = run_suite(fast=False)
    assert result.ret == 4
    result.stderr.fnmatch_lines([f"ERROR: $CIRCUIT_ABLATION_CASES={tmp_path}: holds no case (no <id>/case.json in it)"])


def test_disabling_the_plugin_leaves_other_tests_alone(pytester):
    """``-p no:circuit_ablation``: the suite module skips its five tests cleanly, other tests run."""
    pytester.makepyfile(test_other="def test_other():\n    pass\n")
    result = pytester.runpytest("-p", "no:circuit_ablation", "-p", "no:cacheprovider", "-rs", ".",
                                "--pyargs", "pytest_circuit_ablation")
    result.assert_outcomes(passed=1, skipped=5)  # the five suite functions skip
    result.stdout.fnmatch_lines(["*the circuit_ablation plugin is disabled*"])
    assert "fixture" not in result.stdout.str()


def test_a_suite_run_with_plugin_autoload_off_fails_rather_than_passing_unchecked(pytester, monkeypatch):
    """PYTEST_DISABLE_PLUGIN_AUTOLOAD (common in CI) left the plugin unloaded: five skips and exit 0, a
    green gate that checked nothing. Unlike -p no:circuit_ablation, nobody asked for that."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--pyargs", "pytest_circuit_ablation")
    assert result.ret == 1
    result.assert_outcomes(errors=5)
    result.stdout.fnmatch_lines(["*the circuit_ablation plugin is not loaded (is PYTEST_DISABLE_PLUGIN_AUTOLOAD set?): "
                                 "add -p pytest_circuit_ablation.plugin to gate the models*"])
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "pytest_circuit_ablation.plugin", "--co",
                                           "--pyargs", "pytest_circuit_ablation", "--ablation-tasks=3")
    assert result.ret == 0 and "test_effect[case3-siit-L0H0-resample-1.0]" in result.stdout.str()

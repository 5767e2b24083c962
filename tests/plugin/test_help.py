"""pytest --help and collection stay light: torch and TransformerLens load only when a fixture needs them."""
import subprocess
import sys


def _imported(args, cwd):
    """Modules imported by a pytest run, its xdist workers' included (they inherit the environment)."""
    import os

    proc = subprocess.run([sys.executable, "-m", "pytest", *args], cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPROFILEIMPORTTIME": "1"})
    return {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}, proc


def test_help_does_not_import_torch(tmp_path):
    modules, proc = _imported(["--help"], tmp_path)
    assert proc.returncode == 0 and "--ablation-report" in proc.stdout
    assert any(m.startswith("pytest_circuit_ablation") for m in modules)  # the plugin did load
    assert not {"torch", "transformer_lens", "sklearn"} & modules


def test_collection_does_not_import_torch(tmp_path):
    modules, proc = _imported(["--pyargs", "pytest_circuit_ablation", "--collect-only", "-q", "-p", "no:cacheprovider"], tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert "case3-siit-L1H2-resample-1.0" in proc.stdout
    assert not {"torch", "transformer_lens"} & modules


def test_another_projects_run_reads_no_case(tmp_path):
    """Installed, the plugin costs another project's run nothing beyond its options: no case is planned
    (reading every built-in case took ~0.6 s of each such run) unless an --ablation-* option asks."""
    (tmp_path / "test_other.py").write_text("def test_one():\n    assert True\n")
    for extra in ([], ["-n", "2"]):
        modules, proc = _imported(["-q", "-p", "no:cacheprovider", *extra], tmp_path)
        assert proc.returncode == 0 and "1 passed" in proc.stdout, proc.stdout[-2000:]
        assert any(m.startswith("pytest_circuit_ablation") for m in modules)  # the plugin did load
        assert ("xdist.remote" in modules) == bool(extra)  # under -n, the workers' imports are seen too
        assert not {"pytest_circuit_ablation.suite.plan", "pytest_circuit_ablation.suite.items"} & modules, extra
    modules, proc = _imported(["-q", "-p", "no:cacheprovider", "--ablation-tasks=nosuch"], tmp_path)
    assert proc.returncode == 4 and "--ablation-tasks: unknown task 'nosuch'" in proc.stderr, proc.stderr[-2000:]


def test_ablation_options_without_the_suite_say_that_nothing_was_gated(pytester):
    """`pytest --ablation-report` in a project's own tests collects none of the suite's items: a green run
    that gated nothing must not pass for the gate. Options the project's own tests may use (the suite's
    fixtures read --ablation-tasks) say nothing."""
    pytester.makepyfile(test_other="def test_one():\n    assert True\n")
    for args in (("--ablation-report", "--ablation-tasks=3"), ("-o", "ablation_report=true")):
        result = pytester.runpytest(*args, "-p", "no:cacheprovider")
        assert result.ret == 0
        result.stdout.fnmatch_lines(["--ablation-report given, but none of the suite's items was collected (the suite runs "
                                     "with --pyargs pytest_circuit_ablation): nothing was gated and no report written"])
    for args in ((), ("--ablation-tasks=3",), ("-o", "ablation_report=false")):
        assert "circuit ablation" not in pytester.runpytest(*args, "-p", "no:cacheprovider").stdout.str()
    result = pytester.runpytest("--ablation-report-dir=out", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["--ablation-report-dir has no effect without --ablation-report: no report written"])
    # collected, then not run
    for args in (("--co",), ("-k", "nothing_matches"), ("-n", "2", "-k", "nothing_matches")):
        result = pytester.runpytest("--pyargs", "pytest_circuit_ablation", "--ablation-tasks=3", "--ablation-report",
                                    "-p", "no:cacheprovider", *args)
        result.stdout.fnmatch_lines(["--ablation-report given, but none of the suite's collected items ran (--collect-only, "
                                     "--setup-plan, or deselected by -k or -m): nothing was gated and no report written"])
    # a listing writes nothing: a folder a real run refuses (a page no report wrote) does not fail it
    (pytester.path / "site").mkdir()
    (pytester.path / "site" / "index.html").write_text("<html><title>my site</title></html>")
    for args in (("--co",), ("--setup-plan",), ()):
        result = pytester.runpytest("--pyargs", "pytest_circuit_ablation", "--ablation-tasks=3", "--ablation-report",
                                    "--ablation-report-dir=site", "-p", "no:cacheprovider", "-k", "L0H0-resample-1.0", *args)
        if args:
            assert result.ret == 0, result.stderr.str()
        else:
            assert result.ret == 4 and "which no report of this plugin wrote" in result.stderr.str()
    assert (pytester.path / "site" / "index.html").read_text() == "<html><title>my site</title></html>"


def test_a_projects_collection_patterns_do_not_hide_the_suite(pytester):
    """python_files = check_*.py (or python_functions = check_*) in the project's ini made --pyargs
    pytest_circuit_ablation collect nothing of the suite."""
    pytester.makeini("[pytest]\npython_files = check_*.py\npython_functions = check_*\n")
    pytester.makepyfile(check_own="def check_one():\n    assert True\n")
    result = pytester.runpytest("--pyargs", "pytest_circuit_ablation", "--ablation-tasks=3", "--co", "-q", ".",
                                "-p", "no:cacheprovider")
    assert result.ret == 0
    lines = result.stdout.lines
    assert "test_circuits.py::test_effect[case3-siit-L0H0-resample-1.0]" in lines and "check_own.py::check_one" in lines
    assert "2809 tests collected" in result.stdout.str()  # the suite's 2,808 and the project's own, each once
    # with --doctest-modules the module was collected for its doctests only (a DoctestModule is a Module too)
    result = pytester.runpytest("--pyargs", "pytest_circuit_ablation", "--ablation-tasks=3", "--co", "-q", ".",
                                "-p", "no:cacheprovider", "--doctest-modules")
    assert "test_circuits.py::test_effect[case3-siit-L0H0-resample-1.0]" in result.stdout.lines


def test_a_plan_that_fails_without_any_option_is_one_line_not_a_traceback(pytester, monkeypatch):
    """`pytest --pyargs pytest_circuit_ablation` sets no option: the plan was made while collecting, and a
    broken case came out as a collection error with a traceback (exit 2), not the one-line usage error."""
    from pytest_circuit_ablation import plugin
    from pytest_circuit_ablation.errors import AblationError
    from pytest_circuit_ablation.suite import plan

    def broken(settings):
        raise AblationError("cases/14/case.json: invalid JSON (Expecting property name at line 1, column 2)")

    monkeypatch.setattr(plan, "all_plans", broken)
    result = pytester.runpytest("--pyargs", "pytest_circuit_ablation", "--co", "-p", "no:cacheprovider")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["ERROR: cases/14/case.json: invalid JSON (Expecting property name at line 1, column 2)"])
    # where the suite is collected unforeseen, a collection error of that one line, still no traceback
    monkeypatch.setattr(plugin, "_suite_in_scope", lambda config: False)
    result = pytester.runpytest("--pyargs", "pytest_circuit_ablation", "--co", "-p", "no:cacheprovider")
    assert result.ret == 2 and "Traceback" not in result.stdout.str()
    result.stdout.fnmatch_lines(["cases/14/case.json: invalid JSON (Expecting property name at line 1, column 2)"])


def test_help_shows_despite_a_bad_ini_value(tmp_path):
    """The help that says how to fix a value must not be refused for that value."""
    (tmp_path / "pytest.ini").write_text("[pytest]\nablation_inputs = abc\n")
    modules, proc = _imported(["--help"], tmp_path)
    assert proc.returncode == 0 and "--ablation-inputs" in proc.stdout
    modules, proc = _imported(["-q", "-p", "no:cacheprovider"], tmp_path)
    assert proc.returncode == 4 and f"ablation_inputs in {tmp_path / 'pytest.ini'}: 'abc' is not an integer" in proc.stderr

"""--ablation-tasks."""


def test_unknown_task_is_one_line(run_suite):
    result = run_suite("--ablation-tasks=nope")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["ERROR: --ablation-tasks: unknown task 'nope' (built-in cases: 3*"])


def test_selected_task_only(run_suite):
    result = run_suite("--collect-only", "-q")
    assert "case3-siit-L1H2-resample-1.0" in result.stdout.str()

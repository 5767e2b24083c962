"""--ablation-inputs and --ablation-seed."""
from tests.plugin.conftest import read_csv


def _counted(pytester):
    return {int(r["cells_counted"]) for r in read_csv(pytester.path / "reports" / "ablation.csv")}


def test_inputs_and_seed_change_the_pairs(run_suite, pytester):
    run_suite("--ablation-report", "--ablation-inputs=20", fast=False, *("--ablation-tasks=3", "--ablation-modes=resample", "--ablation-scales=1.0"))
    small = _counted(pytester)
    run_suite("--ablation-report", "--ablation-inputs=40", fast=False, *("--ablation-tasks=3", "--ablation-modes=resample", "--ablation-scales=1.0"))
    large = _counted(pytester)
    run_suite("--ablation-report", "--ablation-inputs=40", "--ablation-seed=5", fast=False, *("--ablation-tasks=3", "--ablation-modes=resample", "--ablation-scales=1.0"))
    reseeded = _counted(pytester)
    assert len(small) == len(large) == len(reseeded) == 1
    assert small.pop() < large.pop() != reseeded.pop()


def test_more_inputs_than_the_task_has(run_suite):
    result = run_suite("--ablation-inputs=300", fast=False, *("--ablation-tasks=3", "--ablation-modes=resample", "--ablation-scales=1.0"))
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*refused: --ablation-inputs 300: case 3 has only 256 distinct inputs*"])


def test_bad_input_count(run_suite):
    result = run_suite("--ablation-inputs=1", fast=False)
    assert result.ret == 4
    result.stderr.fnmatch_lines(["ERROR: --ablation-inputs: 1 is out of range*"])

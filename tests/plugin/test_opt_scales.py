"""--ablation-scales."""
import pytest


@pytest.mark.parametrize("value, message", [
    ("nan", "'nan' is not a finite number"),
    ("1,inf", "'inf' is not a finite number"),
    ("1,x", "'x' is not a number"),
    ("", "expected a comma-separated list"),
    ("0.5,", "expected a comma-separated list"),
])
def test_bad_scales(run_suite, value, message):
    result = run_suite(f"--ablation-scales={value}", fast=False)
    assert result.ret == 4
    result.stderr.fnmatch_lines([f"ERROR: --ablation-scales: {message}*"])


def test_scales_are_sorted_and_deduplicated(run_suite):
    result = run_suite("--ablation-tasks=3", "--ablation-modes=resample", "--ablation-scales=2,0.5,2",
                       "--collect-only", "-q", fast=False)
    ids = [line for line in result.stdout.str().splitlines() if "case3-siit-L0H0-resample" in line]
    assert [i.rsplit("-", 1)[1].rstrip("]") for i in ids] == ["0.5", "1.0", "2.0"]  # 1.0: the checkpoint


def test_minus_zero_is_the_scale_zero(run_suite, pytester):
    """'-0' made items '...-resample--0.0', which a baseline saved with 0.0 would never match."""
    result = run_suite("--ablation-scales=-0,1.0", "--collect-only", "-q")
    assert "resample-0.0" in result.stdout.str() and "--0.0" not in result.stdout.str()

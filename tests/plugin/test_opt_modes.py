"""--ablation-modes."""
import pytest


@pytest.mark.parametrize("value, message", [
    ("bogus", "unknown mode 'bogus'"),
    ("resample,,mean", "expected a comma-separated list"),
    ("", "expected a comma-separated list"),
])
def test_bad_modes_fail_before_model_work(run_suite, value, message):
    result = run_suite(f"--ablation-modes={value}", fast=False)
    assert result.ret == 4
    result.stderr.fnmatch_lines([f"ERROR: --ablation-modes: {message}*"])


def test_every_mode_gets_items(run_suite):
    result = run_suite("--ablation-modes=mean,zero,pca-self-var,pca-resample-orth", "--ablation-tasks=3",
                       "--ablation-scales=1.0", "--ablation-inputs=20", "--collect-only", "-q", fast=False)
    out = result.stdout.str()
    for mode in ("mean", "zero", "pca-self-var", "pca-resample-orth", "resample"):  # resample: the checkpoint
        assert f"case3-siit-L0H0-{mode}-1.0" in out
    assert "pca-self-orth" not in out

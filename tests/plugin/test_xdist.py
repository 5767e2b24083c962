"""pytest-xdist: -n 2 gives byte-identical report files; only the controller writes them."""
import pytest

pytest.importorskip("xdist")


def test_parallel_report_equals_serial(run_suite, pytester):
    """A regression case and two categorical ones (whose normalised-KL sums are floats summed over many
    cells; case 24's causal attention runs in the fused kernel): serial on every core against two workers
    of one thread each. A PCA mode, so that the diagnosis's PCA statistics (an SVD) are compared too."""
    both = ("--ablation-tasks=3,24,35", "--ablation-modes=resample,zero,pca-self-var", "--ablation-scales=0.5,1.0,10.0",
            "--ablation-inputs=100", "--ablation-images=none")
    serial = run_suite("--ablation-report", "--ablation-report-dir=serial", *both, fast=False)
    parallel = run_suite("--ablation-report", "--ablation-report-dir=parallel", "-n", "2", *both, fast=False)
    assert serial.ret == parallel.ret == 0
    for name in ("ablation.csv", "separation.csv", "models.csv", "diagnosis.csv"):
        assert (pytester.path / "serial" / name).read_bytes() == (pytester.path / "parallel" / name).read_bytes(), name
    parallel.stdout.fnmatch_lines(["*circuit ablation*", "*case3 siit*PASS*"])


@pytest.mark.parametrize("spread", [("-n", "2"), ("--tx", "2*popen")], ids=["n", "tx"])
def test_loadgroup_is_the_default_distribution(run_suite, spread):
    """With -n, or with xdist's own --tx gateways (the way to span hosts), each case stays on one worker."""
    result = run_suite(*spread, "-v")
    assert result.ret == 0
    workers = {}
    for line in result.stdout.lines:
        if "] PASSED test_circuits.py::" in line or "] XFAIL test_circuits.py::" in line or "] XPASS test_circuits.py::" in line:
            worker, item = line.split("]")[0].strip("["), line.split("::", 1)[1]
            workers.setdefault(item.split("[", 1)[1].split("-")[0], set()).add(worker)
    assert workers["case3"] and len(workers["case3"]) == 1  # one task, one worker

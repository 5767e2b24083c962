"""The per-node diagnosis end to end: a hand-built variant of case 3's SIIT model with one planted
constant-but-load-bearing head is named, alone; --ablation-require-irrelevant fails that model and not
the shipped one; the report and the summary carry it."""
from tests.helpers import planted_constant_variant
from tests.plugin.conftest import read_csv

# the diagnosis needs settings besides interchanges at scale 1: zero, and resample at 0 and 5
SWEEP = ("--ablation-modes=resample,zero,mean", "--ablation-scales=0.0,1.0,5.0", "--ablation-inputs=40",
         "--ablation-images=none")


def test_planted_constant_node_is_named_and_only_it(run_suite, pytester, tmp_path):
    folder = planted_constant_variant(tmp_path / "IB")
    result = run_suite(f"--ablation-models={folder}", "--ablation-report", *SWEEP, fast=False)
    assert result.ret == 0  # same function: the gate passes, and no invariant breaks
    rows = read_csv(pytester.path / "reports" / "diagnosis.csv")
    assert len(rows) == 10
    verdicts = {r["node"]: r["verdict"] for r in rows}
    assert [n for n, v in verdicts.items() if v == "constant-load-bearing"] == ["L1H1"], verdicts
    planted = next(r for r in rows if r["node"] == "L1H1")
    assert float(planted["spread"]) < 1e-9 and float(planted["moved_effect"]) > 0.5
    assert float(planted["checkpoint_effect"]) < 0.01
    result.stdout.fnmatch_lines(["*case3 IB*PASS*", "diagnosis: 1 node of gated models flagged*",
                                 "  case3 IB L1H1: constant-load-bearing: spread *"])
    page = (pytester.path / "reports" / "index.html").read_text()
    assert "1 node of gated models flagged by the diagnosis: <a href='#diag-case3-IB-L1H1'>" in page
    assert "id='diag-case3-IB-L1H1'" in page


def test_require_irrelevant_fails_the_variant_alone(run_suite, tmp_path):
    folder = planted_constant_variant(tmp_path / "IB")
    variant = run_suite(f"--ablation-models={folder}", "--ablation-require-irrelevant", *SWEEP, fast=False)
    assert variant.ret == 1
    variant.assert_outcomes(failed=1, passed=variant.parseoutcomes()["passed"])
    variant.stdout.fnmatch_lines(["FAILED *test_diagnosis[[]case3-IB-L1H1[]]*"])
    shipped = run_suite("--ablation-tasks=3", "--ablation-require-irrelevant", *SWEEP, fast=False)
    assert shipped.ret == 0  # the shipped SIIT model has no constant-load-bearing node (controls are not held to it)
    # a sweep that cannot show any node's load would pass every node: refused before any work
    blind = run_suite(f"--ablation-models={folder}", "--ablation-require-irrelevant", "--ablation-modes=resample,pca-self-var",
                      "--ablation-scales=1.0", "--ablation-inputs=40", fast=False)
    assert blind.ret == 4
    blind.stderr.fnmatch_lines(["ERROR: --ablation-require-irrelevant: the sweep has only interchanges at scale 1 *"])


def test_diagnosis_thresholds_are_options(run_suite, pytester, tmp_path):
    folder = planted_constant_variant(tmp_path / "IB")
    bad = run_suite(f"--ablation-models={folder}", "--ablation-spread-max=-1", *SWEEP, fast=False)
    assert bad.ret == 4
    bad.stderr.fnmatch_lines(["ERROR: --ablation-spread-max: -1.0 must not be negative"])
    # with spread_max 0 the planted head's rounding-level spread is no longer "constant": merely load-bearing
    run_suite(f"--ablation-models={folder}", "--ablation-spread-max=0", "--ablation-report", *SWEEP, fast=False)
    verdicts = {r["node"]: r["verdict"] for r in read_csv(pytester.path / "reports" / "diagnosis.csv")}
    assert verdicts["L1H1"] == "load-bearing" and "constant-load-bearing" not in verdicts.values()

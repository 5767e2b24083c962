"""--ablation-pca-components and --ablation-pca-centre."""
import pytest

from tests.plugin.conftest import read_csv

PCA_FAST = ("--ablation-tasks=3", "--ablation-scales=0.0,1.0", "--ablation-inputs=20")


@pytest.mark.parametrize("value", ["0", "two"])
def test_bad_component_counts_are_usage_errors(run_suite, value):
    result = run_suite(f"--ablation-pca-components={value}", "--ablation-modes=pca-self-var", *PCA_FAST, fast=False)
    assert result.ret == 4
    result.stderr.fnmatch_lines(["ERROR: --ablation-pca-components: *"])
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


def test_more_components_than_the_narrowest_node(run_suite):
    result = run_suite("--ablation-pca-components=13", "--ablation-modes=pca-self-var", *PCA_FAST, fast=False)
    assert result.ret == 1  # each model's load item fails with the reason; nothing else runs
    result.stdout.fnmatch_lines(["*refused: --ablation-pca-components 13: more than the narrowest node of case3-* allows (12)*"])
    assert "Traceback" not in result.stdout.str()


def test_centring_reaches_the_engine(run_suite, pytester):
    """The same components count, centred and not: pca-self-var at scale 0 removes the mean with it
    uncentred and keeps it centred, so some node's effect must differ."""
    effects = {}
    for flag in ((), ("--ablation-pca-centre",)):
        result = run_suite("--ablation-pca-components=3", "--ablation-modes=pca-self-var", "--ablation-report", *flag,
                           *PCA_FAST, fast=False)
        assert result.ret == 0
        effects[bool(flag)] = {(r["model"], r["node"]): r["effect"] for r in read_csv(pytester.path / "reports" / "ablation.csv")
                               if r["scale"] == "0.0"}
    assert effects[True].keys() == effects[False].keys()
    assert any(effects[True][k] != effects[False][k] for k in effects[True])


def test_a_bad_bool_ini_value_is_a_usage_error(run_suite, pytester):
    pytester.makeini("[pytest]\nablation_pca_centre = maybe\n")
    result = run_suite(fast=False)
    assert result.ret == 4
    # pytest's said only "invalid truth value 'maybe'"; the key is named as the file has it, with the file
    result.stderr.fnmatch_lines([f"ERROR: ablation_pca_centre in {pytester.path / 'tox.ini'}: 'maybe' is not true or false"])


def test_a_pca_cache_pytest_cannot_make_only_costs_a_refit(pytester):
    """The cache folder blocked by a file: every item errored at the store's set-up with pytest's own
    traceback; now the directions are fitted as with no cache."""
    (pytester.path / "cachedir" / "d").mkdir(parents=True)
    (pytester.path / "cachedir" / "d" / "circuit-ablation-pca").write_text("not a folder")
    result = pytester.runpytest("--pyargs", "pytest_circuit_ablation", "-p", "no:randomly", "-o", "cache_dir=cachedir",
                                "--ablation-modes=resample,pca-self-var", *PCA_FAST)
    assert result.ret == 0
    assert "error" not in result.stdout.lines[-1]

"""--ablation-pca-components and --ablation-pca-centre."""
import pytest


@pytest.mark.parametrize("value, where", [("0", "stderr"), ("13", "stderr"), ("two", "stderr")])
def test_bad_component_counts_fail_collection(run_suite, value, where):
    result = run_suite(f"--ablation-pca-components={value}", "--ablation-modes=pca-self-var", fast=False,
                       *("--ablation-tasks=3", "--ablation-scales=1.0", "--ablation-inputs=20"))
    assert result.ret != 0
    text = result.stderr.str() + result.stdout.str()
    assert "--ablation-pca-components" in text
    assert "Traceback" not in text


def test_more_components_than_the_narrowest_node(run_suite):
    result = run_suite("--ablation-pca-components=13", "--ablation-modes=pca-self-var", fast=False,
                       *("--ablation-tasks=3", "--ablation-scales=1.0", "--ablation-inputs=20"))
    result.stdout.fnmatch_lines(["*refused: --ablation-pca-components 13: more than the narrowest node of case3-* allows (12)*"])


def test_pca_modes_run_with_three_centred_components(run_suite, pytester):
    result = run_suite("--ablation-pca-components=3", "--ablation-pca-centre", fast=False,
                       *("--ablation-tasks=3", "--ablation-modes=pca-self-var,pca-resample-var", "--ablation-scales=1.0", "--ablation-inputs=20"))
    assert result.ret == 0
    pytester.makeini("[pytest]\nablation_pca_centre = maybe\n")
    result = run_suite(fast=False)
    assert result.ret == 4
    result.stderr.fnmatch_lines(["ERROR: *invalid truth value 'maybe'*"])  # pytest's own check of a bool ini key

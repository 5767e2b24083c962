"""The documented fixtures, as a user's own check would use them."""
from tests.plugin.conftest import FAST


def test_user_check_with_the_fixtures(pytester):
    pytester.makepyfile(test_mine='''
        def test_my_own_check(ablation_model_pairs, ablation_inputs, ablation_pca, ablation_effects, ablation_settings):
            assert sorted(ablation_model_pairs) == ["case3-iit", "case3-natural", "case3-siit"]
            pair = ablation_model_pairs["case3-siit"]
            assert pair.case.name == "frac_prevs" and pair.ll.cfg.n_heads == 4
            inputs = ablation_inputs["case3-siit"]
            assert inputs.tokens.shape == (30, 5) and inputs.pairs.shape == (900, 2)
            pca = ablation_pca["case3-siit"]
            assert len(pca) == 10 and next(iter(pca.values())).components.shape == (5, 2, 12)
            table = ablation_effects["case3-siit"]
            row = next(r for r in table if r["node"] == "L1H2" and r["mode"] == "resample" and r["scale"] == 1.0)
            assert row["in_circuit"] and row["effect"] > 0.9
            assert ablation_settings.sweep.inputs == 30
    ''')
    args = [a.replace("--ablation-modes=resample", "--ablation-modes=resample,pca-self-var") for a in FAST]
    result = pytester.runpytest("-p", "no:cacheprovider", *args, "test_mine.py")
    result.assert_outcomes(passed=1)

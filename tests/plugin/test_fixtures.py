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


def test_effects_frame_fixture_is_the_report_frame(pytester):
    """The fixture's frame equals, column for column and type for type, the measured columns of the
    ablation.csv the same run writes, read back with results.read."""
    import pandas as pd

    from pytest_circuit_ablation import results
    from pytest_circuit_ablation.results import MEASURED

    pytester.makepyfile(test_frame='''
        def test_keep(ablation_effects_frame, request):
            frame = ablation_effects_frame["case3-siit"]
            assert str(frame["cells_counted"].dtype) == "Int64" and len(frame) == 20
            frame.to_pickle(request.config.rootpath / "frame.pkl")
    ''')
    result = pytester.runpytest("-p", "no:cacheprovider", *FAST, "--ablation-report", "test_frame.py",
                                "--pyargs", "pytest_circuit_ablation")  # the suite's items write the report
    assert result.ret == 0 and (pytester.path / "frame.pkl").exists()
    report = results.read(pytester.path / "reports")["ablation"]
    expected = report[report.model == "siit"].reset_index(drop=True)[list(MEASURED)]
    pd.testing.assert_frame_equal(pd.read_pickle(pytester.path / "frame.pkl").reset_index(drop=True), expected)

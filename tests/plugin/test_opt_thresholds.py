"""--ablation-tau-in, --ablation-tau-out, --ablation-min-accuracy (and their ini keys)."""


def test_strict_thresholds_fail_the_trained_model(run_suite):
    result = run_suite("--ablation-tau-out=0.0", "--ablation-tau-in=0.9999")
    # the negative controls are still rejected; whether siit fails depends on exact zeros, so look at the line
    result.stdout.fnmatch_lines(["*gate: in-circuit effect >= 0.9999, out-of-circuit <= 0.0*"])


def test_ini_thresholds(run_suite, pytester):
    pytester.makeini("[pytest]\nablation_tau_in = 1.01\n")
    result = run_suite()
    assert result.ret == 4
    result.stderr.fnmatch_lines(["ERROR: --ablation-tau-in: 1.01 must be between 0 and 1*"])


def test_tau_out_must_be_below_tau_in(run_suite):
    result = run_suite("--ablation-tau-in=0.2", "--ablation-tau-out=0.3")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["ERROR: --ablation-tau-out: 0.3 must be below --ablation-tau-in (0.2)*"])


def test_min_accuracy_above_one_is_refused(run_suite):
    result = run_suite("--ablation-min-accuracy=2")
    assert result.ret == 4

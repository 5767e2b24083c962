"""--ablation-gate, --ablation-hl-tol, --ablation-tau-in, --ablation-tau-out, --ablation-min-accuracy (and ini keys)."""

CASE18 = ("--ablation-tasks=18", "--ablation-modes=resample", "--ablation-scales=1.0", "--ablation-inputs=40")


def test_hl_gate_passes_a_perfect_model_the_absolute_gate_fails(run_suite):
    """Case 18's length head never changes over full-length inputs, so its interchange does nothing in the
    HL model either: the HL gate expects 0 there, the absolute gate demands 0.5 and fails the model."""
    result = run_suite(*CASE18, fast=False)
    assert result.ret == 0
    result.stdout.fnmatch_lines(["gate: in-circuit effect within 0.05 of its HL node's effect in the HL model*",
                                 "case18 siit * PASS *"])
    result = run_suite("--ablation-gate=absolute", *CASE18, fast=False)
    assert result.ret == 1
    result.stdout.fnmatch_lines(["case18-siit-L0H1-resample-1.0: in-circuit node: effect 0.0* < tau_in 0.5",
                                 "case18 siit * FAIL *offenders: L0H1=0.00?"])  # held to tau_in: no bracket


def test_hl_tolerance_is_the_allowed_distance_from_the_hl_effect(run_suite):
    result = run_suite("--ablation-hl-tol=0.0", *CASE18, fast=False)
    assert result.ret == 1
    result.stdout.fnmatch_lines(["case18-siit-L0H0-resample-1.0: in-circuit node: effect 0.99* vs its HL node's 1.0000 (|diff| > hl_tol 0.0)",
                                 "case18 siit * FAIL *offenders: *L0H0=0.99?[[]HL=1.000[]]*"])  # what it was held to


def test_unknown_gate_rule_is_one_line(run_suite):
    result = run_suite("--ablation-gate=loose")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["ERROR: --ablation-gate: unknown rule 'loose' (choose hl or absolute)"])


def test_ini_thresholds(run_suite, pytester):
    """A bad value is named where it was written: the ini key with its file, ``-o`` with the key, the flag."""
    pytester.makeini("[pytest]\nablation_tau_in = 1.01\n")
    result = run_suite()
    assert result.ret == 4
    result.stderr.fnmatch_lines([f"ERROR: ablation_tau_in in {pytester.path / 'tox.ini'}: 1.01 must be between 0 and 1*"])
    result = run_suite("-o", "ablation_tau_in=2")
    result.stderr.fnmatch_lines(["ERROR: -o ablation_tau_in: 2.0 must be between 0 and 1*"])
    result = run_suite("--ablation-tau-in=3")
    result.stderr.fnmatch_lines(["ERROR: --ablation-tau-in: 3.0 must be between 0 and 1*"])
    result = run_suite("-o", "ablation_shard=5/5", "-o", "ablation_tau_in=0.5")  # a message naming the value too
    result.stderr.fnmatch_lines(["ERROR: -o ablation_shard=5/5: no model falls in this shard*"])


def test_tau_out_must_be_below_tau_in(run_suite):
    result = run_suite("--ablation-tau-in=0.2", "--ablation-tau-out=0.3")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["ERROR: --ablation-tau-out: 0.3 must be below --ablation-tau-in (0.2)*"])


def test_min_accuracy_above_one_is_refused(run_suite):
    result = run_suite("--ablation-min-accuracy=2")
    assert result.ret == 4


def test_ini_key_at_its_default_value_is_named_in_its_file(run_suite, pytester):
    """A key written in the ini file is named there even when its value equals the default."""
    pytester.makeini("[pytest]\nablation_tau_out = 0.1\n")
    result = run_suite("--ablation-tau-in=0.05")
    assert result.ret == 4
    result.stderr.fnmatch_lines([f"ERROR: ablation_tau_out in {pytester.path / 'tox.ini'}: 0.1 must be below --ablation-tau-in (0.05)*"])

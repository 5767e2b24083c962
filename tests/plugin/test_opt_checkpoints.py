"""--ablation-checkpoints."""


def test_extra_checkpoint_asserts_the_gate_there(run_suite):
    result = run_suite("--ablation-checkpoints=resample:1.0,zero:0.0", "-rA")
    # zero ablation of every node is not separated in the controls; the strict xfail keeps them green,
    # and a separation item is now asserted at zero:0.0 for every model
    result.stdout.fnmatch_lines(["*test_separation*case3-siit-zero-0.0*"])
    result.stdout.fnmatch_lines(["*gate: * at resample x 1.0, zero x 0.0*"])


def test_bad_checkpoint(run_suite):
    result = run_suite("--ablation-checkpoints=resample")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["ERROR: --ablation-checkpoints: 'resample' is not mode:scale*"])
    result = run_suite("--ablation-checkpoints=bogus:1")
    result.stderr.fnmatch_lines(["ERROR: --ablation-checkpoints: unknown mode 'bogus'*"])

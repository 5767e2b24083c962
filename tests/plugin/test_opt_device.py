"""--ablation-device."""


def test_unknown_device(run_suite):
    result = run_suite("--ablation-device=tpu")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["ERROR: --ablation-device: unknown device 'tpu' (choose cpu or cuda)*"])


def test_cpu(run_suite):
    assert run_suite("--ablation-device=cpu").ret == 0

"""--ablation-device."""


def test_unknown_device(run_suite):
    for device in ("tpu", "cpu:abc"):  # cpu:abc failed in every item with torch's traceback
        result = run_suite(f"--ablation-device={device}")
        assert result.ret == 4
        result.stderr.fnmatch_lines([f"ERROR: --ablation-device: unknown device '{device}' (choose cpu or cuda)*"])


def test_cpu(run_suite):
    assert run_suite("--ablation-device=cpu").ret == 0


def test_cuda_without_cuda_is_refused_before_any_item(run_suite):
    import pytest
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA; the refusal is for machines without it")
    result = run_suite("--ablation-device=cuda")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["ERROR: --ablation-device: cuda: CUDA is not available here (torch *)"])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()

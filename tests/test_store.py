"""The session store: a model is evaluated at most once per process, whatever its first attempt did."""
import pytest

from pytest_circuit_ablation.core import evaluate
from pytest_circuit_ablation.core.sweep import Sweep
from pytest_circuit_ablation.suite import gate
from pytest_circuit_ablation.suite.plan import build_plan
from pytest_circuit_ablation.suite.settings import Settings
from pytest_circuit_ablation.suite.store import AblationStore, Refused


@pytest.fixture
def store_and_key():
    settings = Settings(sweep=Sweep(modes=("resample",), scales=(1.0,), inputs=20), gate=gate.GateRule(), tasks=("3",))
    plans = build_plan(settings)
    return AblationStore(settings, plans, None), plans[0].ref.key


def _failing(monkeypatch, exc: Exception) -> list[int]:
    calls: list[int] = []

    def fail(*args, **kwargs):
        calls.append(1)
        raise exc

    monkeypatch.setattr(evaluate, "evaluate_model", fail)
    return calls


def test_a_bug_is_raised_once_then_its_model_is_refused_in_one_line(store_and_key, monkeypatch):
    """The first item shows the traceback; the model's other items must not evaluate it again each."""
    store, key = store_and_key
    calls = _failing(monkeypatch, TypeError("bad argument\nmore"))
    with pytest.raises(TypeError):
        store.evaluation(key)
    for _ in range(3):
        with pytest.raises(Refused, match=r"failed in an earlier item \(TypeError: bad argument\)$"):
            store.evaluation(key)
    assert len(calls) == 1


def test_out_of_memory_is_a_refusal_with_the_option_to_lower(store_and_key, monkeypatch):
    store, key = store_and_key
    out_of_memory = type("OutOfMemoryError", (RuntimeError,), {})  # torch's CUDA OOM is a RuntimeError by that name
    calls = _failing(monkeypatch, out_of_memory("CUDA out of memory"))
    for _ in range(2):
        with pytest.raises(Refused, match="out of memory while evaluating .* lower --ablation-memory-mb"):
            store.evaluation(key)
    assert len(calls) == 1


def test_a_sweep_too_big_for_memory_names_the_option_that_asks_for_the_most(monkeypatch):
    from types import SimpleNamespace

    import pytest_circuit_ablation.core.evaluate as evaluate
    from pytest_circuit_ablation.errors import SettingError

    pair = SimpleNamespace(case=SimpleNamespace(max_seq_len=11), ll=SimpleNamespace(cfg=SimpleNamespace(d_model=64)),
                           ref=SimpleNamespace(key="case4-siit"))
    monkeypatch.setattr(evaluate, "available_bytes", lambda device: 2 * 2**30)
    with pytest.raises(SettingError, match=r"^memory_mb 100000: .*only 2.0 GiB is available$") as info:
        evaluate.check_memory(SimpleNamespace(inputs=100, memory_mb=100_000, device="cpu"), pair)
    assert info.value.setting == "memory_mb"  # the plugin names it --ablation-memory-mb
    with pytest.raises(SettingError, match=r"^inputs 6000: .*6000 inputs' pairs"):
        evaluate.check_memory(SimpleNamespace(inputs=6000, memory_mb=256, device="cpu"), pair)
    evaluate.check_memory(SimpleNamespace(inputs=100, memory_mb=256, device="cpu"), pair)  # fits: no error
    # the budget is the larger part, but even the smallest budget leaves the inputs' grid too big: the inputs
    monkeypatch.setattr(evaluate, "available_bytes", lambda device: 500 * 2**20)
    grid = evaluate.estimate_bytes(1900, 11, 64, 0) / 2**20
    assert 484 < grid < 700  # 1900 inputs' grid alone does not fit beside the smallest budget
    with pytest.raises(SettingError, match=r"^inputs 1900: "):
        evaluate.check_memory(SimpleNamespace(inputs=1900, memory_mb=4096, device="cpu"), pair)


def test_a_cuda_sweep_is_measured_against_the_devices_free_memory(monkeypatch):
    """On CUDA the pair grid and micro-batches live in the GPU's memory, not the host's."""
    from types import SimpleNamespace

    import torch

    import pytest_circuit_ablation.core.evaluate as evaluate
    from pytest_circuit_ablation.errors import SettingError

    asked = []
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device: asked.append(device) or (200 * 2**20, 8 * 2**30))
    # torch's cache holds 150 MiB of which 50 are in use: the other 100 are there for the taking
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda device: 150 * 2**20)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda device: 50 * 2**20)
    pair = SimpleNamespace(case=SimpleNamespace(max_seq_len=11), ll=SimpleNamespace(cfg=SimpleNamespace(d_model=64)),
                           ref=SimpleNamespace(key="case4-siit"))
    with pytest.raises(SettingError, match=r"^memory_mb 512: .*only 0.3 GiB is available on cuda:1$"):
        evaluate.check_memory(SimpleNamespace(inputs=100, memory_mb=512, device="cuda:1"), pair)
    assert asked == [torch.device("cuda:1")]
    evaluate.check_memory(SimpleNamespace(inputs=100, memory_mb=512, device="cpu"), pair)  # the host has room

"""The ablation suite. Its items are parametrized by the plugin from the ``--ablation-*`` options:

    pytest --ablation-report                                        # the built-in cases, from this repo
    pytest --pyargs pytest_circuit_ablation --ablation-models DIR   # a user's InterpBench-style folder

Each item only looks its numbers up in the session's evaluations (computed once per model, on first
use) and records them for the report.
"""
from __future__ import annotations

import pytest

from pytest_circuit_ablation.suite import checks


def _plugin_off(request):
    """Switched off on purpose (``-p no:circuit_ablation``), the suite skips; not loaded at all (plugin
    autoload disabled, as many CI set-ups do), it fails: a green run that gated nothing would pass for the
    gate."""
    blocked = request.config.pluginmanager.is_blocked
    if blocked("circuit_ablation") or blocked("pytest_circuit_ablation.plugin"):
        pytest.skip("the circuit_ablation plugin is disabled (-p no:circuit_ablation): no ablation items")
    pytest.fail("the circuit_ablation plugin is not loaded (is PYTEST_DISABLE_PLUGIN_AUTOLOAD set?): add "
                "-p pytest_circuit_ablation.plugin to gate the models", pytrace=False)


# Stand-ins used only when the plugin is off: with it on, these names are parametrized directly by the
# plugin, which takes precedence over a fixture of the same name.
ablation_load_item = pytest.fixture(_plugin_off, name="ablation_load_item")
ablation_accuracy_item = pytest.fixture(_plugin_off, name="ablation_accuracy_item")
ablation_effect_item = pytest.fixture(_plugin_off, name="ablation_effect_item")
ablation_separation_item = pytest.fixture(_plugin_off, name="ablation_separation_item")
ablation_diagnosis_item = pytest.fixture(_plugin_off, name="ablation_diagnosis_item")


def test_model_loads(ablation_load_item, ablation_store, record_ablation):
    """The model's files are readable and fit its case (a refused model fails here, once)."""
    checks.check_load(ablation_load_item, ablation_store, record_ablation)


def test_accuracy(ablation_accuracy_item, ablation_store, record_ablation):
    """The LL model matches its HL model on enough cells to be worth ablating."""
    checks.check_accuracy(ablation_accuracy_item, ablation_store, record_ablation)


def test_effect(ablation_effect_item, ablation_store, record_ablation):
    """One node, one mode, one scale: invariants everywhere, its side of the gate at checkpoints."""
    checks.check_effect(ablation_effect_item, ablation_store, record_ablation)


def test_separation(ablation_separation_item, ablation_store, record_ablation):
    """AUROC and margin of effect against circuit membership; the gate itself at checkpoints."""
    checks.check_separation(ablation_separation_item, ablation_store, record_ablation)


def test_diagnosis(ablation_diagnosis_item, ablation_store, record_ablation):
    """What one node is (causal, weak, irrelevant, constant but load-bearing, load-bearing, leaking,
    unmeasured), from the whole sweep and its activations; fails on broken invariants, and with
    --ablation-require-irrelevant on a gated model's constant-but-load-bearing nodes."""
    checks.check_diagnosis(ablation_diagnosis_item, ablation_store, record_ablation)

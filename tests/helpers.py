"""Small shared helpers for the tests (torch is imported by the tests that use them)."""
from __future__ import annotations

from pathlib import Path

from pytest_circuit_ablation.cases import builtin_cases_dir, load_case

CASE3 = builtin_cases_dir() / "3"
MODEL_NAMES = ("iit", "natural", "siit")


def case3():
    return load_case("3")


def model_dir(name: str) -> Path:
    return CASE3 / "models" / name

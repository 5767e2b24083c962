"""The code explains itself in the repository: no module cites a document that is not in it."""
import re
from pathlib import Path

import pytest_circuit_ablation

PACKAGE = Path(pytest_circuit_ablation.__file__).parent


def test_no_module_cites_an_outside_document():
    pattern = re.compile(r"design notes|spec section|interpbench-spec|\.\./shared", re.IGNORECASE)
    offenders = [f"{p.relative_to(PACKAGE)}:{i}" for p in sorted(PACKAGE.rglob("*.py"))
                 for i, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert not offenders, offenders

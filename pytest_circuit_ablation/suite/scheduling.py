"""pytest-xdist scheduling for ``-n`` without ``--dist``: every item of one case goes to one worker, so a
worker loads and evaluates a case's models once. xdist's own LoadScopeScheduling with the scope read from
this suite's item ids (``test_circuits.py::test_effect[case3-siit-...]`` -> ``case3``); any other test is
a scope of its own. Imported only when pytest-xdist asks for a scheduler.
"""
from __future__ import annotations

import re

from xdist.scheduler import LoadScopeScheduling

_SUITE_ITEM = re.compile(r"test_circuits\.py::test_[a-z_]+\[case([^-\]]+)-")


def scope_of(nodeid: str) -> str:
    match = _SUITE_ITEM.search(nodeid)
    return f"case{match.group(1)}" if match else nodeid


class CaseScheduling(LoadScopeScheduling):
    """Whole cases as units of work, spread over the workers as xdist spreads scopes."""

    def _split_scope(self, nodeid: str) -> str:
        return scope_of(nodeid)

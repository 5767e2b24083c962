"""pytest-xdist scheduling for ``-n`` without ``--dist``: every item of one case goes to one worker, so a
worker loads and evaluates a case's models once. xdist's own LoadScopeScheduling with the scope read from
this suite's item ids (``test_circuits.py::test_effect[case3-siit-...]`` -> ``case3``); any other test is
a scope of its own. Cases are handed out costliest first (``plan.estimated_work``): xdist's default
order (most items first) could leave a long case to start late and run alone at the end. Imported only
when pytest-xdist asks for a scheduler.
"""
from __future__ import annotations

import re
from collections.abc import Callable

from xdist.scheduler import LoadScopeScheduling

_SUITE_ITEM = re.compile(r"test_circuits\.py::test_[a-z_]+\[case([^-\]]+)-")


def scope_of(nodeid: str) -> str:
    match = _SUITE_ITEM.search(nodeid)
    return f"case{match.group(1)}" if match else nodeid


class CaseScheduling(LoadScopeScheduling):
    """Whole cases as units of work, the costliest first, then every other test in xdist's order.
    ``work``: returns the estimated work per scope (``case<id>``; scopes not in it count as none), called
    only if a suite item was collected, so a run of other tests plans no case."""

    def __init__(self, config, log=None, work: Callable[[], dict[str, float]] | None = None) -> None:
        super().__init__(config, log)
        self._work_of = work or dict
        self._ordered = False

    def _split_scope(self, nodeid: str) -> str:
        return scope_of(nodeid)

    def _assign_work_unit(self, node) -> None:
        if not self._ordered:  # the queue is complete before the first unit is handed out
            self._ordered = True
            if any("::" not in scope for scope in self.workqueue):  # a case's scope, not another test's node id
                work = self._work_of()
                queue = sorted(self.workqueue.items(), key=lambda unit: -work.get(unit[0], 0.0))  # stable
            else:
                queue = list(self.workqueue.items())
            self.workqueue.clear()
            self.workqueue.update(queue)
        super()._assign_work_unit(node)

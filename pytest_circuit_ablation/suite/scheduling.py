"""pytest-xdist scheduling for ``-n`` without ``--dist``: every item of one case goes to one worker, so a
worker loads and evaluates a case's models once. xdist's own LoadScopeScheduling with the scope read from
this suite's item ids (``test_circuits.py::test_effect[case3-siit-...]`` -> ``case3``); any other test is
a scope of its own. Cases are handed out costliest first (``plan.estimated_work``): xdist's default
order (most items first) could leave a long case to start late and run alone at the end. A run that
collected none of the suite's items is scheduled exactly as xdist's ``--dist load`` would: the plugin,
merely installed, must not slow another project's ``-n`` runs (one test per scope sent one at a time
cost 25% on 4,000 tiny tests). Imported only when pytest-xdist asks for a scheduler.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from xdist.scheduler import LoadScheduling, LoadScopeScheduling

_SUITE_ITEM = re.compile(r"test_circuits\.py::test_[a-z_]+\[case([^-\]]+)-")


def scope_of(nodeid: str) -> str:
    match = _SUITE_ITEM.search(nodeid)
    return f"case{match.group(1)}" if match else nodeid


class _ByCase(LoadScopeScheduling):
    """Whole cases as units of work, the costliest first, then every other test in xdist's order."""

    def __init__(self, config, log, work: Callable[[], dict[str, float]]) -> None:
        super().__init__(config, log)
        self._work_of = work
        self._ordered = False

    def _split_scope(self, nodeid: str) -> str:
        return scope_of(nodeid)

    def remove_node(self, node):
        """xdist's, except that the item a crashed worker was running is not sent again. LoadScope put the
        whole unit back, that item included: it ran a second time on another worker (and crashed that one
        too, or was reported twice, an error and a pass). ``--dist load`` runs it once, as here."""
        workload = self.assigned_work.get(node) or {}
        crashed = next((nodeid for unit in workload.values() for nodeid, done in unit.items() if not done), None)
        if crashed is None:
            return super().remove_node(node)
        for unit in workload.values():
            if crashed in unit:
                unit[crashed] = True  # xdist reports it as crashed (the returned id); the rest of its unit goes back
        super().remove_node(node)
        return crashed

    def _assign_work_unit(self, node) -> None:
        if not self._ordered:  # the queue is complete before the first unit is handed out
            self._ordered = True
            work = self._work_of()
            queue = sorted(self.workqueue.items(), key=lambda unit: -work.get(unit[0], 0.0))  # stable
            self.workqueue.clear()
            self.workqueue.update(queue)
        super()._assign_work_unit(node)


class CaseScheduling:
    """``_ByCase`` if the collection holds a suite item, else xdist's LoadScheduling. Until the collection
    is complete (the first ``schedule``) both are told of every worker and collection; from then on only
    the chosen one exists for xdist. ``work``: returns the estimated work per scope (``case<id>``; scopes
    not in it count as none), called only when the suite's items were collected, so a run of other tests
    plans no case."""

    def __init__(self, config, log=None, work: Callable[[], dict[str, float]] | None = None) -> None:
        self._candidates = (_ByCase(config, log, work or dict), LoadScheduling(config, log))
        self._chosen: Any = None
        self._has_suite_items = False

    def add_node(self, node) -> None:
        for sched in self._live():
            sched.add_node(node)

    def add_node_collection(self, node, collection) -> None:
        self._has_suite_items = self._has_suite_items or any(_SUITE_ITEM.search(i) for i in collection)
        for sched in self._live():
            sched.add_node_collection(node, collection)

    def remove_node(self, node):
        return [sched.remove_node(node) for sched in self._live()][0]

    def schedule(self) -> None:
        if self._chosen is None:
            self._chosen = self._candidates[0 if self._has_suite_items else 1]
        self._chosen.schedule()

    def _live(self) -> tuple:
        return self._candidates if self._chosen is None else (self._chosen,)

    def __getattr__(self, name: str) -> Any:  # nodes, tests_finished, mark_test_complete, ...
        return getattr(self._chosen or self._candidates[0], name)

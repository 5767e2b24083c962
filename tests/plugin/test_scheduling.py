"""The xdist scheduler keeps a case on one worker and starts the costliest cases first."""
from types import SimpleNamespace

from pytest_circuit_ablation.core import cases, hubfiles
from pytest_circuit_ablation.core.nodes import Node
from pytest_circuit_ablation.suite.plan import estimated_work
from xdist.scheduler import LoadScheduling

from pytest_circuit_ablation.suite.scheduling import CaseScheduling

SUITE = "pytest_circuit_ablation/test_circuits.py"


class _Worker:
    """The part of xdist's WorkerController a scheduler talks to: it records what it was sent."""

    def __init__(self, name: str) -> None:
        self.gateway = SimpleNamespace(id=name)
        self.sent: list[int] = []
        self.shutting_down = False

    def send_runtest_some(self, indices) -> None:
        self.sent.extend(indices)

    def shutdown(self) -> None:
        self.shutting_down = True


_SUITE_IDS = ([f"{SUITE}::test_effect[case3-siit-L0H{i}-resample-1.0]" for i in range(6)]
              + [f"{SUITE}::test_effect[case21-siit-L0H{i}-resample-1.0]" for i in range(2)]
              + [f"{SUITE}::test_effect[case8-siit-L0H{i}-resample-1.0]" for i in range(4)])


def _config():
    return SimpleNamespace(getvalue=lambda name: ["2*popen"] if name == "tx" else None,
                           getoption=lambda name, default=None: default,
                           option=SimpleNamespace(loadscopereorder=True, maxschedchunk=None))


def _sent(sched, ids: list[str]) -> list[list[int]]:
    """What each of two workers was sent once the scheduler has the collection."""
    workers = [_Worker("gw0"), _Worker("gw1")]
    for w in workers:
        sched.add_node(w)
        sched.add_node_collection(w, ids)
    sched.schedule()
    return [w.sent for w in workers]


def _first_units(work: dict[str, float], ids: list[str] = _SUITE_IDS + ["tests/test_data.py::test_one"],
                 asked: list | None = None) -> list[str]:
    """Which unit each of two workers starts with (for the default ids, a collection in which case 3 has
    the most items); each call of the scheduler's ``work`` is appended to ``asked``."""
    sched = CaseScheduling(_config(), None, lambda: (asked if asked is not None else []).append(1) or work)
    return [ids[sent[0]].split("[")[1].split("-")[0] if "[" in ids[sent[0]] else ids[sent[0]] for sent in _sent(sched, ids)]


def test_the_costliest_case_is_handed_out_first():
    assert _first_units({"case21": 100.0, "case8": 5.0, "case3": 1.0}) == ["case21", "case8"]
    # without estimates, xdist's own order: the scope with the most items first
    assert _first_units({}) == ["case3", "case8"]


def test_a_run_of_other_tests_is_scheduled_as_dist_load_and_plans_no_case():
    """Installed in another project, the plugin must not change its -n runs: the same tests go to the same
    workers as under xdist's --dist load, and no case is read for an estimate."""
    asked: list = []
    others = [f"tests/test_data.py::test_{i}" for i in range(40)]
    sched = CaseScheduling(_config(), None, lambda: asked.append(1) or {})
    assert _sent(sched, others) == _sent(LoadScheduling(_config()), others)
    assert asked == []
    _first_units({"case21": 1.0}, _SUITE_IDS, asked)
    assert asked == [1]


def test_the_estimate_ranks_the_four_layer_case_above_the_two_layer_ones():
    work = {}
    for case_id in ("3", "19", "21", "24"):
        case = cases.load_case(case_id)
        ref = {r.name: r for r in case.builtin_models}["siit"]
        nodes = sorted(cases.model_nodes(ref), key=Node.sort_key)
        work[case_id] = estimated_work(hubfiles.read_config(ref.path), case.max_seq_len, nodes)
    assert sorted(work, key=work.get, reverse=True) == ["21", "19", "24", "3"]

"""The page and the terminal summary do not depend on the order rows arrive in (xdist workers finish in
any order; a merge reads its folders in the order given)."""
from pytest_circuit_ablation.report import write_report
from pytest_circuit_ablation.report.terminal import summary_lines
from pytest_circuit_ablation.suite import gate
from pytest_circuit_ablation.core.sweep import Sweep
from pytest_circuit_ablation.suite.settings import Settings


def _rows(task: str) -> list[dict]:
    base = dict(task=task, model="siit", role="gated", source="builtin")
    node = dict(base, node="L0H0", status="not_in_circuit")
    return [
        dict(base, kind="load", item=f"case{task}-siit", outcome="passed"),
        dict(base, kind="accuracy", item=f"case{task}-siit", accuracy=1.0, cells=10, wrong=0, outcome="passed"),
        dict(node, kind="diagnosis", item=f"case{task}-siit-L0H0", verdict="constant-load-bearing", outcome="passed"),
        dict(node, kind="effect", item=f"case{task}-siit-L0H0-resample-1.0", mode="resample", scale=1.0, effect=0.0,
             baseline="absent", cells_flipped=0, cells_counted=10, outcome="passed"),
    ]


def test_page_and_summary_are_the_same_in_any_arrival_order(tmp_path):
    a, b = _rows("3"), _rows("4")
    pages = []
    for name, rows in (("ab", a + b), ("ba", b + a)):
        write_report(tmp_path / name, rows, {}, images=())
        pages.append((tmp_path / name / "index.html").read_text())
    assert pages[0] == pages[1]
    assert pages[0].index("case3-siit-L0H0-resample") < pages[0].index("case4-siit-L0H0-resample")  # the drift table
    settings = Settings(sweep=Sweep(modes=("resample",), scales=(1.0,), inputs=20), gate=gate.GateRule(), tasks=("3",))
    assert summary_lines(a + b, settings) == summary_lines(b + a, settings)

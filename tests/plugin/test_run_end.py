"""The end of a run of only this suite: no garbage-collector pass over the million objects it holds.

A worker freezes them at the end of its session (its process ends with it); the controller drops
Hypothesis's plugin as the workers did and freezes only at interpreter exit. A run with any other test
keeps both as they were."""
import pytest

pytest.importorskip("xdist")

# Loaded by the controller and both workers. Each writes, at unconfigure, whether the collector has
# frozen objects and whether Hypothesis's plugin is registered; the controller also writes the frozen
# count at interpreter exit (this handler, registered at configure, runs after any registered later).
PROBE = """
import atexit, gc, os

def _write(config, what):
    role = getattr(config, "workerinput", {}).get("workerid", "controller")
    with open(os.path.join(os.environ["PROBE_DIR"], role + "-" + what), "w") as f:
        f.write(str(gc.get_freeze_count() > 0) + " " + str(config.pluginmanager.has_plugin("hypothesispytest")))

def pytest_configure(config):
    if not hasattr(config, "workerinput"):
        atexit.register(lambda: _write(config, "exit"))

def pytest_unconfigure(config):
    _write(config, "unconfigure")
"""


def _probe_run(run_suite, pytester, monkeypatch, *args):
    pytester.makepyfile(probe=PROBE)
    pytester.syspathinsert()
    out = pytester.mkdir("probe-out")
    monkeypatch.setenv("PROBE_DIR", str(out))
    result = run_suite("-p", "probe", "-n", "2", *args, subprocess=True)
    assert result.ret == 0, result.stdout.str()[-2000:]
    return {p.name: p.read_text() for p in out.iterdir()}


def test_a_run_of_only_the_suite_ends_without_heap_scans(run_suite, pytester, monkeypatch):
    seen = _probe_run(run_suite, pytester, monkeypatch)
    # frozen, and no Hypothesis plugin, on both workers when they unconfigure
    assert seen["gw0-unconfigure"] == seen["gw1-unconfigure"] == "True False"
    # the controller drops Hypothesis's plugin before its summary, but freezes only at exit
    assert seen["controller-unconfigure"] == "False False"
    assert seen["controller-exit"].startswith("True")


def test_another_test_in_the_run_keeps_the_collector_and_hypothesis(run_suite, pytester, monkeypatch):
    mine = pytester.makepyfile(test_mine="""
        def test_mine():
            assert True
        """)
    seen = _probe_run(run_suite, pytester, monkeypatch, str(mine))
    assert seen["gw0-unconfigure"] == seen["gw1-unconfigure"] == "False True"
    assert seen["controller-unconfigure"] == "False True"
    assert seen["controller-exit"].startswith("False")

"""pytest's per-test log capture and Hypothesis's plugin are dropped only when the run holds nothing
but this suite's items (the capture costs 2 ms an item with torch's loggers); any other test keeps
``caplog`` and Hypothesis working."""

PROBE = """
def pytest_sessionfinish(session):
    print("\\nlog capture registered:", session.config.pluginmanager.has_plugin("logging-plugin"))
    print("hypothesis registered:", session.config.pluginmanager.has_plugin("hypothesispytest"))
"""


def test_a_run_of_only_the_suite_drops_log_capture(run_suite, pytester):
    pytester.makepyfile(probe=PROBE)
    pytester.syspathinsert()
    result = run_suite("-p", "probe", "-s")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*log capture registered: False*", "*hypothesis registered: False*"])


def test_another_test_in_the_run_keeps_caplog(run_suite, pytester):
    pytester.makepyfile(probe=PROBE)
    pytester.syspathinsert()
    mine = pytester.makepyfile(test_mine="""
        import logging

        def test_logs(caplog):
            logging.getLogger("mine").warning("hello")
            assert "hello" in caplog.text

        from hypothesis import given, strategies as st

        @given(st.integers())
        def test_hypothesis(n):
            assert n == n
        """)
    result = run_suite("-p", "probe", "-s", "-v", str(mine))
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*test_mine.py::test_logs PASSED*", "*test_mine.py::test_hypothesis PASSED*",
                                 "*log capture registered: True*", "*hypothesis registered: True*"])


def test_a_logging_option_keeps_log_capture(run_suite, pytester):
    pytester.makepyfile(probe=PROBE)
    pytester.syspathinsert()
    result = run_suite("-p", "probe", "-s", "--log-level=INFO")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*log capture registered: True*"])


def test_a_logging_key_in_the_ini_file_keeps_log_capture(run_suite, pytester):
    """A log file set in pytest.ini was left empty: only command-line logging options were seen."""
    pytester.makepyfile(probe=PROBE)
    pytester.syspathinsert()
    pytester.makeini("[pytest]\nlog_file = gate.log\nlog_file_level = DEBUG\n")
    result = run_suite("-p", "probe", "-s")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*log capture registered: True*"])

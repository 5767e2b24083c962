"""A real headless Chromium for the tests that read a page as a browser draws it."""
import os
import subprocess

import pytest

from pytest_circuit_ablation.report import images

CHROMIUM = images.find_browser()


def needs_chromium(test):
    """Skip without Chromium on a developer's machine; under CI (CI=true) a missing browser is a failure,
    so a broken install cannot turn the browser tests green."""
    if CHROMIUM is not None:
        return test
    if os.environ.get("CI"):
        def fail(*_, **__):
            pytest.fail("no Chromium under CI=true: .ci/run must install it (apt-get install -y chromium)")

        fail.__name__, fail.__doc__ = test.__name__, test.__doc__
        return fail
    return pytest.mark.skip(reason="no Chromium: apt-get install -y chromium (.ci/run installs it)")(test)


def dump_dom(page, tmp_path):
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'chrome-profile'}", "--virtual-time-budget=30000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout

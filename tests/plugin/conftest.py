"""Shared set-up of the plugin tests: pytester runs of the suite on small, fast settings."""
import shutil

import pytest

# In-process pytester runs drop the modules a run imported; torch cannot be imported twice in one
# process, so load the heavy modules here, outside the inner runs.
import sklearn.decomposition  # noqa: F401
import torch  # noqa: F401
import transformer_lens  # noqa: F401

# ...and this package's own modules, so that every inner run sees the same classes (an exception class
# imported twice would no longer match its own except clauses).
import pytest_circuit_ablation.suite.checks  # noqa: F401
import pytest_circuit_ablation.core.evaluate  # noqa: F401
import pytest_circuit_ablation.report  # noqa: F401
import pytest_circuit_ablation.suite.store  # noqa: F401
import pytest_circuit_ablation.report.terminal  # noqa: F401

from tests.helpers import model_dir

# Small enough to keep each run to seconds, large enough that every node has counted cells.
FAST = ("--ablation-tasks=3", "--ablation-modes=resample", "--ablation-scales=0.5,1.0", "--ablation-inputs=30")


@pytest.fixture
def run_suite(pytester):
    """Run the packaged suite in a fresh directory, as a user would with --pyargs."""

    def run(*args, fast=True, subprocess=False):
        argv = ["--pyargs", "pytest_circuit_ablation", "-p", "no:cacheprovider", "-p", "no:randomly"]
        argv += list(FAST if fast else ()) + list(args)
        return (pytester.runpytest_subprocess if subprocess else pytester.runpytest)(*argv)

    return run


@pytest.fixture
def interpbench_dir(tmp_path):
    """A user's InterpBench-layout folder holding a copy of the built-in case-3 SIIT model."""
    root = tmp_path / "InterpBench"
    shutil.copytree(model_dir("siit"), root / "3")
    return root


def read_csv(path):
    import csv

    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))

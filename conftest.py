"""Repository-level pytest configuration.

The plugin tests drive pytest itself through pytester. Under ``pytest -n N`` each worker gets its share
of the cores for torch: by default every process would start one thread per core, and oversubscribed
OpenMP threads run several times slower (test modules import torch after this hook runs)."""
import os

pytest_plugins = ["pytester"]


def pytest_configure(config):
    workers = getattr(config, "workerinput", {}).get("workercount")
    if workers:
        os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // int(workers))))

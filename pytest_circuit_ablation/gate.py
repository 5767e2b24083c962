"""The gate's policy on the pytest side: how a failed gate is raised, what a negative control's items
expect, and the one sentence that describes the gate (terminal summary and ablation.json).

A negative control's model-level checkpoint item is ``xfail(strict=True, raises=GateRejected)``: only the
gate's own rejection counts as the control being rejected; any other error fails the run, and a control
that passes its gate fails it too (XPASS(strict), shown as ACCEPTED). Its per-node items only record
their numbers.
"""
from __future__ import annotations

import pytest

from .settings import Settings


class GateRejected(pytest.fail.Exception):  # type: ignore[misc,name-defined]
    """The gate rejected a model: a failure of a gated model, the expected outcome of a control."""


def reject(message: str) -> None:
    raise GateRejected(message, pytrace=False)


def control_mark(why: str) -> pytest.MarkDecorator:
    return pytest.mark.xfail(strict=True, raises=GateRejected, reason=f"negative control, its gate must reject it: {why}")


def describe(settings: Settings) -> str:
    return (f"in-circuit effect >= {settings.tau_in}, out-of-circuit <= {settings.tau_out} at "
            + ", ".join(f"{m} x {s}" for m, s in settings.checkpoints))

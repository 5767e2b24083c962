"""InterpBench case 8 (at circuits-benchmark HEAD): the identity on integer tokens 0-10.

The June-2024 hub release had another task under this number; HEAD's is the identity. `program()`
builds the RASP program that tracr compiles into the high-level model (needs the `compile` extra);
`reference()` is the same function in plain Python.
"""
from __future__ import annotations


def program():
    """A categorical Map that returns its input token."""
    from tracr.rasp import rasp

    return rasp.Map(lambda token: token, rasp.tokens).named("identity")


def reference(body: list) -> list[int]:
    """Output class value per body position (BOS excluded)."""
    return list(body)

"""InterpBench case 8: identity (each output is the input token), on a small digit vocabulary.

`program()` builds the RASP program that tracr compiles into the high-level model (needs the
`compile` extra); `reference()` is the same function in plain Python.
"""
from __future__ import annotations


def program():
    """A categorical Map that returns its input token."""
    from tracr.rasp import rasp

    return rasp.categorical(rasp.Map(lambda t: t, rasp.tokens)).named("identity")


def reference(body: list[str]) -> list[str]:
    """Output class value per body position (BOS excluded)."""
    return list(body)

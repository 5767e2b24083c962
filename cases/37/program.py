"""InterpBench case 37: each token (a word) reversed, except the words in ``EXCLUDED``, which pass
through unchanged. The task names no exclusion list; ours is {"LB", "no"}.

`program()` builds the RASP program that tracr compiles into the high-level model (needs the
`compile` extra); `reference()` is the same function in plain Python.
"""
from __future__ import annotations

EXCLUDED = frozenset({"LB", "no"})


def _reverse(word: str) -> str:
    return word if word in EXCLUDED else word[::-1]


def program():
    """A categorical Map from each word to its reversal (or itself when excluded)."""
    from tracr.rasp import rasp

    return rasp.categorical(rasp.Map(_reverse, rasp.tokens)).named("reverse_words")


def reference(body: list[str]) -> list[str]:
    """Output class value per body position (BOS excluded)."""
    return [_reverse(w) for w in body]

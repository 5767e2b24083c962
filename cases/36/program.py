"""InterpBench case 36: classify each emoji token as 'positive' (😊), 'negative' (😢) or 'neutral' (📘).

`program()` builds the RASP program that tracr compiles into the high-level model (needs the
`compile` extra); `reference()` is the same function in plain Python.
"""
from __future__ import annotations

_SENTIMENT = {"😊": "positive", "😢": "negative", "📘": "neutral"}


def _sentiment(token: str) -> str:
    return _SENTIMENT.get(token, "neutral")


def program():
    """A categorical Map from each emoji to its sentiment class."""
    from tracr.rasp import rasp

    return rasp.categorical(rasp.Map(_sentiment, rasp.tokens)).named("sentiment")


def reference(body: list[str]) -> list[str]:
    """Output class value per body position (BOS excluded)."""
    return [_sentiment(t) for t in body]

"""InterpBench case 36: each emoji's sentiment: 😊 positive, 😢 negative, 📘 neutral.

`program()` builds the RASP program that tracr compiles into the high-level model (needs the `compile`
extra); `reference()` is the same function in plain Python.
"""
from __future__ import annotations

_SENTIMENT = {"😊": "positive", "😢": "negative", "📘": "neutral"}


def _sentiment(token: str) -> str:
    return _SENTIMENT.get(token, "neutral")


def program():
    from tracr.rasp import rasp

    return rasp.Map(_sentiment, rasp.tokens).named("sentiment")


def reference(body: list) -> list[str]:
    """Output class value per body position (BOS excluded)."""
    return [_sentiment(t) for t in body]

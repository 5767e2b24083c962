"""The one exception type users see: a one-line message naming the file or option and what is wrong."""
from __future__ import annotations


class AblationError(Exception):
    """Bad input (a model file, a case, an option). Its message is shown as is, on one line."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))

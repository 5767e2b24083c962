"""The one exception type users see: a one-line message naming the file or setting and what is wrong."""
from __future__ import annotations


class AblationError(Exception):
    """Bad input (a model file, a case, a setting). Its message is shown as is, on one line."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


class SettingError(AblationError):
    """A sweep setting the inputs cannot satisfy. The science core names the setting by its ``Sweep`` field
    (``inputs 5000: case 3 has only 256 distinct inputs``); the pytest side names its option instead
    (``--ablation-inputs 5000: ...``) with ``in_terms_of``."""

    def __init__(self, setting: str, value: object, detail: str) -> None:
        self.setting, self.value, self.detail = setting, value, " ".join(str(detail).split())
        super().__init__(f"{setting} {value}: {self.detail}")

    def in_terms_of(self, name: str) -> str:
        return f"{name} {self.value}: {self.detail}"

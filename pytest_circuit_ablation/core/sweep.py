"""What one model's evaluation computes, in the science's own terms: the (mode, scale) settings, the
inputs they run on, the PCA directions of the PCA modes, and where. The pytest side builds one from its
options; a notebook builds one directly."""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import SettingError
from .engine import MICRO_BATCH_MB, MIN_MEMORY_MB
from .modes import MODES, Ablation
from .values import is_int, is_number

DEFAULT_SCALES = (0.0, 0.1, 0.2, 0.5, 0.7, 0.8, 1.0, 1.2, 1.4, 2.0, 5.0, 10.0)  # the seed notebook's


@dataclass(frozen=True)
class Sweep:
    """Every mode at every scale, plus ``extra`` (mode, scale) settings (the gate's checkpoints), on the
    ``inputs`` distinct inputs drawn with ``seed`` and every ordered pair of them."""

    modes: tuple[str, ...] = MODES
    scales: tuple[float, ...] = DEFAULT_SCALES
    extra: tuple[tuple[str, float], ...] = ()
    inputs: int = 100
    seed: int = 0
    pca_components: int = 2
    pca_centre: bool = False  # components around the mean: PCA modes move only the deviation from it
    device: str = "cpu"
    memory_mb: int = MICRO_BATCH_MB  # one engine micro-batch

    def __post_init__(self) -> None:
        """Refuse, naming the field, what would fail later inside the engine with a misleading message (a
        notebook builds a Sweep by hand; the pytest options are checked before they get here)."""
        for name in ("modes", "scales", "extra"):
            if isinstance(getattr(self, name), (str, bytes)):
                raise SettingError(name, repr(getattr(self, name)), "a tuple of values, not one string")
        for mode in [*self.modes, *(m for m, _ in self.extra)]:
            if mode not in MODES:
                raise SettingError("modes", repr(mode), f"unknown mode (choose from {', '.join(MODES)})")
        for scale in [*self.scales, *(s for _, s in self.extra)]:
            if not is_number(scale):
                raise SettingError("scales", repr(scale), "a scale must be a finite number")
        for name, low in (("inputs", 2), ("pca_components", 1), ("memory_mb", MIN_MEMORY_MB), ("seed", -2**63)):
            value = getattr(self, name)
            if not is_int(value) or value < low:
                raise SettingError(name, repr(value), f"must be an integer >= {low}")
        if not isinstance(self.device, str) or not (self.device == "cpu" or self.device.startswith("cuda")):
            raise SettingError("device", repr(self.device), "must be 'cpu' or 'cuda[:N]'")

    def ablations(self) -> list[Ablation]:
        """Every (mode, scale) of the sweep, each once, in order."""
        wanted = [Ablation(m, s) for m in self.modes for s in self.scales]
        wanted += [Ablation(m, s) for m, s in self.extra]
        return list(dict.fromkeys(wanted))

    @property
    def uses_pca(self) -> bool:
        return any(a.mode.startswith("pca-") for a in self.ablations())


def check_device(device: str) -> None:
    """Refuse a CUDA device this machine does not have now (torch is imported only when CUDA is asked for)."""
    if not device.startswith("cuda"):
        return
    import torch

    if not torch.cuda.is_available():
        raise SettingError("device", device, f"CUDA is not available here (torch {torch.__version__})")
    index = device.partition(":")[2]
    if index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
        raise SettingError("device", device, f"no such CUDA device ({torch.cuda.device_count()} present)")

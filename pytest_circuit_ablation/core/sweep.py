"""What one model's evaluation computes, in the science's own terms: the (mode, scale) settings, the
inputs they run on, the PCA directions of the PCA modes, and where. The pytest side builds one from its
options; a notebook builds one directly."""
from __future__ import annotations

from dataclasses import dataclass

from .engine import MICRO_BATCH_MB, MIN_MEMORY_MB  # noqa: F401  (MIN_MEMORY_MB: the options' lower bound)
from .modes import MODES, Ablation

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

    def ablations(self) -> list[Ablation]:
        """Every (mode, scale) of the sweep, each once, in order."""
        wanted = [Ablation(m, s) for m in self.modes for s in self.scales]
        wanted += [Ablation(m, s) for m, s in self.extra]
        return list(dict.fromkeys(wanted))

    @property
    def uses_pca(self) -> bool:
        return any(a.mode.startswith("pca-") for a in self.ablations())

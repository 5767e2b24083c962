"""The ``--ablation-*`` options and their ini keys, parsed and validated into one frozen Settings.

Every option has an ini fallback of the same name with underscores (``--ablation-scales`` ->
``ablation_scales`` under ``[tool.pytest.ini_options]``); the command line wins. Validation happens at
configure time, before any model is touched, and a bad value is one line naming the option. Standard
library only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..core.files import writable_problem
from ..core.modes import MODES
from ..core.sweep import DEFAULT_SCALES, MIN_MEMORY_MB, Sweep, check_device
from ..errors import AblationError, SettingError
from . import diagnosis as diag_mod
from . import gate as gate_mod
from .diagnosis import DiagnosisRule
from .gate import GateRule

DEVICES = ("cpu", "cuda")
IMAGE_CHOICES = {"none": (), "png": ("png",), "pdf": ("pdf",), "all": ("png", "pdf")}
_SWEEP = Sweep()  # the science's defaults, shown as the options' defaults


@dataclass(frozen=True)
class OptionSpec:
    name: str  # without the leading --
    help: str
    default: str | None  # as written in an ini file
    metavar: str = "VALUE"
    #: "bool": a flag on the command line; "path": relative to where it was given; "int" and "number":
    #: text on the command line, and in pytest 9's native TOML table also a TOML integer or number
    kind: str = "string"

    @property
    def dest(self) -> str:
        return self.name.replace("-", "_")

    @property
    def full_help(self) -> str:
        """The help line with its default, as ``--help`` shows it."""
        if self.kind == "bool":
            return f"{self.help} (ini: {self.dest} = true|false; default: {self.default})"
        return f"{self.help} (default: {self.default})" if self.default is not None else self.help


OPTIONS: tuple[OptionSpec, ...] = (
    OptionSpec("ablation-report", "write the report (CSV, HTML page, figures) to --ablation-report-dir", "false", kind="bool"),
    OptionSpec("ablation-report-dir", "folder for the report; on the command line relative to the current directory, "
               "in an ini file to the rootdir", "reports", "DIR", kind="path"),
    OptionSpec("ablation-images", "static figures written beside the page: none, png, pdf or all (png and pdf); each needs "
               "a Chrome/Chromium and costs about 0.3 s per figure on 2 cores", "png", "FORMATS"),
    OptionSpec("ablation-models", "gate the models in DIR, laid out as InterpBench's hub: DIR/<case>/ll_model.pth + ll_model_cfg.pkl", None, "DIR", kind="path"),
    OptionSpec("ablation-tasks", "comma-separated case ids to run (default: every case: the built-in ones, or $CIRCUIT_ABLATION_CASES's)", None, "IDS"),
    OptionSpec("ablation-shard", "run shard I of N: the planned models sorted by (case, model) and dealt out in turn, "
               "so each model's items stay on one shard; merge the shards' reports with 'circuit-ablation-report merge'",
               None, "I/N"),
    OptionSpec("ablation-modes", "comma-separated ablation modes", ",".join(MODES), "MODES"),
    OptionSpec("ablation-scales", "comma-separated scales (the seed notebook's twelve)", ",".join(map(str, DEFAULT_SCALES)), "SCALES"),
    OptionSpec("ablation-inputs", "number of distinct inputs; every ordered pair of them is evaluated", str(_SWEEP.inputs), "N", kind="int"),
    OptionSpec("ablation-pca-components", "PCA components per node and position", str(_SWEEP.pca_components), "K", kind="int"),
    OptionSpec("ablation-pca-centre", "fit components around the activation mean: the PCA modes then scale or swap only "
               "the deviation from it (x = mu + P(x) + Q(x)) and keep the mean at every scale", "false", kind="bool"),
    OptionSpec("ablation-seed", "seed for drawing the inputs", str(_SWEEP.seed), "SEED", kind="int"),
    OptionSpec("ablation-device", "cpu or cuda", "cpu", "DEVICE"),
    OptionSpec("ablation-gate", "gate rule for in-circuit nodes: 'hl' (effect within --ablation-hl-tol of its HL node's "
               "effect in the HL model; out-of-circuit judged on the Wilson upper bound) or 'absolute' (effect >= tau_in; "
               "out-of-circuit on the point estimate)", GateRule.rule, "RULE"),
    OptionSpec("ablation-hl-tol", "gate 'hl': allowed |LL effect - HL effect| of an in-circuit node", str(gate_mod.HL_TOL), "X", kind="number"),
    OptionSpec("ablation-tau-in", "gate 'absolute' (and nodes without an HL reference): every in-circuit node's effect must be >= this",
               str(gate_mod.TAU_IN), "X", kind="number"),
    OptionSpec("ablation-tau-out", "gate: every out-of-circuit node's effect (its Wilson upper bound under --ablation-gate=hl) must be <= this", str(gate_mod.TAU_OUT), "X", kind="number"),
    OptionSpec("ablation-min-accuracy", "a model must match its HL model on at least this share of cells", str(gate_mod.MIN_ACCURACY), "X", kind="number"),
    OptionSpec("ablation-checkpoints", "comma-separated mode:scale pairs at which the gate is asserted",
               ",".join(f"{m}:{s}" for m, s in gate_mod.CHECKPOINTS), "LIST"),
    OptionSpec("ablation-spread-max", "diagnosis: an out-of-circuit node whose activation spread across inputs (relative to "
               "its size) is at most this counts as constant", str(diag_mod.SPREAD_MAX), "X", kind="number"),
    OptionSpec("ablation-load-min", "diagnosis: an out-of-circuit node is load-bearing when some ablation other than an "
               "interchange at scale 1 (zero, mean, another scale) moves the output by at least this", str(diag_mod.LOAD_MIN), "X", kind="number"),
    OptionSpec("ablation-require-irrelevant", "fail a gated model's out-of-circuit nodes that the diagnosis finds "
               "constant but load-bearing (SIIT made them constant, not irrelevant)", "false", kind="bool"),
    OptionSpec("ablation-memory-mb", "memory budget of one engine micro-batch, in MiB", str(_SWEEP.memory_mb), "MB", kind="int"),
    OptionSpec("ablation-save-baseline", "save every effect with its counts to PATH (JSON)", None, "PATH", kind="path"),
    OptionSpec("ablation-baseline", "fail effect items that moved from the baseline at PATH by more than the tolerance", None, "PATH", kind="path"),
    OptionSpec("ablation-baseline-tol", "allowed |effect - baseline effect|", "0.02", "X", kind="number"),
)


@dataclass(frozen=True)
class Settings:
    """One run: what each model's evaluation computes (``sweep``), what the gate asks of it (``gate``), and
    the suite's own business (which models, where the report and baselines go)."""

    sweep: Sweep
    gate: GateRule
    diagnosis: DiagnosisRule = DiagnosisRule()
    report_dir: Path | None = None
    images: tuple[str, ...] = ("png",)  # static image formats of the report's figures
    models_dir: Path | None = None
    tasks: tuple[str, ...] | None = None
    shard: tuple[int, int] | None = None  # (I, N), 1 <= I <= N
    save_baseline: Path | None = None
    baseline: dict | None = field(default=None, compare=False, repr=False)
    baseline_path: Path | None = None
    baseline_tol: float = 0.02


def in_option_terms(exc: AblationError) -> str:
    """The message of an error from the science core, with a sweep setting named by its option."""
    if isinstance(exc, SettingError):
        return exc.in_terms_of(f"--ablation-{exc.setting.replace('_', '-')}")
    return str(exc)


def _fail(option: str, message: str) -> AblationError:
    return AblationError(f"--{option}: {message}")


def _list(option: str, raw: str) -> list[str]:
    items = [x.strip() for x in str(raw).split(",")]
    if not raw or not str(raw).strip() or any(not x for x in items):
        raise _fail(option, f"expected a comma-separated list, got {raw!r}")
    return items


def _number(option: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise _fail(option, f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise _fail(option, f"{text!r} is not a finite number")
    return value


def parse_modes(raw: str) -> tuple[str, ...]:
    modes = _list("ablation-modes", raw)
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        raise _fail("ablation-modes", f"unknown mode {unknown[0]!r} (choose from {', '.join(MODES)})")
    return tuple(dict.fromkeys(modes))


def parse_scales(raw: str) -> tuple[float, ...]:
    scales = [_number("ablation-scales", x) + 0.0 for x in _list("ablation-scales", raw)]  # -0 is 0: one item id
    return tuple(sorted(set(scales)))


def _int(option: str, raw: str, low: int, high: int | None = None) -> int:
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise _fail(option, f"{raw!r} is not an integer") from None
    if value < low or (high is not None and value > high):
        raise _fail(option, f"{value} is out of range (must be {low}{'..' + str(high) if high else ' or more'})")
    return value


def _fraction(option: str, raw: str) -> float:
    value = _number(option, str(raw).strip())
    if not 0.0 <= value <= 1.0:
        raise _fail(option, f"{value} must be between 0 and 1")
    return value


def _nonnegative(option: str, raw: str) -> float:
    value = _number(option, str(raw).strip())
    if value < 0:
        raise _fail(option, f"{value} must not be negative")
    return value


def _bool(option: str, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise _fail(option, f"{raw!r} is not true or false")


def parse_shard(raw: Any) -> tuple[int, int] | None:
    """``I/N`` -> (I, N), with 1 <= I <= N."""
    if raw in (None, ""):
        return None
    index, sep, count = str(raw).strip().partition("/")
    if not sep or not index.strip().isdecimal() or not count.strip().isdecimal() or not (index + count).isascii():
        raise _fail("ablation-shard", f"{raw!r} is not I/N (e.g. 2/3)")
    i, n = int(index), int(count)
    if n < 1 or not 1 <= i <= n:
        raise _fail("ablation-shard", f"{raw!r}: I must be between 1 and N")
    return i, n


def parse_checkpoints(raw: str) -> tuple[tuple[str, float], ...]:
    out = []
    for item in _list("ablation-checkpoints", raw):
        mode, sep, scale = item.partition(":")
        if not sep:
            raise _fail("ablation-checkpoints", f"{item!r} is not mode:scale")
        mode = mode.strip()
        if mode not in MODES:
            raise _fail("ablation-checkpoints", f"unknown mode {mode!r}")
        value = _number("ablation-checkpoints", scale) + 0.0  # -0 is 0
        out.append((mode, value))
    return tuple(dict.fromkeys(out))


def check_writable(option: str, folder: Path) -> None:
    """Refuse an output folder that cannot be written, before any model work."""
    problem = writable_problem(folder)
    if problem:
        raise _fail(option, problem)


def parse(get: Callable[[str], Any], rootdir: Path, base: Callable[[str], Path] | None = None,
          writes: bool = True) -> Settings:
    """Build Settings from ``get(dest)`` (command line value or ini fallback, already merged). A relative
    path is resolved against ``base(dest)``: the invocation directory for a command-line value, the rootdir
    for an ini value (pytest's own convention). ``writes``: this process writes the outputs, so their
    folders are proven writable now (an xdist worker writes none; its controller has checked)."""
    base = base or (lambda dest: rootdir)
    check = check_writable if writes else (lambda option, folder: None)

    def path(dest: str) -> Path | None:
        raw = get(dest)
        if raw is None:
            return None
        if not str(raw).strip():  # '--ablation-baseline=' silently meant no baseline at all
            raise _fail(dest.replace("_", "-"), "empty: give a path")
        value = Path(str(raw)).expanduser()
        return value if value.is_absolute() else base(dest) / value

    report_dir = None
    if _bool("ablation-report", get("ablation_report")):
        report_dir = path("ablation_report_dir") or rootdir / "reports"
        check("ablation-report-dir", report_dir)
        if writes:
            from ..report import foreign_files_problem

            foreign = foreign_files_problem(report_dir)
            if foreign:
                raise _fail("ablation-report-dir", foreign)
    images_raw = str(get("ablation_images")).strip().lower()
    if images_raw not in IMAGE_CHOICES:
        raise _fail("ablation-images", f"unknown choice {images_raw!r} (choose {', '.join(IMAGE_CHOICES)})")
    models_dir = path("ablation_models")
    if models_dir is not None:
        if not models_dir.is_dir():
            raise _fail("ablation-models", f"{models_dir} is not a folder")
    tasks_raw = get("ablation_tasks")
    tasks = tuple(dict.fromkeys(_list("ablation-tasks", tasks_raw))) if tasks_raw is not None else None
    modes = parse_modes(get("ablation_modes"))
    scales = parse_scales(get("ablation_scales"))
    device = str(get("ablation_device")).strip()
    if device.split(":")[0] not in DEVICES or device.startswith("cpu:"):
        raise _fail("ablation-device", f"unknown device {device!r} (choose cpu or cuda)")
    try:
        check_device(device)  # a CUDA device this machine lacks: refused now, not in every item later
    except SettingError as exc:
        raise _fail("ablation-device", f"{device}: {exc.detail}") from None
    rule = str(get("ablation_gate")).strip()
    if rule not in gate_mod.RULES:
        raise _fail("ablation-gate", f"unknown rule {rule!r} (choose {' or '.join(gate_mod.RULES)})")
    hl_tol = _fraction("ablation-hl-tol", get("ablation_hl_tol"))
    tau_in = _fraction("ablation-tau-in", get("ablation_tau_in"))
    tau_out = _fraction("ablation-tau-out", get("ablation_tau_out"))
    if tau_out >= tau_in:
        raise _fail("ablation-tau-out", f"{tau_out} must be below --ablation-tau-in ({tau_in})")
    save_baseline = path("ablation_save_baseline")
    if save_baseline is not None:
        if save_baseline.is_dir():
            raise _fail("ablation-save-baseline", f"{save_baseline} is a folder; name the file to write")
        check("ablation-save-baseline", save_baseline.parent)
    baseline_path = path("ablation_baseline")
    baseline_doc = None
    if baseline_path is not None:
        from ..report.baseline import load

        baseline_doc = load(baseline_path)
    checkpoints = parse_checkpoints(get("ablation_checkpoints"))
    sweep = Sweep(
        modes=modes, scales=scales, extra=checkpoints,
        inputs=_int("ablation-inputs", get("ablation_inputs"), 2),
        pca_components=_int("ablation-pca-components", get("ablation_pca_components"), 1),
        pca_centre=_bool("ablation-pca-centre", get("ablation_pca_centre")),
        seed=_int("ablation-seed", get("ablation_seed"), 0),
        device=device, memory_mb=_int("ablation-memory-mb", get("ablation_memory_mb"), MIN_MEMORY_MB),
    )
    gate = GateRule(rule=rule, tau_in=tau_in, tau_out=tau_out, hl_tol=hl_tol, checkpoints=checkpoints,
                    min_accuracy=_fraction("ablation-min-accuracy", get("ablation_min_accuracy")))
    settings = Settings(
        sweep=sweep, gate=gate, report_dir=report_dir,
        diagnosis=DiagnosisRule(spread_max=_nonnegative("ablation-spread-max", get("ablation_spread_max")),
                                load_min=_fraction("ablation-load-min", get("ablation_load_min")),
                                require_irrelevant=_bool("ablation-require-irrelevant", get("ablation_require_irrelevant"))),
        images=IMAGE_CHOICES[images_raw], models_dir=models_dir, tasks=tasks, shard=parse_shard(get("ablation_shard")),
        save_baseline=save_baseline or None, baseline=baseline_doc, baseline_path=baseline_path or None,
        baseline_tol=_fraction("ablation-baseline-tol", get("ablation_baseline_tol")),
    )
    if settings.diagnosis.require_irrelevant and not diag_mod.measures_load((a.mode, a.scale) for a in sweep.ablations()):
        raise _fail("ablation-require-irrelevant", "the sweep has only interchanges at scale 1 (--ablation-modes, "
                    "--ablation-scales), which cannot show a node's load: it would pass every node unmeasured")
    if baseline_path is not None:
        from ..report.baseline import check_settings, saved_settings

        check_settings(baseline_path, saved_settings(baseline_path), baseline_settings(settings))
    return settings


def baseline_settings(settings: Settings) -> dict[str, Any]:
    """The settings a saved baseline records (its numbers depend on them)."""
    sweep = settings.sweep
    return {"inputs": sweep.inputs, "seed": sweep.seed, "pca_components": sweep.pca_components,
            "pca_centre": sweep.pca_centre}

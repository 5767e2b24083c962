"""pytest hooks: options, parametrization, fixtures, report and summary.

Imports only the standard library, pytest and this package's torch-free modules at load time; torch and
TransformerLens load inside the ``ablation_store`` fixture, the first time an item needs a number.
Only the controller (or a serial run) writes files and prints: workers send each item's numbers back
in ``user_properties``.
"""
from __future__ import annotations

from pathlib import Path
import time
from collections.abc import Iterator, Mapping
from typing import Any, Callable, Union

import pytest

from .suite import settings as settings_mod
from .errors import AblationError

_ROWS_KEY = "ablation"
_OURS_KEY = "circuit_ablation_item"
_FIXTURE_KINDS = {
    "ablation_load_item": "load",
    "ablation_accuracy_item": "accuracy",
    "ablation_effect_item": "effect",
    "ablation_separation_item": "separation",
    "ablation_diagnosis_item": "diagnosis",
}


class AblationSession:
    """Per-run state and the hooks that need it: rows collected from item reports, the report written
    at the end, the summary printed. Registered on the config by ``pytest_configure``."""

    def __init__(self, config: pytest.Config, settings: settings_mod.Settings) -> None:
        self.config = config
        self.settings = settings
        self._plans: list | None = None  # this shard's ModelPlans, built on first use (``build_items``)
        self._planned: dict[str, Any] = {}  # every shard's planned models: key -> ModelPlan
        self._items: dict[str, list] | None = None
        self.rows: list[dict[str, Any]] = []
        self._row_at: dict[tuple[str, int], int] = {}  # (node id, its n-th row) -> index in rows
        self.report_files: list[Path] = []
        self.crashed: list[str] = []  # items whose worker died: the report would be incomplete
        self.lost: list[str] = []  # the suite's items that failed without recording their row (an error)
        self.ran: dict[tuple[str, str], set[str]] = {}  # (kind, model key) -> node ids of its items that ran
        self.baseline_not_written = ""
        self.not_written = ""
        self.image_notice: str | None = None
        self.started = time.perf_counter()
        self.only_ours = False  # every item this process collected is the suite's
        self.suite_collected = False  # some of the suite's items were collected (here, or by a worker)
        self.workers_only_ours: bool | None = None  # controller: every worker said so (None: none down yet)

    def build_items(self) -> dict[str, list]:
        """The suite's item specs by kind, planned on first use: at configure when an ``--ablation-*``
        option is set (so a bad one fails before collection), else only when something needs them (the
        suite's module is collected, a scheduler orders its cases, a report is written), so a run of
        other tests, where the plugin is merely installed, reads no case files."""
        if self._items is None:
            from .suite.items import build_items
            from .suite.plan import all_plans, select_shard

            try:
                every = all_plans(self.settings)
                self._plans = select_shard(every, self.settings.shard)
                self._planned = {p.ref.key: p for p in sorted(every, key=lambda p: p.ref.key)}  # a merge checks they add up
            except AblationError as exc:
                raise pytest.UsageError(_where_set(self.config, str(exc))) from None
            self._items = build_items(self._plans, self.settings)
        return self._items

    @property
    def items(self) -> dict[str, list]:
        return self.build_items()

    @property
    def plans(self) -> list:
        self.build_items()
        return self._plans or []

    def planned_hashes(self) -> dict[str, str | None]:
        """Every planned model, all shards together, with the hash of its files (None where they cannot be
        read): a merge refuses shards whose plans differ, in models or in any model's weights."""
        from .core.hubfiles import model_hash

        self.build_items()
        hashes: dict[str, str | None] = {}
        for key, plan in self._planned.items():
            try:
                hashes[key] = model_hash(plan.ref.path)
            except OSError:
                hashes[key] = None
        return hashes

    def planned_definitions(self) -> dict[str, dict[str, Any]]:
        """What each planned model is judged against, all shards together: its task definition's files' hash
        and the circuit the gate used (from case.json's correspondence or the folder's edges.pkl). The model's
        own hash cannot tell two runs apart that judged one model against different circuits or cases."""
        from .core.cases import definition_hash

        self.build_items()
        out: dict[str, dict[str, Any]] = {}
        for key, plan in self._planned.items():
            out[key] = {"task": definition_hash(plan.case.dir) if plan.case is not None else None,
                        "circuit_from": "case.json" if plan.ref.uses_case_circuit else "edges.pkl",
                        "circuit": [n.name for n in sorted(plan.circuit, key=lambda n: n.sort_key())]}
        return out

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Collect rows on the controller (or in a serial run), with each item's final outcome; then take
        them out of ``user_properties``, which carried them from the worker, before the JUnit XML writer
        (which runs later) would put every row's repr into its file."""
        if _is_worker(self.config):
            return  # the report goes to the controller as it is
        try:
            self._record(report)
        finally:
            report.user_properties = [(k, v) for k, v in report.user_properties if k not in (_OURS_KEY, _ROWS_KEY)]

    def _record(self, report: pytest.TestReport) -> None:
        if report.when not in ("setup", "call", "teardown"):  # xdist's report for an item whose worker crashed
            self.crashed.append(report.nodeid)
            return
        if report.when != "call" and not (report.when == "setup" and not report.passed):
            return
        for key, tag in report.user_properties:
            if key == _OURS_KEY and isinstance(tag, (list, tuple)):  # (kind, model), a list after xdist's trip
                self.ran.setdefault((tag[0], tag[1]), set()).add(report.nodeid)
        recorded = False
        rows = [row for key, row in report.user_properties if key == _ROWS_KEY and isinstance(row, dict)]
        for i, row in enumerate(rows):
            # an item run twice (--dist each, --keep-duplicates, a rerun plugin) keeps one row: its last run's
            at = self._row_at.setdefault((report.nodeid, i), len(self.rows))
            if at == len(self.rows):
                self.rows.append({})
            self.rows[at] = {**row, "outcome": _outcome(report)}
            recorded = True
        if report.failed and not recorded and any(key == _OURS_KEY for key, _ in report.user_properties):
            self.lost.append(report.nodeid)

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.only_ours or self.workers_only_ours:
            _end_without_heap_scans(self.config)
        if _is_worker(self.config) or not self.rows:
            return
        if self.uncompared_models() and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED  # a model the regression check did not check
        if self.settings.report_dir is None and self.settings.save_baseline is None:
            return
        self.not_written = self._unfinished(session, exitstatus)
        if self.not_written:  # the previous report and baseline are kept whole
            return
        from .report import write_report

        try:
            partial = self.partial_models()
            if self.settings.report_dir is not None and partial:
                more = f" and {len(partial) - 2} more" if len(partial) > 2 else ""
                self.not_written = (f"only some of the items of {', '.join(partial[:2])}{more} ran; a report covers whole "
                                    f"models, so select whole models (e.g. -k siit) or every item")
            elif self.settings.report_dir is not None:
                self.report_files, self.image_notice = write_report(self.settings.report_dir, self.rows, self.metadata(),
                                                                         self.settings.images)
            partial = self.partial_models(("effect",))  # a baseline holds effect items only (-k test_effect is whole)
            if self.settings.save_baseline is not None and partial:
                more = f" and {len(partial) - 2} more" if len(partial) > 2 else ""
                self.baseline_not_written = f"only some of the effect items of {', '.join(partial[:2])}{more} ran"
            elif self.settings.save_baseline is not None and self.overwrites_failed_baseline():
                self.baseline_not_written = self.overwrites_failed_baseline()
            elif self.settings.save_baseline is not None:
                from .report.baseline import to_text
                from .report import write_files

                path = self.settings.save_baseline
                write_files(path.parent, {path.name: to_text(self.rows, self.baseline_settings())})
                self.report_files.append(path)
        except OSError as exc:  # checked writable at start; something in the folder is in the way
            self.not_written = f"cannot write {exc.filename or ''}: {exc.strerror or exc}"
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        except KeyboardInterrupt:  # Ctrl-C while the figures were drawn: nothing was moved into place yet
            self.report_files = []
            self.not_written = "interrupted while it was being written"
            session.exitstatus = pytest.ExitCode.INTERRUPTED

    def uncompared_models(self) -> list[str]:
        """With ``--ablation-baseline``: the models that ran effect items, none of them in the baseline (a new
        model, a models folder of another name, a baseline of other models). Such a model was compared with
        nothing, and fails the run; items absent for a model that has others in the baseline (a new mode or
        scale) are only counted. Per model, so that a shard or ``-k`` run decides as the whole run does."""
        from .report.baseline import uncompared_models

        return [] if self.settings.baseline is None else uncompared_models(self.rows)

    def overwrites_failed_baseline(self) -> str:
        """Why ``--ablation-save-baseline`` must not write, or "": it names the ``--ablation-baseline`` file
        itself and the comparison failed (items drifted, or a model was compared with nothing). Saving over
        it made a retried CI job compare with this run's own numbers and pass."""
        from .report.terminal import counted

        s = self.settings
        if s.baseline_path is None or s.save_baseline is None or not _same_file(s.baseline_path, s.save_baseline):
            return ""
        drifted = sum(r.get("baseline") == "drift" for r in self.rows)
        uncompared = self.uncompared_models()
        if not (drifted or uncompared):
            return ""
        why = (f"{counted(drifted, 'item')} drifted from it" if drifted else
               f"{', '.join(uncompared[:2])}{' and more' if len(uncompared) > 2 else ''} compared with nothing in it")
        return f"{why}, the baseline this run was compared with; to accept this run's numbers, save without --ablation-baseline"

    def _unfinished(self, session: pytest.Session, exitstatus: int) -> str:
        """Why this run's numbers must not replace a report or baseline at all, or "" if they may."""
        # -x, --maxfail or --sw: serially the run ends as failed, under xdist (and with --sw) as interrupted;
        # either way it stopped by request, and says so with pytest's own reason
        stopped = session.shouldfail or session.shouldstop
        if stopped and self.partial_models(unrun=True):
            return f"the run stopped early: {stopped}" if isinstance(stopped, str) else "the run stopped early"
        if exitstatus in (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.USAGE_ERROR):
            return "the run was interrupted"
        from .report.terminal import counted

        if self.crashed:
            return f"{counted(len(self.crashed), 'item')} lost with a crashed worker"
        if self.lost:
            return (f"{counted(len(self.lost), 'item')} failed with an error before recording "
                    f"{'its' if len(self.lost) == 1 else 'their'} numbers")
        return ""

    def partial_models(self, kinds: tuple[str, ...] | None = None, unrun: bool = False) -> list[str]:
        """Models some of whose items (of ``kinds``; all by default) ran and some not (deselected, not named,
        or never reached): their rows would be a fragment that reads as a whole model. Models none of whose
        items ran are absent from a report, as after ``-k siit``, and listed only with ``unrun``."""
        from collections import Counter

        planned = Counter((kind, p.values[0].model) for kind, params in self.items.items() for p in params
                          if (kinds is None or kind in kinds) and p.values and p.values[0] is not None)
        started = {model for kind, model in self.ran if (kind, model) in planned}
        return sorted({model for (kind, model), count in planned.items()
                       if (unrun or model in started) and len(self.ran.get((kind, model), ())) < count})

    def metadata(self) -> dict[str, Any]:
        """ablation.json: what produced these numbers (timings live here, not in the CSVs)."""
        import platform
        from importlib import metadata as md

        def version(name: str) -> str | None:
            try:
                return md.version(name)
            except md.PackageNotFoundError:
                return None

        from .core.cases import case_sort_key

        s, sweep = self.settings, self.settings.sweep
        loads = [r for r in self.rows if r["kind"] == "load"]
        return {
            "gate": s.gate.describe(),
            "versions": {n: version(n) for n in ("pytest-circuit-ablation", "torch", "transformer-lens", "numpy",
                                                 "scikit-learn", "plotly", "pytest", "pytest-xdist", "kaleido")},
            "python": platform.python_version(),
            "settings": {"modes": list(sweep.modes), "scales": list(sweep.scales), "inputs": sweep.inputs, "seed": sweep.seed,
                         "pca_components": sweep.pca_components, "pca_centre": sweep.pca_centre, "device": sweep.device,
                         "gate_rule": s.gate.rule, "hl_tol": s.gate.hl_tol,
                         "tau_in": s.gate.tau_in, "tau_out": s.gate.tau_out, "min_accuracy": s.gate.min_accuracy,
                         "checkpoints": [list(c) for c in s.gate.checkpoints],
                         # the diagnosis's thresholds decide its verdicts: a merge must refuse shards that differ
                         "spread_max": s.diagnosis.spread_max, "load_min": s.diagnosis.load_min,
                         "require_irrelevant": s.diagnosis.require_irrelevant,
                         # which models were planned: shards of different task lists or model folders do not merge
                         "tasks": sorted(s.tasks, key=case_sort_key) if s.tasks else "all",
                         "models_from": "built-in" if s.models_dir is None else Path(s.models_dir).resolve().name},
            "models": {f"case{r['task']}-{r['model']}": {"hash": r.get("model_hash"), "inputs": r.get("inputs_digest"),
                                                          "seconds": r.get("seconds"),
                                                          "outcome": r["outcome"], "message": r.get("message", "")}
                       for r in loads},
            # every model of the plan, all shards together: a merge refuses folders that do not add up to it
            "planned_models": self.planned_hashes(),
            "definitions": self.planned_definitions(),
            "provenance": self.provenance(),
            "baseline": None if s.baseline_path is None else {
                "file": s.baseline_path.name, "sha256": _doc_digest(s.baseline), "tol": s.baseline_tol},
            "items": len(self.rows),
            "seconds_total": round(time.perf_counter() - self.started, 2),
            **({"shard": "{}/{}".format(*s.shard)} if s.shard else {}),
        }

    def provenance(self) -> dict[str, Any]:
        """Where this run's inputs came from and how it was started: for a reader, never compared by a merge
        (paths and commands differ between the machines that ran one run's shards)."""
        import datetime
        import platform

        from .core.cases import builtin_cases_dir

        s = self.settings
        return {"cases_dir": str(builtin_cases_dir().resolve()),
                "models_dir": None if s.models_dir is None else str(Path(s.models_dir).resolve()),
                "command": ["pytest", *map(str, self.config.invocation_params.args)],
                "invocation_dir": str(self.config.invocation_params.dir),
                "host": platform.node(),
                "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}

    def baseline_settings(self) -> dict[str, Any]:
        return settings_mod.baseline_settings(self.settings)

    def pytest_terminal_summary(self, terminalreporter, exitstatus: int, config: pytest.Config) -> None:
        if _is_worker(config):
            return
        notes = []
        if "ablation_report_dir" in _given(config) and self.settings.report_dir is None:
            notes.append("--ablation-report-dir has no effect without --ablation-report: no report written")
        if not self.rows:
            given = [f"--{d.replace('_', '-')}" for d in _given(config) if d in _OUTPUT_OPTIONS]
            if given and not self.ran and not self.crashed:  # e.g. `pytest --ablation-report` in a project's own tests
                why = ("the run was interrupted before any of the suite's items finished"
                       if exitstatus == pytest.ExitCode.INTERRUPTED and self.suite_collected else
                       "none of the suite's collected items ran (--collect-only, --setup-plan, or deselected by -k or "
                       "-m)" if self.suite_collected else "none of the suite's items was collected (the suite runs with "
                       "--pyargs pytest_circuit_ablation)")
                notes.append(f"{' and '.join(given)} given, but {why}: nothing was gated and no report written")
            if notes:
                terminalreporter.section("circuit ablation")
            for note in notes:
                terminalreporter.write_line(note, yellow=True)
            return
        from .report.terminal import summary_lines

        terminalreporter.section("circuit ablation")
        for line in summary_lines(self.rows, self.settings):
            terminalreporter.write_line(line)
        ran = {f"case{r['task']}-{r['model']}" for r in self.rows}  # any of its items: -k L0H0 or --lf runs no load item
        left = [p.ref.key for p in self.plans if p.ref.key not in ran]
        if left:
            more = f" and {len(left) - 3} more" if len(left) > 3 else ""
            terminalreporter.write_line(f"selection: {len(ran)} of the {len(ran) + len(left)} planned models ran"
                                        f"{' in this shard' if self.settings.shard else ''}; not run: "
                                        f"{', '.join(left[:3])}{more}")
        shown = [p for p in self.report_files if p.parent == self.settings.report_dir or p.suffix == ".json"]
        for path in shown:
            terminalreporter.write_line(f"{'baseline saved' if path == self.settings.save_baseline else 'report'}: {path}")
        if len(self.report_files) > len(shown):
            terminalreporter.write_line(f"report: {len(self.report_files) - len(shown)} static images under "
                                        f"{self.settings.report_dir / 'figures'}")
        if self.image_notice:
            terminalreporter.write_line(self.image_notice)
        for note in notes:
            terminalreporter.write_line(note)
        if self.not_written and self.settings.report_dir is not None:
            terminalreporter.write_line(f"report not written ({self.not_written}); the previous one is left as it was")
        baseline_why = (self.baseline_not_written or self.not_written) if self.settings.save_baseline else ""
        if baseline_why and self.settings.save_baseline not in self.report_files:
            terminalreporter.write_line(f"baseline not written ({baseline_why}); {self.settings.save_baseline} is left as it was")


def _doc_digest(doc: Any) -> str:
    """Of the baseline as it was read and compared (the file may be rewritten by this very run)."""
    import hashlib
    import json

    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def _outcome(report: pytest.TestReport) -> str:
    if hasattr(report, "wasxfail"):
        return "xfailed" if report.skipped else "xpassed"
    return report.outcome


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("circuit-ablation", "causal ablation of InterpBench models (pytest-circuit-ablation)")
    for spec in settings_mod.OPTIONS:
        kwargs: dict[str, Any] = {"dest": spec.dest, "default": None, "help": spec.full_help}
        if spec.kind == "bool":
            kwargs["action"] = "store_true"
        else:
            kwargs["metavar"] = spec.metavar
        group.addoption(f"--{spec.name}", **kwargs)
        if spec.kind == "bool":  # parsed by the settings, so a bad value names its option
            parser.addini(spec.dest, f"default for --{spec.name} (true or false)", type=_ini_type(spec.kind),
                          default="true" if spec.default == "true" else "false")
        else:
            parser.addini(spec.dest, f"default for --{spec.name}", type=_ini_type(spec.kind), default=spec.default)


_TOML_TYPES = {"bool": bool, "int": int, "number": float}


def _ini_type(kind: str) -> Any:
    """An ini key's type. From pytest 9.2 on, a bool, integer or number key is that type *or* text: pytest 9's
    native ``[tool.pytest]`` table then takes ``ablation_report = true`` and ``ablation_inputs = 30`` (it
    refuses a TOML value of another type than the key's). Text from an ini file or ``-o`` is converted by
    pytest where it can be (its bool spellings, ``t`` and ``n`` included), and what it cannot convert
    reaches the settings' checks, which name the option. Earlier versions: text only."""
    if kind not in _TOML_TYPES or tuple(pytest.version_tuple[:2]) < (9, 2):
        return None
    return Union[_TOML_TYPES[kind], str]


def _get(config: pytest.Config, dest: str) -> Any:
    value = config.getoption(dest)
    if value is None or value is False:
        value = config.getini(dest)
    return value


def _where_set(config: pytest.Config, message: str) -> str:
    """A settings error names its option as a flag (``--ablation-report: ...``); where the value came from
    an ini file or ``-o``, name the key there instead, as the user wrote it."""
    head, sep, rest = message.partition(": ")
    flag, _, value = head.partition(" ")  # "--ablation-x: ..." or "--ablation-x VALUE: ..."
    if not sep or not flag.startswith("--ablation-"):
        return message
    dest = flag[2:].replace("-", "_")
    if config.getoption(dest, None) not in (None, False):  # given on the command line
        return message
    if any(str(o).partition("=")[0].strip() == dest for o in (getattr(config.option, "override_ini", None) or [])):
        return f"-o {dest}{'=' + value if value else ''}: {rest}"
    if config.inipath is not None and _in_ini_file(config, dest):
        return f"{dest}{' = ' + value if value else ''} in {config.inipath}: {rest}"
    return message


def _in_ini_file(config: pytest.Config, dest: str) -> bool:
    """Is ``dest`` written in the ini file (not only at its default)? pytest 9 keeps the file's keys with
    their origin in ``_inicfg`` (its public ``inicfg`` is deprecated there); earlier versions in ``inicfg``."""
    keys = getattr(config, "_inicfg", None)
    if keys is not None:
        entry = keys.get(dest)
        return entry is not None and getattr(entry, "origin", "file") == "file"
    return dest in (getattr(config, "inicfg", None) or {})


def _base(config: pytest.Config, dest: str) -> Path:
    """Where a relative path option is resolved: the invocation directory for a command-line value, the
    rootdir for an ini value."""
    if config.getoption(dest) is not None:
        return Path(str(config.invocation_params.dir))
    return Path(str(config.rootpath))


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


_OWN_SCHEDULER = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_cmdline_main(config: pytest.Config):
    """With -n (or --tx gateways) and no --dist, distribute whole cases (``scheduling.CaseScheduling``). A wrapper, so it runs
    before xdist's own hook turns an unset --dist into 'load'."""
    spread = getattr(config.option, "numprocesses", None) or getattr(config.option, "tx", None)
    # never on a worker: its options repeat the controller's --tx, and a worker that distributed
    # would start workers of its own
    if spread and not _is_worker(config) and getattr(config.option, "dist", "no") == "no":
        config.option.dist = "load"
        config.stash[_OWN_SCHEDULER] = True
    return (yield)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    if config.stash.get(_OWN_SCHEDULER, False):
        from .suite.scheduling import CaseScheduling

        def work() -> dict[str, float]:
            per_case: dict[str, float] = {}
            for plan in _session(config).plans:
                scope = f"case{plan.ref.case_id}"
                per_case[scope] = per_case.get(scope, 0.0) + plan.work
            return per_case

        return CaseScheduling(config, log, work)
    return None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "xdist_group(name): keep items of one task on one xdist worker (--dist loadgroup)")
    try:
        settings = settings_mod.parse(lambda dest: _get(config, dest), Path(str(config.rootpath)),
                                      lambda dest: _base(config, dest), writes=_writes_outputs(config))
    except AblationError as exc:
        if config.option.help or config.option.version:
            return  # the help that says how to fix the value must show; any run still refuses it
        raise pytest.UsageError(_where_set(config, str(exc))) from None
    session = AblationSession(config, settings)
    config.stash[_SESSION] = session
    config.pluginmanager.register(session, "circuit-ablation-session")
    if not (config.option.help or config.option.version) and (_ablation_configured(config) or _suite_in_scope(config)):
        session.build_items()  # a bad task, folder or case fails here, as one line, before collection


def _same_file(a: Path, b: Path) -> bool:
    """One file under two spellings (a relative path, a symlink, a hard link)."""
    import os

    try:
        return os.path.samefile(a, b)
    except OSError:  # the saved file does not exist yet
        return Path(a).resolve() == Path(b).resolve()


def _writes_outputs(config: pytest.Config) -> bool:
    """Does this process write the report and baseline? Not an xdist worker (its controller does), and not a
    run that only collects or plans (``--co``, ``--setup-plan``): its output folders are not checked, so a
    folder a real run would refuse does not fail a listing that writes nothing."""
    return not (_is_worker(config) or config.option.collectonly or getattr(config.option, "setupplan", False))


def _suite_in_scope(config: pytest.Config) -> bool:
    """Will this run collect the suite's module? Its package named with ``--pyargs``, or a path at, inside or
    above the package (not through a virtualenv, which pytest does not enter) among the arguments or
    ``testpaths``. Cheap, and made without collecting: a plan that fails while the module is collected is a
    collection error, not the one-line usage error it is here."""
    package = _SUITE_MODULE.parent
    for arg in config.args:
        name = str(arg).split("::")[0]
        if config.option.pyargs and name.split(".")[0] == package.name:
            return True
        path = Path(str(config.invocation_params.dir), name).resolve()
        if path == package or package in path.parents:
            return True
        if path in package.parents:
            between = package.relative_to(path).parents
            if not any((path / p / "pyvenv.cfg").exists() for p in between if str(p) != "."):
                return True
    return False


#: options whose point is the gate's verdict or a file: given where the suite did not run, they did nothing
_OUTPUT_OPTIONS = ("ablation_report", "ablation_report_dir", "ablation_save_baseline", "ablation_baseline")


def _given(config: pytest.Config) -> list[str]:
    """The dests of the ``--ablation-*`` options given on the command line (``addopts`` included) or with ``-o``
    (a flag set false with ``-o ablation_report=false`` is not given)."""
    overrides = {}
    for o in getattr(config.option, "override_ini", None) or []:
        key, _, value = str(o).partition("=")
        overrides[key.strip()] = value.strip().lower()
    off = ("false", "0", "no", "off", "n", "f", "")
    return [spec.dest for spec in settings_mod.OPTIONS
            if config.getoption(spec.dest, None) not in (None, False)
            or spec.dest in overrides and not (spec.kind == "bool" and overrides[spec.dest] in off)]


def _ablation_configured(config: pytest.Config) -> bool:
    """Did the user set any ``--ablation-*`` option (command line, ``-o`` or ini file) or the cases
    folder's environment variable? Then this run is about the suite, and its plan is checked at once."""
    import os

    from .core.cases import CASES_ENV

    if os.environ.get(CASES_ENV) or _given(config):
        return True
    return config.inipath is not None and any(_in_ini_file(config, spec.dest) for spec in settings_mod.OPTIONS)


_SESSION = pytest.StashKey[AblationSession]()


def _session(config: pytest.Config) -> AblationSession:
    return config.stash[_SESSION]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    for fixture, kind in _FIXTURE_KINDS.items():
        if fixture in metafunc.fixturenames:
            try:
                params = _session(metafunc.config).build_items()[kind]
            except pytest.UsageError as exc:  # planned only now (the suite was not foreseen): one line, no traceback
                raise pytest.Collector.CollectError(str(exc)) from None
            metafunc.parametrize(fixture, params or [pytest.param(None, marks=pytest.mark.skip(reason="no models planned"))])


_SUITE_MODULE = Path(__file__).resolve().parent / "test_circuits.py"


class SuiteModule(pytest.Module):
    """The suite's module, whose ``test_*`` functions are collected whatever the project's
    ``python_functions`` says: a project that names its own tests ``check_*`` still gets the gate."""

    def funcnamefilter(self, name: str) -> bool:
        return name.startswith("test_")


def _is_suite_module(path: Path) -> bool:
    return path.name == _SUITE_MODULE.name and path.resolve() == _SUITE_MODULE


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makemodule(module_path: Path, parent: pytest.Collector) -> pytest.Module | None:
    return SuiteModule.from_parent(parent, path=module_path) if _is_suite_module(module_path) else None


@pytest.hookimpl(wrapper=True)
def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    """The suite's module is collected when its package is (``--pyargs pytest_circuit_ablation``) even
    where the project's ``python_files`` (``check_*.py``) would pass it over."""
    collected = yield
    # a DoctestModule (--doctest-modules) is a pytest.Module too, and collects none of the suite's tests
    if _is_suite_module(file_path) and not any(type(c) is pytest.Module or isinstance(c, SuiteModule) for c in collected):
        collected = [*collected, SuiteModule.from_parent(parent, path=file_path)]
    return collected


@pytest.hookimpl(tryfirst=True)  # before -k and -m deselect: whether the suite was collected at all
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """The ablation suite collected with no model to gate is a usage error (exit 4), never a green run
    that checked nothing."""
    _drop_per_item_plugins_if_only_ours(config, items)
    ours = [item for item in items if _is_suite_item(item)]
    _session(config).suite_collected |= bool(ours)
    if ours and _is_worker(config):
        config.workeroutput[_SUITE_COLLECTED] = True  # before -k or -m deselect: the controller sees only what is left
    for item in ours:  # marked with their kind and model, so that an incomplete report stays unwritten
        item.user_properties.append((_OURS_KEY, _kind_and_model(item)))
    if _is_worker(config) or not ours:
        return
    ablation = _session(config)
    if not ablation.plans:
        s = ablation.settings
        hint = "give --ablation-models DIR or --ablation-tasks"
        if s.tasks:
            why = f"the cases named by --ablation-tasks ({', '.join(s.tasks)}) have no models"
        else:
            from .core.cases import builtin_cases_dir  # $CIRCUIT_ABLATION_CASES was checked by the plan

            where = builtin_cases_dir()
            why = f"no built-in case has a model under {where}"
            if not where.is_dir():  # an installation without its cases
                why, hint = f"the built-in cases' folder {where} is missing", "reinstall the package, or give --ablation-models DIR"
        raise pytest.UsageError(f"circuit ablation: no models planned: {why}; {hint}")


_LOG_OPTIONS = ("log_level", "log_file", "log_file_level", "log_cli_level")
#: Hypothesis's plugin wraps every test phase and, at the end, imports hypothesis to print its summary;
#: none of the suite's items uses it (case 3's gate, serial, A/B in turn: 13.9/13.8 s -> 12.8/12.1 s
#: with it unregistered)
_HYPOTHESIS_PLUGIN = "hypothesispytest"


def _kind_and_model(item: pytest.Item) -> tuple[str, str] | None:
    """(kind, model key), e.g. ("effect", "case3-siit"), of one of the suite's items; None for the stand-in
    item of a run that planned no model."""
    params = getattr(getattr(item, "callspec", None), "params", {})
    spec = next((params[f] for f in _FIXTURE_KINDS if f in params), None)
    return None if spec is None else (spec.kind, spec.model)


def _is_suite_item(item: pytest.Item) -> bool:
    """One of this suite's items (it uses one of the suite's item fixtures)."""
    return bool(set(_FIXTURE_KINDS) & set(getattr(item, "fixturenames", ())))


def _drop_per_item_plugins_if_only_ours(config: pytest.Config, items: list[pytest.Item]) -> None:
    """When every collected item is one of this suite's, unregister plugins that work at every item and
    that none of them uses: Hypothesis's, and, unless a logging option is set, pytest's per-test log
    capture. Since pytest 9 that attaches its handlers to every non-propagating logger at each test
    phase, and torch alone defines about fifty: 2 ms per item, 20,000 items in the main job (case 3's
    gate, serial: 29.2 s -> 24.1 s). A run with any other test keeps both, so ``caplog``, log reports
    and Hypothesis work wherever a test can use them."""
    if not items or not all(_is_suite_item(i) for i in items):
        return
    _session(config).only_ours = True
    if _is_worker(config):
        config.workeroutput[_ONLY_OURS] = True
    names = [_HYPOTHESIS_PLUGIN]
    if not _logging_asked(config):
        names.append("logging-plugin")
    for name in names:
        plugin = config.pluginmanager.get_plugin(name)
        if plugin is not None:
            config.pluginmanager.unregister(plugin)


def _logging_asked(config: pytest.Config) -> bool:
    """A logging option on the command line or in the ini file: a level, a log file, live logs, or logs
    in the JUnit XML."""
    def ini(name: str) -> Any:
        try:
            return config.getini(name)
        except ValueError:  # not registered (its plugin switched off)
            return None

    if any(config.getoption(name, None) or ini(name) for name in _LOG_OPTIONS):
        return True
    return bool(ini("log_cli")) or (ini("junit_logging") or "no") != "no"


_ONLY_OURS = "circuit_ablation_only_ours"  # a worker's workeroutput keys
_SUITE_COLLECTED = "circuit_ablation_suite_collected"
_freeze_registered = False


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error: object | None) -> None:
    """Controller: the run held only this suite's items if every worker that went down said so."""
    ours = error is None and bool(getattr(node, "workeroutput", {}).get(_ONLY_OURS))
    session = _session(node.config)
    session.workers_only_ours = ours if session.workers_only_ours is None else session.workers_only_ours and ours
    session.suite_collected |= bool(getattr(node, "workeroutput", {}).get(_SUITE_COLLECTED))


def _end_without_heap_scans(config: pytest.Config) -> None:
    """A run of only the suite's items ends holding about a million long-lived objects (its 20,000 items,
    torch's and TransformerLens's modules). The collector's full passes over them at the end, pytest's at
    unconfigure and the interpreter's at exit, cost each worker about 3 s, and the controller waits for the
    workers to exit. ``gc.freeze()`` takes those objects out of every later pass. A worker's process ends
    with its session, so it freezes now; a controller or serial run may live inside a longer process
    (``pytest.main``, pytester), so it freezes only at interpreter exit, after every test's garbage is
    gone. The controller also drops Hypothesis's plugin, as the workers did: its summary would import
    hypothesis (1.2 s) to report nothing."""
    import gc

    global _freeze_registered
    if _is_worker(config):
        gc.freeze()
        return
    plugin = config.pluginmanager.get_plugin(_HYPOTHESIS_PLUGIN)
    if plugin is not None:
        config.pluginmanager.unregister(plugin)
    if not _freeze_registered:
        import atexit

        atexit.register(gc.freeze)
        _freeze_registered = True


def _item_fixture(request: pytest.FixtureRequest):
    return request.param


ablation_load_item = pytest.fixture(_item_fixture, name="ablation_load_item")
ablation_accuracy_item = pytest.fixture(_item_fixture, name="ablation_accuracy_item")
ablation_effect_item = pytest.fixture(_item_fixture, name="ablation_effect_item")
ablation_separation_item = pytest.fixture(_item_fixture, name="ablation_separation_item")
ablation_diagnosis_item = pytest.fixture(_item_fixture, name="ablation_diagnosis_item")


@pytest.fixture(scope="session")
def ablation_settings(pytestconfig: pytest.Config) -> settings_mod.Settings:
    """The validated ``--ablation-*`` settings of this run."""
    return _session(pytestconfig).settings


def _share_cores(config: pytest.Config) -> None:
    """Give each xdist worker its share of the cores: torch's default (all cores per process)
    oversubscribes the machine under ``-n`` and runs several times slower."""
    workers = int(getattr(config, "workerinput", {}).get("workercount", 1))
    if workers > 1:
        import os

        import torch

        torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))


@pytest.fixture(scope="session")
def ablation_store(pytestconfig: pytest.Config):
    """Evaluations of every planned model, computed once per worker on first use."""
    from .suite.store import AblationStore

    _share_cores(pytestconfig)
    session = _session(pytestconfig)
    cache_dir = None
    cache = getattr(pytestconfig, "cache", None)
    if cache is not None and session.settings.sweep.uses_pca:
        try:
            cache_dir = Path(cache.mkdir("circuit-ablation-pca"))
        except OSError:
            cache_dir = None  # a cache pytest cannot make only costs fitting the directions again
    return AblationStore(session.settings, session.plans, cache_dir)


@pytest.fixture
def record_ablation(request: pytest.FixtureRequest):
    """Attach an item's numbers to its report (they travel to the xdist controller with it)."""

    def record(row) -> None:  # a report/rows.py Row
        request.node.user_properties.append((_ROWS_KEY, row))

    return record


class _ByModel(Mapping):
    """A read-only mapping from model key (``"case3-siit"``) to one part of that model's evaluation,
    computed on first access (once per worker)."""

    def __init__(self, store, part: Callable[[Any], Any]) -> None:
        self._store, self._part = store, part

    def __getitem__(self, key: str) -> Any:
        if key not in self._store.plans:
            raise KeyError(key)
        return self._part(self._store.evaluation(key))

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._store.plans))

    def __len__(self) -> int:
        return len(self._store.plans)


@pytest.fixture(scope="session")
def ablation_model_pairs(ablation_store) -> Mapping:
    """model key -> ModelPair (case, ref, HL and LL HookedTransformers in float64, frozen)."""
    return _ByModel(ablation_store, lambda ev: ev.pair)


@pytest.fixture(scope="session")
def ablation_inputs(ablation_store) -> Mapping:
    """model key -> Inputs: the distinct bodies, their tokens and HL outputs, and ``.pairs`` (every ordered pair)."""
    return _ByModel(ablation_store, lambda ev: ev.inputs)


@pytest.fixture(scope="session")
def ablation_pca(ablation_store) -> Mapping:
    """model key -> {Node: Projection}: the PCA directions of every node (empty when no PCA mode runs)."""
    return _ByModel(ablation_store, lambda ev: ev.projections)


@pytest.fixture(scope="session")
def ablation_effects(ablation_store) -> Mapping:
    """model key -> list of {node, in_circuit, mode, scale, cells_flipped, cells_counted, effect, kl_effect}
    (kl_effect: normalised KL for categorical tasks, None for regression)."""
    return _ByModel(ablation_store, lambda ev: ev.effect_table())


@pytest.fixture(scope="session")
def ablation_effects_frame(ablation_store) -> Mapping:
    """model key -> pandas DataFrame of the measured columns of ``ablation.csv`` for that model, typed and
    ordered exactly as ``results.read(folder)["ablation"]`` (``results.effect_frame``)."""
    from .results import effect_frame

    return _ByModel(ablation_store, effect_frame)


def _is_gate_row(row: Any) -> bool:
    """A model's gate (or control) separation row: the item that carries the model's figure."""
    return isinstance(row, dict) and row.get("kind") == "separation" and row.get("gate_role") in ("gate", "control")


def _html_report_asked(config: pytest.Config) -> bool:
    """pytest-html is installed *and* ``--html`` was given (its plugin is registered either way)."""
    return config.pluginmanager.hasplugin("html") and bool(getattr(config.option, "htmlpath", None))


@pytest.hookimpl(optionalhook=True)
def pytest_html_results_summary(prefix: list, summary: list, postfix: list, session: pytest.Session) -> None:
    """pytest-html's page gets plotly.js once, and the script that draws the gate items' figures
    (report/html_extra.py), when this run had gate items."""
    rows = _session(session.config).rows
    if any(_is_gate_row(r) for r in rows):
        from .report.html_extra import summary_scripts

        prefix.append(summary_scripts())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    """With pytest-html installed, a model's gate item carries its effect-against-scale figure (drawn
    offline: report/html_extra.py)."""
    report = yield
    if report.when != "call" or not _html_report_asked(item.config):
        return report
    row = next((v for k, v in item.user_properties if k == _ROWS_KEY), None)
    store = getattr(item, "funcargs", {}).get("ablation_store")
    if not _is_gate_row(row) or store is None:
        return report
    try:
        from pytest_html import extras

        from .report.figures import effect_figure
        from .report.html_extra import figure_html
        from .report.rows import effect_columns

        ev = store.evaluation(f"case{row['task']}-{row['model']}")
        gate = store.settings.gate
        rows = [dict(effect_columns(ev, node, mode, scale), gate_role=gate.item_role(row.get("role", ""), mode, scale))
                for node, mode, scale in ev.result.counts]
        marks = {"tau_in": gate.tau_in, "tau_out": gate.tau_out, "hl_tol": gate.hl_tol, "gate_rule": gate.rule}
        fig = effect_figure(rows, f"case {row['task']} / {row['model']}", marks)
        report.extras = [*getattr(report, "extras", []), extras.html(figure_html(fig))]
    except Exception as exc:  # an extra must never break the run
        report.sections.append(("circuit-ablation", f"figure not attached: {exc}"))
    return report

"""Static PNG and/or PDF of the notebook's figure (effect against scale, one mode, 1000 x 400, node names in the
legend). Both need a Chrome or Chromium (Debian: ``apt-get install -y chromium``); without one the images are
skipped with a single notice; the HTML page and the CSVs never depend on them.

PNGs are drawn by plotly.js's own ``Plotly.toImage`` in one headless page per core that holds every figure and
is read back with ``--dump-dom``: kaleido reloads its page (and re-parses plotly.js) after every figure, about
0.8 CPU-seconds each, which made the PNGs of the default run (140 figures) cost about two CPU-minutes; one page
draws them for about a quarter of that (``benchmarks/bench_images.py``). PDFs need Chromium's print-to-PDF, so
they still go through kaleido (``--ablation-images pdf``)."""
from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..core.cases import case_sort_key
from . import figures
from .rows import Row

MAX_TABS = 4
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


def find_browser() -> str | None:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def _tabs(figures: int) -> int:
    import os

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(MAX_TABS, cores, figures))


def render(rows: list[Row], marks: dict[str, Any] | None = None,
           formats: tuple[str, ...] = ("png",)) -> tuple[dict[str, bytes], str | None]:
    """{relative file name: bytes} of every (task, model, mode) figure in each of ``formats`` ('png',
    'pdf'), or ({}, why not): all of them or none."""
    browser = find_browser()
    if browser is None:
        return {}, "static images skipped: no Chrome/Chromium found (apt-get install -y chromium); HTML and CSV written"
    named = _figures(rows, marks)
    out: dict[str, bytes] = {}
    if "png" in formats:
        try:
            pngs = render_png(browser, [fig for _, fig in named])
        except ImageError as exc:
            return {}, f"static images skipped: {exc}; HTML and CSV written"
        out.update({f"figures/{name}.png": png for (name, _), png in zip(named, pngs)})
    if "pdf" in formats:
        pdfs, why = _render_pdf(browser, named)
        if why:
            return {}, why
        out.update(pdfs)
    return out, None


class ImageError(Exception):
    """Chromium did not give back every image."""


def _figures(rows: list[Row], marks: dict[str, Any] | None) -> list[tuple[str, Any]]:
    """(file stem, figure) for every (task, model, mode), in report order."""
    effect = [r for r in rows if r["kind"] == "effect"]
    groups = sorted({(r["task"], r["model"], r["mode"]) for r in effect},
                    key=lambda k: (case_sort_key(k[0]), k[1], figures.MODES.index(k[2])))
    by_model: dict[tuple[str, str], list[Row]] = {}
    for r in effect:
        by_model.setdefault((r["task"], r["model"]), []).append(r)
    return [(f"case{task}-{model}-{mode}",
             figures.mode_figure(by_model[(task, model)], mode, f"case {task} / {model}: {mode}", marks))
            for task, model, mode in groups]


#: the browsers' time to draw, all of them together: a start-up allowance plus this much per figure of the
#: largest share (a page draws about 5 a second here); a hung Chromium costs this once, not 600 s per browser
DRAW_START_S, DRAW_PER_FIGURE_S = 60.0, 1.0


def render_png(browser: str, figs: list[Any], width: int = 1000, height: int = 400,
               timeout_s: float | None = None) -> list[bytes]:
    """PNG bytes of each figure, drawn by plotly.js in headless pages (one Chromium per core, each with its
    share of the figures), in order, within one deadline for all of them. Raises ImageError unless every
    image came back."""
    import base64
    import os
    import re
    import subprocess
    import time

    if not figs:
        return []
    share = _tabs(len(figs))
    chunks = [list(range(i, len(figs), share)) for i in range(share)]
    if timeout_s is None:
        timeout_s = DRAW_START_S + DRAW_PER_FIGURE_S * max(len(c) for c in chunks)
    deadline = time.monotonic() + timeout_s
    with _TermAsInterrupt.active() as term, tempfile.TemporaryDirectory() as tmp:
        procs: list[subprocess.Popen] = []
        out: list[bytes | None] = [None] * len(figs)
        try:
            for k, chunk in enumerate(chunks):
                page = Path(tmp) / f"render-{k}.html"
                page.write_text(_render_page([figs[i] for i in chunk], width, height), encoding="utf-8")
                with term.hold():  # a browser started is a browser recorded, to be killed
                    procs.append(subprocess.Popen(
                        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
                         "--disable-background-networking", "--disable-component-update", "--disable-extensions",
                         f"--user-data-dir={Path(tmp) / f'profile-{k}'}", "--virtual-time-budget=3600000", "--dump-dom",
                         page.as_uri()], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                        env={**os.environ, "TMPDIR": tmp}))  # its own temporary folders go with ours
            for chunk, proc in zip(chunks, procs):
                dom, err = proc.communicate(timeout=max(0.1, deadline - time.monotonic()))
                found = dict(re.findall(r'<pre id="img-(\d+)">data:image/png;base64,([A-Za-z0-9+/=]*)</pre>', dom))
                failed = re.search(r'<pre id="failed">([^<]*)</pre>', dom)
                if failed or len(found) != len(chunk):
                    why = failed.group(1) if failed else (err.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
                    raise ImageError(f"Chromium drew {len(found)} of {len(chunk)} figures ({why[:200]})")
                for j, i in enumerate(chunk):
                    out[i] = base64.b64decode(found[str(j)])
        except subprocess.TimeoutExpired:
            raise ImageError(f"Chromium did not finish drawing within {timeout_s:.0f} s") from None
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
    return out  # type: ignore[return-value]


class _TermAsInterrupt:
    """SIGTERM (a CI job's timeout, ``kill``) while Chromium draws the PNGs is raised as KeyboardInterrupt, so
    the browsers are killed and their temporary folder (~14 MB) removed, and the run ends as interrupted with
    the previous report kept, as on Ctrl-C. Python's default would end the process on the spot and leave
    both. Only the first SIGTERM interrupts: later ones while that clean-up runs are let pass. Inside
    ``hold()`` (a browser being started and recorded) it waits until the block ends. One arriving as the
    handler is put back, after the drawing, is re-sent to the default action. Only in the main thread, and
    not where SIGTERM is ignored or already handled by someone else."""

    def __init__(self) -> None:
        self.fired = self.held = self.waiting = self.closing = self.late = False

    def _handle(self, signum, frame) -> None:
        if self.closing:
            self.late = True
        elif self.held:
            self.waiting = True
        elif not self.fired:
            self.fired = True
            raise KeyboardInterrupt

    @contextmanager
    def hold(self) -> Iterator[None]:
        self.held = True
        try:
            yield
        finally:
            self.held = False
        if self.waiting and not self.fired:
            self.fired = True
            raise KeyboardInterrupt

    @classmethod
    @contextmanager
    def active(cls) -> Iterator["_TermAsInterrupt"]:
        import os
        import signal
        import threading

        guard = cls()
        if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            yield guard
            return
        signal.signal(signal.SIGTERM, guard._handle)
        try:
            yield guard
        finally:
            guard.closing = True
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            if guard.late and not guard.fired:
                os.kill(os.getpid(), signal.SIGTERM)


@contextmanager
def _temporary_folders_gone_on_signal() -> Iterator[None]:
    """kaleido and its browser make four temporary folders (its page, the browser's profile of ~2.3 MB,
    Chromium's own, and ours for the PDFs). A SIGTERM ended the process at once, which left them behind,
    and interrupting kaleido (Ctrl-C) hangs it (benchmarks/RESULTS.md, twelfth session). So inside this
    block every temporary folder is made in one of ours, and a SIGTERM or SIGINT (in the main thread, where
    each still has its usual handler) kills the processes started inside the block (the browser), removes
    that folder, then ends the process by that signal's default action. Processes running before the block
    (xdist's, a host program's) are left alone."""
    import os
    import signal
    import threading
    import time

    work = tempfile.mkdtemp(prefix="cap")  # short: Chromium refuses a socket path over 107 characters below it
    saved = tempfile.tempdir
    usual = {signal.SIGTERM: signal.SIG_DFL, signal.SIGINT: signal.default_int_handler}
    in_main = threading.current_thread() is threading.main_thread()
    caught = [signum for signum, handler in usual.items() if in_main and signal.getsignal(signum) is handler]
    before = _descendants(os.getpid(), set()) if caught else set()
    ending = []

    def end(signum, frame) -> None:
        if ending:  # a second signal while cleaning up: the first one's clean-up goes on
            return
        ending.append(signum)
        _kill_descendants(before)
        for _ in range(40):  # a killed process's last writes can land while the folder is removed
            shutil.rmtree(work, ignore_errors=True)
            if not os.path.exists(work):
                break
            time.sleep(0.05)
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    for signum in caught:
        signal.signal(signum, end)
    tempfile.tempdir, saved_env = work, os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = work  # Chromium's own (org.chromium.Chromium.*), which a killed browser leaves
    try:
        yield
    finally:
        tempfile.tempdir = saved
        if saved_env is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved_env
        shutil.rmtree(work, ignore_errors=True)  # with the handlers still in place: a signal now also removes it
        for signum in caught:
            signal.signal(signum, usual[signum])


def _kill_descendants(spared: set[int]) -> None:
    """SIGKILL every process below this one except ``spared`` and theirs (Linux's /proc; elsewhere nothing
    is killed). They are stopped first, scan after scan until no new one appears, so none can start a
    process the scans would miss."""
    import os
    import signal

    stopped: set[int] = set()
    while True:
        found = _descendants(os.getpid(), spared) - stopped
        if not found:
            break
        for pid in found:
            _signal(pid, signal.SIGSTOP)
        stopped |= found
    for pid in stopped:
        _signal(pid, signal.SIGKILL)


def _descendants(root: int, spared: set[int]) -> set[int]:
    """Every process below ``root``, not descending into ``spared``."""
    import os

    below: dict[int, list[int]] = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parent = int(f.read().rsplit(")", 1)[1].split()[1])  # the name in (...) may hold spaces
            except (OSError, ValueError, IndexError):
                continue
            below.setdefault(parent, []).append(int(entry))
    out: set[int] = set()
    todo = [pid for pid in below.get(root, []) if pid not in spared]
    while todo:
        pid = todo.pop()
        out.add(pid)
        todo.extend(below.get(pid, []))
    return out


def _signal(pid: int, signum: int) -> None:
    import os

    try:
        os.kill(pid, signum)
    except OSError:
        pass


def _render_page(figs: list[Any], width: int, height: int) -> str:
    """A page that draws each figure with Plotly.toImage, one after the other, into <pre id="img-i">, at the
    figure's own width and height where its layout sets them (else ``width`` x ``height``)."""
    from plotly.offline import get_plotlyjs

    specs = ",".join(fig.to_json().replace("</", "<\\/") for fig in figs)
    return f"""<!DOCTYPE html><html><head><meta charset="utf-8"><script>{get_plotlyjs()}</script></head><body>
<div id="out"></div><script>
(async () => {{
  const specs = [{specs}], out = document.getElementById("out");
  for (let i = 0; i < specs.length; i++) {{
    const size = specs[i].layout || {{}};
    const url = await Plotly.toImage(specs[i], {{format: "png", width: size.width || {width}, height: size.height || {height}}});
    const pre = document.createElement("pre"); pre.id = "img-" + i; pre.textContent = url; out.appendChild(pre);
  }}
}})().catch(e => {{
  const pre = document.createElement("pre"); pre.id = "failed"; pre.textContent = String(e);
  document.body.appendChild(pre);
}});
</script></body></html>"""


def _render_pdf(browser: str, named: list[tuple[str, Any]]) -> tuple[dict[str, bytes], str | None]:
    """PDF bytes of each figure through kaleido (Chromium's print-to-PDF), or ({}, why not)."""
    try:
        import kaleido
    except ImportError:
        return {}, "static images skipped: PDF needs kaleido (pip install kaleido); HTML and CSV written"
    import os

    os.environ.setdefault("BROWSER_PATH", browser)
    try:
        with _temporary_folders_gone_on_signal(), tempfile.TemporaryDirectory() as tmp:
            paths = [Path(tmp) / f"{name}.pdf" for name, _ in named]
            jobs = [{"fig": fig, "path": str(path), "opts": {"format": "pdf", "width": fig["layout"].get("width", 1000),
                                                              "height": fig["layout"].get("height", 400)}}
                    for (_, fig), path in zip(named, paths)]
            # one browser for all of them, with a tab per core
            kaleido.write_fig_from_object_sync(jobs, kopts={"n": _tabs(len(jobs))})
            return {f"figures/{path.name}": path.read_bytes() for path in paths}, None
    except Exception as exc:  # a browser that will not start must not cost the HTML and CSV
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return {}, f"static images skipped: kaleido failed ({first[:200]}); HTML and CSV written"

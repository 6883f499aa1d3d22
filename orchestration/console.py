"""What the ``tfm`` command line prints, and where everything else goes.

A command prints its own lines only: what it is doing, progress, a summary, and a failure as one ``error:``
line. Everything Dagster and dbt write while a command runs goes to the log file
(``$TFM_HOME/logs/tfm.log``), and to the terminal as well with ``tfm -v``:

- Dagster's console logger, which writes each run's log lines to ``sys.stderr`` as it emits them;
- dbt's lines, which dagster-dbt reads from the dbt process (JSON) and writes again, as text, to
  ``sys.stdout`` (``DbtCliInvocation.stream_raw_events``), and anything else the dbt process prints;
- the warnings Python's ``warnings`` module shows (Dagster's beta and deprecation warnings).

:func:`capture` swaps ``sys.stdout`` and ``sys.stderr`` for a sink that writes each line to the log file
(colour codes removed) and reads dbt's node lines (``12 of 464 PASS ...``) for the progress bar.

Progress bars (rich) are drawn on standard error only when it is a terminal; elsewhere a few plain lines take
their place. Nothing tfm prints carries colour codes unless it goes to a terminal.
"""

from __future__ import annotations

import functools
import io
import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import TextIO

# Terminal control sequences (colours, cursor moves) as dbt and Dagster write them.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")
# dbt's line for one node of a build: "12 of 464 START test ...", "12 of 464 PASS not_null_x ... [PASS in 0.05s]".
_DBT_NODE = re.compile(r"^(\d+) of (\d+) (START|OK|PASS|WARN|ERROR|FAIL|SKIP|NO-OP)\b")
_DBT_START = "Running with dbt="
# What a step, or dbt (tfm-dbt), says while it waits for another process's hold on the warehouse.
_LOCK_WAIT = "waiting for the warehouse"
# Dagster's console logger: "<time> - dagster - INFO - <job> - <run id> - <step> - <message>".
_DAGSTER_LINE = re.compile(
    r" - dagster - (?P<level>[A-Z]+) - \S+ - [0-9a-f]{8}-[0-9a-f-]{27} - (?:(?P<step>[\w.\[\]]+) - )?(?P<message>.*)$"
)
# The log file is rotated at this size, keeping this many older files (tfm.log.1, ...).
LOG_BYTES = 20 * 1024 * 1024
LOG_BACKUPS = 2
# Without a terminal, a long step prints a line at most this often (seconds).
PLAIN_INTERVAL = 30.0

_LOGGER = "tfm.output"


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


class _State:
    verbose = False
    out: TextIO | None = None  # the command's own stdout and stderr while a capture is on
    err: TextIO | None = None
    log_file: Path | None = None
    display: _Display | None = None
    lock = threading.RLock()


_state = _State()


def configure(*, verbose: bool) -> None:
    """Set once per command by the ``tfm`` group: ``-v`` shows Dagster's and dbt's logs live."""
    _state.verbose = verbose


def _out() -> TextIO:
    return _state.out or sys.stdout


def _err() -> TextIO:
    return _state.err or sys.stderr


def interactive() -> bool:
    """True when standard error is a terminal that can redraw a progress bar."""
    stream = _err()
    try:
        return stream.isatty() and os.environ.get("TERM", "") != "dumb"
    except (AttributeError, ValueError):
        return False


# --- the lines tfm prints -------------------------------------------------------------------------------


def say(message: str) -> None:
    """A status line (what tfm is doing, a warning): standard error, and the log file during a command."""
    _log_line(message)
    _print(message, _err())


def echo(message: str = "") -> None:
    """A line of a command's result or summary: standard output, and the log file during a command."""
    _log_line(message)
    _print(message, _out())


def log(message: str) -> None:
    """A detail for the log file (scanned files and the like); shown on the terminal too with ``-v``."""
    _log_line(message)
    if _state.verbose:
        _print(message, _err())


def _print(message: str, stream: TextIO) -> None:
    with _state.lock:
        display = _state.display
        if display is not None and display.owns(stream):
            display.print(message)
            return
        try:
            stream.write(message if _isatty(stream) else strip_ansi(message))
            stream.write("\n")
            stream.flush()
        except (OSError, ValueError):
            pass  # a closed pipe (tfm ... | head): the log file still has it


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


# --- progress ---------------------------------------------------------------------------------------------


def progress(
    key: str,
    description: str | None = None,
    *,
    completed: int | None = None,
    total: int | None = None,
) -> None:
    """Create or update the progress bar ``key`` (drawn only on a terminal; a no-op elsewhere)."""
    if not interactive():
        return
    with _state.lock:
        if _state.display is None:
            _state.display = _Display(_err())
        _state.display.update(key, description, completed=completed, total=total)


def finish(key: str) -> None:
    """Remove the progress bar ``key``; the display goes when its last bar does."""
    with _state.lock:
        display = _state.display
        if display is None:
            return
        display.remove(key)
        if display.empty:
            display.stop()
            _state.display = None


def stop() -> None:
    """Take the progress bars off the terminal (before a failure's last line)."""
    with _state.lock:
        if _state.display is not None:
            _state.display.stop()
            _state.display = None


def counter(key: str, description: str) -> Callable[[int, int], None]:
    """A ``progress(done, total)`` callback that moves the bar ``key``."""

    def update(done: int, total: int) -> None:
        progress(key, description, completed=done, total=total)

    return update


class _Display:
    """rich's live progress bars on the terminal; lines printed meanwhile appear above them."""

    def __init__(self, stream: TextIO) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
        from rich.table import Column
        from rich.text import Text

        class Bar(BarColumn):
            """A bar for a count; nothing for a step without one (the spinner says it is alive)."""

            def render(self, task):
                return super().render(task) if task.total is not None else Text("")

        self.stream = stream
        self.console = Console(file=stream, highlight=False, soft_wrap=True)
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}", table_column=Column(ratio=1, no_wrap=True, overflow="ellipsis")),
            Bar(bar_width=30),
            TextColumn("{task.fields[count]}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
            expand=True,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self.tasks: dict[str, int] = {}
        self.progress.start()

    def owns(self, stream: TextIO) -> bool:
        """True for the bars' own stream, and for stdout on the same terminal: lines go through rich then."""
        return stream is self.stream or (_isatty(stream) and _isatty(self.stream))

    def print(self, message: str) -> None:
        from rich.text import Text

        self.console.print(Text.from_ansi(message))

    def update(self, key: str, description: str | None, *, completed: int | None, total: int | None) -> None:
        added = key not in self.tasks
        if added:
            self.tasks[key] = self.progress.add_task(description or key, total=total, count="")
        task = self.tasks[key]
        changes: dict = {"total": total} if total is not None else {}
        if description is not None:
            changes["description"] = description
        if completed is not None:
            changes["completed"] = completed
        self.progress.update(task, **changes)
        state = self.progress.tasks[self.progress.task_ids.index(task)]
        count = f"{int(state.completed):,}/{int(state.total):,}" if state.total is not None else ""
        self.progress.update(task, count=count, refresh=added)

    def remove(self, key: str) -> None:
        task = self.tasks.pop(key, None)
        if task is not None:
            self.progress.remove_task(task)

    @property
    def empty(self) -> bool:
        return not self.tasks

    def stop(self) -> None:
        self.progress.stop()


# --- capturing Dagster's and dbt's output ----------------------------------------------------------------


def _file_logger(path: Path) -> logging.Logger:
    """The logger that writes lines, as they are, to ``path`` (rotated; never fails a command)."""
    logger = logging.getLogger(_LOGGER)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    current = next((h for h in logger.handlers if isinstance(h, _LogFile)), None)
    if current is not None and Path(current.baseFilename) == path.resolve():
        return logger
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        pass
    handler = _LogFile(path, maxBytes=LOG_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8", delay=True)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    return logger


class _LogFile(RotatingFileHandler):
    def handleError(self, record: logging.LogRecord) -> None:
        """A log file that cannot be written loses the line; the command goes on (its output is on screen)."""


def _log_line(message: str) -> None:
    if _state.log_file is None:
        return
    logging.getLogger(_LOGGER).info(strip_ansi(message))


class _Sink(io.TextIOBase):
    """Stands in for ``sys.stdout`` and ``sys.stderr`` during a capture; hands over each complete line."""

    encoding = "utf-8"
    errors = "replace"

    def __init__(self, on_line: Callable[[str], None]) -> None:
        super().__init__()
        self._on_line = on_line
        self._pending = ""
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def write(self, text: str) -> int:
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        with self._lock:
            self._pending += text.replace("\r\n", "\n")
            *lines, self._pending = self._pending.split("\n")
        for line in lines:
            self._on_line(line)
        return len(text)

    def drain(self) -> None:
        with self._lock:
            rest, self._pending = self._pending, ""
        if rest:
            self._on_line(rest)


@dataclass
class _Tracker:
    """Reads the captured lines for progress: dbt's node lines, and the Dagster step being run."""

    done: int = 0
    total: int = 0
    builds: int = 0  # dbt invocations with nodes: Dagster splits a whole build around the Python models
    new_invocation: bool = True
    last_plain: float = 0.0

    @property
    def label(self) -> str:
        return "dbt build" if self.builds <= 1 else f"dbt build, part {self.builds}"

    def feed(self, line: str) -> None:
        if line.startswith(_DBT_START):
            self.new_invocation = True
            return
        node = _DBT_NODE.match(line)
        if node:
            self._node(int(node.group(2)), node.group(3))
            return
        step = _DAGSTER_LINE.search(line)
        if step and step.group("step") and interactive():
            progress("step", f"{step.group('step')}: {' '.join(step.group('message').split())}")

    def _node(self, total: int, status: str) -> None:
        if self.new_invocation or total != self.total:
            self.new_invocation = False
            self.builds += 1
            self.done, self.total = 0, total
            if not interactive():
                say(f"{self.label}: {total} models, seeds and tests")
                self.last_plain = time.monotonic()
        if status == "START":
            return
        self.done += 1
        progress("dbt", self.label, completed=self.done, total=self.total)
        if self.done >= self.total:
            finish("dbt")
        elif not interactive() and time.monotonic() - self.last_plain >= PLAIN_INTERVAL:
            say(f"{self.label}: {self.done} of {self.total} done")
            self.last_plain = time.monotonic()


def _on_captured_line(tracker: _Tracker, line: str) -> None:
    _log_line(line)
    plain = strip_ansi(line).strip()
    tracker.feed(plain)
    if _state.verbose:
        _print(line, _err())
    elif _LOCK_WAIT in plain:  # a step or dbt waiting for another process: say so, or it looks hung
        say(plain[plain.index(_LOCK_WAIT) :])


@contextmanager
def capture(log_file: Path) -> Iterator[None]:
    """Send everything written to ``sys.stdout``/``sys.stderr`` and Python's warnings to ``log_file``.

    tfm's own lines (:func:`say`, :func:`echo`) still reach the command's real stdout and stderr. Re-entrant:
    an inner capture keeps the outer one's file.
    """
    if _state.out is not None:
        yield
        return
    out, err = sys.stdout, sys.stderr
    logger = _file_logger(log_file)
    tracker = _Tracker()
    sink = _Sink(functools.partial(_on_captured_line, tracker))
    warnings_logger = logging.getLogger("py.warnings")
    saved_warnings = (warnings_logger.handlers[:], warnings_logger.propagate)
    with _state.lock:
        _state.out, _state.err, _state.log_file = out, err, log_file
    logger.info(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} tfm {' '.join(sys.argv[1:])} (pid {os.getpid()})")
    warnings_logger.handlers = [*logger.handlers, *([_WarningEcho()] if _state.verbose else [])]
    warnings_logger.propagate = False
    logging.captureWarnings(True)
    sys.stdout = sys.stderr = sink
    try:
        yield
    finally:
        sink.drain()
        sys.stdout, sys.stderr = out, err
        logging.captureWarnings(False)
        warnings_logger.handlers, warnings_logger.propagate = saved_warnings
        stop()
        with _state.lock:
            _state.out = _state.err = _state.log_file = None
        for handler in logger.handlers:
            handler.flush()


class _WarningEcho(logging.Handler):
    """With ``-v``, Python's warnings are shown on the terminal as well."""

    def emit(self, record: logging.LogRecord) -> None:
        _print(record.getMessage().rstrip(), _err())


def captured(function):
    """Run ``function(settings, ...)`` under :func:`capture`, logging to ``settings.log_file``."""

    @functools.wraps(function)
    def wrapper(settings, *args, **kwargs):
        with capture(settings.log_file):
            return function(settings, *args, **kwargs)

    return wrapper


# --- the dbt build's results ------------------------------------------------------------------------------

# run_results.json's statuses, counted as dbt's own summary line counts them (a failed test is an ERROR).
_STATUS = {
    "success": "PASS",
    "pass": "PASS",
    "partial success": "PASS",
    "warn": "WARN",
    "error": "ERROR",
    "fail": "ERROR",
    "runtime error": "ERROR",
    "skipped": "SKIP",
    "no op": "NO-OP",
}


@dataclass
class DbtResults:
    """What dbt did in one Dagster run (every dbt step of it): counts by status, and each warning."""

    counts: dict[str, int] = field(default_factory=dict)
    # (node name, what it found, its description)
    warnings: list[tuple[str, str, str]] = field(default_factory=list)
    # (node name, dbt's message) of each node that errored or failed
    errors: list[tuple[str, str]] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def lines(self) -> list[str]:
        if not self.files:
            return []
        shown = " ".join(
            f"{status} {self.counts.get(status, 0)}" for status in ("PASS", "WARN", "ERROR", "SKIP")
        )
        no_op = f" NO-OP {self.counts['NO-OP']}" if self.counts.get("NO-OP") else ""
        lines = [f"dbt: {shown}{no_op} ({self.total} models, seeds and tests)"]
        for name, what, description in self.warnings:
            lines.append(f"  WARN {name}: {what}" + (f". {description}" if description else ""))
        return lines


def dbt_results(target_dir: Path, run_id: str) -> DbtResults:
    """Read ``run_results.json`` of every dbt step of the Dagster run ``run_id``.

    dagster-dbt runs each dbt step in a folder of its own under ``target_dir``, named
    ``<step>-<first 7 characters of the run id>-<random>`` (``DbtCliResource._get_unique_target_path``).
    """
    folders = sorted(target_dir.glob(f"*-{run_id[:7]}-*"), key=lambda p: p.stat().st_mtime)
    return dbt_results_of(folders, fallback_manifest=target_dir / "manifest.json")


def dbt_results_of(folders: list[Path], fallback_manifest: Path | None = None) -> DbtResults:
    """Read ``run_results.json`` of each dbt target folder in ``folders`` (one per dbt invocation)."""
    results = DbtResults()
    for folder in folders:
        run_results = folder / "run_results.json"
        if not run_results.is_file():
            continue
        try:
            data = json.loads(run_results.read_text())
        except (OSError, ValueError):
            continue
        results.files.append(run_results)
        nodes = _manifest_nodes(folder / "manifest.json") or (
            _manifest_nodes(fallback_manifest) if fallback_manifest else {}
        )
        for result in data.get("results", []):
            status = _STATUS.get(str(result.get("status")), str(result.get("status")).upper())
            results.counts[status] = results.counts.get(status, 0) + 1
            if status not in ("WARN", "ERROR"):
                continue
            unique_id = result.get("unique_id", "")
            node = nodes.get(unique_id, {})
            name = node.get("name") or unique_id.split(".")[2 if unique_id.count(".") >= 2 else -1]
            if status == "ERROR":
                results.errors.append((name, " ".join(str(result.get("message") or "").split())))
                continue
            description = " ".join(str(node.get("description") or "").split())
            test = (node.get("test_metadata") or {}).get("name")
            found = result.get("failures")
            what = str(result.get("message") or "warned")
            if isinstance(found, int):
                what = f"{found:,} {'unexpected value(s)' if test == 'accepted_values' else 'row(s)'}"
            results.warnings.append((name, what, description))
    return results


def _manifest_nodes(path: Path) -> dict:
    try:
        return json.loads(path.read_text()).get("nodes", {})
    except (OSError, ValueError):
        return {}

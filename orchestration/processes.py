"""Processes around the warehouse: who holds DuckDB's lock, and which Dagster runs outlived their process.

DuckDB lets one process write a database file and no other process open it meanwhile (readers share the
file only among themselves). tfm waits for that lock instead of failing, and names the process it waits for.

A ``tfm ingest`` or ``tfm build`` runs Dagster in its own process (``dg.materialize``): no run launcher
watches it, so a killed command leaves its run STARTED for ever, and with one run at a time the sensor's runs
queue behind it. Every run therefore carries the identity of the process executing it (pid, host, start
time) as tags, and :func:`fail_dead_runs` marks the runs whose process is gone as failed.

Only the standard library is imported here: the dbt child process (``tfm-dbt``) uses this module too.
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import sys
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

LOCK_TIMEOUT_ENV = "TFM_LOCK_TIMEOUT"
DEFAULT_LOCK_TIMEOUT = 600.0

PID_TAG = "tfm/pid"
HOST_TAG = "tfm/host"
STARTED_TAG = "tfm/process_started_at"
# Two readings of one process's start time differ by the clock's rounding, never by more.
_START_TOLERANCE_SECONDS = 2.0
# Runs of a tfm that did not tag its process yet: failed once they have been silent this long.
LEGACY_SILENCE_SECONDS = 3600.0

T = TypeVar("T")

# --- DuckDB's lock --------------------------------------------------------------------------------------

_HOLDER = re.compile(r"Conflicting lock is held in (?P<exe>.*?) \(PID (?P<pid>\d+)\)")


class WarehouseLockedError(RuntimeError):
    """The warehouse stayed locked by another process for longer than the lock timeout."""


def is_lock_error(exc: BaseException) -> bool:
    text = str(exc)
    return "Could not set lock" in text or "Conflicting lock" in text


def lock_timeout(env: Mapping[str, str] | None = None) -> float:
    """Seconds to wait for the warehouse lock: ``TFM_LOCK_TIMEOUT`` (default 600)."""
    env = os.environ if env is None else env
    value = env.get(LOCK_TIMEOUT_ENV, "").strip()
    if not value:
        return DEFAULT_LOCK_TIMEOUT
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(
            f"{LOCK_TIMEOUT_ENV}={value!r} is not a number of seconds; set it to e.g. 600"
        ) from None
    if seconds < 0:
        raise ValueError(f"{LOCK_TIMEOUT_ENV}={value!r} is negative; set it to a number of seconds, e.g. 600")
    return seconds


def lock_holder(exc: BaseException) -> str:
    """``'tfm ingest' (PID 123)`` from DuckDB's lock error (the error's executable if /proc has none)."""
    match = _HOLDER.search(str(exc))
    if not match:
        return "another process"
    pid = int(match["pid"])
    return f"'{describe_process(pid) or Path(match['exe']).name}' (PID {pid})"


def describe_process(pid: int) -> str | None:
    """A process's short name from its command line: ``tfm ingest``, ``dagster dev``, ``python report.py``."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    argv = [part.decode(errors="replace") for part in raw.split(b"\0") if part]
    if not argv:
        return None
    program = Path(argv[0]).name
    args = argv[1:]
    if re.fullmatch(r"python[\d.]*", program) and args:
        if args[0] == "-m" and len(args) > 1:  # python -m dagster dev ...
            program, args = args[1], args[2:]
        elif args[0] == "-c":  # python -c "<code>"
            program, args = f"{program} -c", []
        elif not args[0].startswith("-"):  # python /venv/bin/tfm ingest, python report.py
            program, args = Path(args[0]).name, args[1:]
    if program == "tfm-dbt":  # dbt started by tfm build (or a Dagster run): "dbt build"
        program, args = "dbt", args[:1]
    words = [program] + [shlex.quote(arg) for arg in args if not arg.startswith("-")][:2]
    text = " ".join(words)
    return text if len(text) <= 80 else text[:77] + "..."


def wait_for_lock(
    open_: Callable[[], T],
    path: Path | str,
    *,
    timeout: float | None = None,
    log: Callable[[str], None] | None = None,
) -> T:
    """``open_()``, retried while another process holds the lock of the database at ``path``.

    Says once per holder who it waits for; after ``timeout`` seconds raises :class:`WarehouseLockedError`
    with one line naming the holder and what to do.
    """
    timeout = lock_timeout() if timeout is None else timeout
    log = log or _stderr
    started = time.monotonic()
    announced = None
    while True:
        try:
            return open_()
        except Exception as exc:
            if not is_lock_error(exc):
                raise
            holder = lock_holder(exc)
            waited = time.monotonic() - started
            if waited >= timeout:
                raise WarehouseLockedError(
                    f"the warehouse {path} is still locked by {holder} after {waited:.0f}s; let that process "
                    f"finish or stop it, then run the command again (set {LOCK_TIMEOUT_ENV} to wait longer)"
                ) from None
            if holder != announced:
                log(f"waiting for the warehouse: held by {holder} (up to {timeout:.0f}s, {LOCK_TIMEOUT_ENV})")
                announced = holder
            time.sleep(min(0.25, max(0.0, timeout - waited)))


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- the process behind a run ---------------------------------------------------------------------------


def _boot_time() -> float | None:
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("btime "):
                return float(line.split()[1])
    except OSError:
        pass
    return None


def process_started_at(pid: int) -> float | None:
    """When a process started (epoch seconds, from /proc), or None where /proc is not available."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    boot = _boot_time()
    fields = stat[stat.rindex(")") + 2 :].split()
    if boot is None or len(fields) < 20:
        return None
    return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def process_tags(pid: int | None = None) -> dict[str, str]:
    """Run tags naming the process that executes a run: pid, host and the process's start time."""
    pid = os.getpid() if pid is None else pid
    started = process_started_at(pid)
    tags = {PID_TAG: str(pid), HOST_TAG: socket.gethostname()}
    if started is not None:
        tags[STARTED_TAG] = datetime.fromtimestamp(started, UTC).isoformat(timespec="milliseconds")
    return tags


def process_state(tags: Mapping[str, str]) -> str:
    """``alive``, ``gone`` or ``unknown`` (no process tags, or another host) for a run's process tags."""
    if PID_TAG not in tags or tags.get(HOST_TAG) != socket.gethostname():
        return "unknown"
    pid = int(tags[PID_TAG])
    if Path("/proc").is_dir():
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return "gone"
        if stat[stat.rindex(")") + 2 :].split()[0] in ("Z", "X"):  # exited, not yet reaped
            return "gone"
        recorded, now = tags.get(STARTED_TAG), process_started_at(pid)
        if recorded and now is not None:
            recorded_ts = datetime.fromisoformat(recorded).timestamp()
            if abs(recorded_ts - now) > _START_TOLERANCE_SECONDS:
                return "gone"  # the pid was reused by a later process
        return "alive"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return "gone"
    except PermissionError:
        pass
    return "alive"


def record_process(instance: Any, run_id: str | None) -> None:
    """Tag a run with the current process (for runs launched by Dagster's daemon or the UI)."""
    if not run_id:
        return
    run = instance.get_run_by_id(run_id)
    tags = process_tags()
    if run is not None and any(run.tags.get(key) != value for key, value in tags.items()):
        instance.add_run_tags(run_id, tags)


def fail_dead_runs(instance: Any, log: Callable[[str], None] | None = None) -> list[str]:
    """Mark the in-progress runs whose process is gone as failed (canceled if they were canceling).

    Returns the ids of the runs it marked. Runs of another host, or still running, are left alone.
    """
    import dagster as dg

    log = log or _stderr
    in_progress = [
        dg.DagsterRunStatus.NOT_STARTED,
        dg.DagsterRunStatus.STARTING,
        dg.DagsterRunStatus.STARTED,
        dg.DagsterRunStatus.CANCELING,
    ]
    marked: list[str] = []
    for record in instance.get_run_records(filters=dg.RunsFilter(statuses=in_progress)):
        run = record.dagster_run
        state = process_state(run.tags)
        if state == "unknown" and not _silent_legacy_cli_run(instance, run):
            continue
        if state == "alive":
            continue
        what = run.tags.get("dagster/partition", "")[:7] or run.job_name
        pid = run.tags.get(PID_TAG)
        process = f"process {pid}" if pid else "an earlier tfm process"
        message = f"{process} that ran it is gone (killed or crashed)"
        if run.status == dg.DagsterRunStatus.CANCELING:
            instance.report_run_canceled(run, message=message)
            outcome = "canceled"
        else:
            instance.report_run_failed(run, message=message)
            outcome = "failed"
        log(
            f"run {run.run_id[:8]} ({what}) was left {run.status.value} by {process}, "
            f"which is gone: marked {outcome}"
        )
        marked.append(run.run_id)
    return marked


def _silent_legacy_cli_run(instance: Any, run: Any) -> bool:
    """A run the CLI started before runs carried their process, silent for an hour: its process is gone."""
    if run.tags.get("tfm/trigger") != "cli" or PID_TAG in run.tags:
        return False
    last = instance.get_records_for_run(run.run_id, limit=1, ascending=False).records
    return not last or time.time() - last[0].timestamp > LEGACY_SILENCE_SECONDS

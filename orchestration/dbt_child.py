"""``tfm-dbt``: the dbt command line, bound to the process that started it, patient with the warehouse lock.

dagster-dbt runs dbt as a child process. Killed, ``tfm build`` would leave that child writing marts on its
own, holding the warehouse's lock. ``tfm-dbt`` is dbt (``dbt.cli.main``, the ``dbt`` script's own entry
point) with these additions:

- **It dies with its parent.** A thread polls ``os.getppid()`` and kills this process as soon as it differs
  from the parent that started it (``TFM_DBT_PARENT_PID``, set by the dbt asset; the check at start also
  covers a parent that died while this process was starting). Linux's ``PR_SET_PDEATHSIG`` is not used: it
  fires when the *thread* that spawned the child exits, and dagster-dbt spawns dbt from whichever thread runs
  the step, which need not live as long as the process.
- **It waits for the warehouse lock** like every tfm command (``TFM_LOCK_TIMEOUT``), instead of failing at
  once when an analyst's read-only connection holds the file as dbt opens it. dbt-duckdb keeps its connection
  open for the whole invocation, so once dbt has the lock no reader can take it half-way through a build.
- ``tfm-dbt --version`` answers from the installed packages, without dbt's online check for a newer release.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

PARENT_PID_ENV = "TFM_DBT_PARENT_PID"
POLL_SECONDS = 0.1


def _watch(parent: int) -> None:
    while True:
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(POLL_SECONDS)


def bind_to_parent() -> None:
    """Die when the parent process dies; exit at once if it is already gone."""
    expected = os.environ.get(PARENT_PID_ENV, "")
    parent = int(expected) if expected.isdigit() else os.getppid()
    if os.getppid() != parent:
        print(
            f"tfm-dbt: the process that started dbt (PID {parent}) is gone; not running dbt", file=sys.stderr
        )
        os._exit(1)
    threading.Thread(target=_watch, args=(parent,), name="tfm-dbt-parent", daemon=True).start()


def wait_for_warehouse_lock() -> None:
    """Make every ``duckdb.connect`` to a file in this process wait for the file's lock."""
    import duckdb

    from orchestration.processes import wait_for_lock

    original = duckdb.connect

    def connect(database=":memory:", *args, **kwargs):
        name = str(database)
        if name.startswith((":memory:", "md:", "motherduck:")):
            return original(database, *args, **kwargs)
        return wait_for_lock(lambda: original(database, *args, **kwargs), name, log=_say)

    duckdb.connect = connect


def _say(message: str) -> None:
    print(message, flush=True)


def _print_version() -> None:
    """``dbt --version`` as dagster-dbt reads it (the first version number), without dbt's online check.

    dagster-dbt asks once per build; dbt would import itself and ask PyPI for the latest release (seconds,
    and a hang where the network is closed).
    """
    from importlib.metadata import version

    print(f"Core:\n  - installed: {version('dbt-core')}\n\nPlugins:\n  - duckdb: {version('dbt-duckdb')}")


def main() -> None:
    if sys.argv[1:] == ["--version"]:
        _print_version()
        return
    bind_to_parent()
    wait_for_warehouse_lock()
    from dbt.cli.main import cli

    sys.argv[0] = "dbt"
    sys.exit(cli())


if __name__ == "__main__":  # pragma: no cover
    main()

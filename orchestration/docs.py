"""``tfm docs``: the dbt project's documentation site, with the warehouse's catalog, for analysts.

dbt's ``docs generate`` needs a connection to the warehouse for its catalog (every relation's columns and
types). It never opens the warehouse tfm writes, which a build may hold: it reads a copy of the published
warehouse (the last audited build, what ``tfm sql`` reads), made in a temporary folder as ``warehouse.duckdb``
(the views name their catalog ``warehouse``). dbt runs as ``tfm-dbt`` with ``--static``, which writes the
whole site, manifest and catalog inlined, as one ``static_index.html`` that opens from disk without a server.
The site is written as ``index.html``, beside ``manifest.json`` and ``catalog.json``, to ``$TFM_HOME/docs`` or
to a folder of the user's (never inside the landing folder or ``$TFM_HOME``); ``--serve`` then serves it.

:func:`undocumented` lists every public mart, and every column of one, without a description (the manifest's
columns and, given the catalog, the columns the built table really has): ``tfm docs`` names them, and a test
fails on any.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestration.settings import DBT_PROJECT_DIR, REPO_ROOT, dbt_target

SITE_FILES = ("index.html", "manifest.json", "catalog.json")
MARTS_SCHEMA = "marts"
GENERATE_TIMEOUT_S = 1800

Log = Callable[[str], None]


class DocsError(RuntimeError):
    """The site could not be generated or written; ``str()`` is the one-line cause."""


@dataclass(frozen=True)
class DocsSite:
    folder: Path
    index: Path
    marts: int
    undocumented: list[str]


def _tfm_dbt() -> str:
    beside = Path(sys.executable).with_name("tfm-dbt")
    found = str(beside) if beside.exists() else shutil.which("tfm-dbt")
    if not found:
        raise DocsError(
            "the tfm-dbt command is not installed beside this Python; reinstall tfm (pip install -e .)"
        )
    return found


def _check_folder(out: Path, protected: Sequence[tuple[str, Path]], *, force: bool) -> Path:
    folder = Path(out).expanduser().resolve()
    for label, root in protected:
        root = Path(root).expanduser().resolve()
        if folder == root or folder.is_relative_to(root):
            raise DocsError(f"{out} is inside {label} ({root}); tfm docs writes the site elsewhere")
    if folder.exists() and not folder.is_dir():
        raise DocsError(f"cannot write the site into {out}: it is a file")
    if not force:
        present = [name for name in SITE_FILES if (folder / name).exists()]
        if present:
            raise DocsError(f"{folder / present[0]} already exists; use --force to overwrite the site")
    return folder


def _last_error(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in lines:
        if "error" in line.lower() and "0 error" not in line.lower():
            return line[:300]
    return lines[-1][:300] if lines else "no output"


def generate_docs(
    source: Path,
    out: Path,
    *,
    force: bool = False,
    protected: Sequence[tuple[str, Path]] = (),
    log_file: Path | None = None,
    log: Log | None = None,
) -> DocsSite:
    """Generate the dbt docs site against a copy of the warehouse ``source`` and write it to ``out``."""
    source = Path(source)
    if not source.exists():
        raise DocsError(f"no warehouse at {source}; run 'tfm demo', or 'tfm ingest' and 'tfm build', first")
    folder = _check_folder(out, protected, force=force)
    with tempfile.TemporaryDirectory(prefix="tfm-docs-") as work:
        work_dir = Path(work)
        copy = work_dir / "warehouse.duckdb"
        shutil.copyfile(source, copy)  # the published file is replaced by rename: this reads one whole build
        target = work_dir / "target"
        env = {
            **os.environ,
            "TFM_WAREHOUSE_PATH": str(copy),
            "DBT_TARGET_PATH": str(target),
            "DBT_LOG_PATH": str(work_dir / "logs"),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "TFM_DBT_PARENT_PID": str(os.getpid()),
        }
        command = [
            _tfm_dbt(), "docs", "generate", "--static",
            "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(REPO_ROOT),
            "--target", dbt_target(), "--target-path", str(target), "--log-path", str(work_dir / "logs"),
            "--no-use-colors",
        ]  # fmt: skip
        if log:
            log(f"generating dbt docs against a copy of {source}")
        try:
            done = subprocess.run(
                command,
                check=False,
                cwd=work_dir,
                env=env,
                capture_output=True,
                text=True,
                timeout=GENERATE_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired:
            raise DocsError(f"dbt docs generate took longer than {GENERATE_TIMEOUT_S} s") from None
        output = done.stdout + done.stderr
        if log_file is not None:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            with log_file.open("a", encoding="utf-8") as handle:
                handle.write(f"--- tfm docs: {' '.join(command)}\n{output}\n")
        static = target / "static_index.html"
        if done.returncode != 0 or not static.exists():
            where = f"; dbt's output is in {log_file}" if log_file else ""
            raise DocsError(f"dbt docs generate failed: {_last_error(output)}{where}")
        manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
        catalog = json.loads((target / "catalog.json").read_text(encoding="utf-8"))
        folder.mkdir(parents=True, exist_ok=True)
        for name, produced in zip(
            SITE_FILES, (static, target / "manifest.json", target / "catalog.json"), strict=True
        ):
            partial = folder / f".{name}.tfm-partial"
            shutil.copyfile(produced, partial)
            os.replace(partial, folder / name)
    marts = [node for node in manifest["nodes"].values() if _is_mart(node)]
    return DocsSite(folder, folder / "index.html", len(marts), undocumented(manifest, catalog))


def _is_mart(node: Mapping[str, Any]) -> bool:
    return node.get("resource_type") == "model" and node.get("schema") == MARTS_SCHEMA


def undocumented(manifest: Mapping[str, Any], catalog: Mapping[str, Any] | None = None) -> list[str]:
    """Every public mart (a model in schema ``marts``) and column without a description, as ``mart`` or
    ``mart.column``. With dbt's catalog, a column the built table has but the YAML does not list counts too."""
    missing: list[str] = []
    catalog_nodes = (catalog or {}).get("nodes", {})
    for unique_id, node in sorted(manifest.get("nodes", {}).items()):
        if not _is_mart(node):
            continue
        name = node["name"]
        if not (node.get("description") or "").strip():
            missing.append(name)
        described = {
            column.lower()
            for column, spec in (node.get("columns") or {}).items()
            if (spec.get("description") or "").strip()
        }
        listed = list(node.get("columns") or {})
        built = list((catalog_nodes.get(unique_id) or {}).get("columns", {}))
        seen: set[str] = set()
        for column in [*listed, *built]:  # DuckDB's column names are case-insensitive
            if column.lower() not in seen and column.lower() not in described:
                missing.append(f"{name}.{column}")
            seen.add(column.lower())
    return missing


def serve(folder: Path, port: int, *, host: str = "127.0.0.1", log: Log | None = None) -> None:
    """Serve the site in ``folder`` until interrupted."""
    import functools
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return None

    try:
        server = ThreadingHTTPServer((host, port), functools.partial(Quiet, directory=str(folder)))
    except OSError as exc:
        raise DocsError(
            f"cannot serve on {host}:{port}: {exc.strerror or exc}; pick another --port"
        ) from None
    if log:
        log(f"serving the dbt docs on http://{host}:{server.server_address[1]}/ (Ctrl-C to stop)")
    with server:
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass

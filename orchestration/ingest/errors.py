"""Errors raised while reading billing files: each names the file and, where known, the row and column."""

from __future__ import annotations

from pathlib import Path


class IngestError(Exception):
    """Something in the landing folder could not be loaded."""


class BadFileError(IngestError):
    """A file that cannot be loaded as it is. The message is one line: file, position, cause."""

    def __init__(
        self,
        path: Path | str,
        cause: str,
        *,
        line: int | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.path = str(path)
        self.cause = cause
        self.line = line
        self.row = row
        self.column = column
        super().__init__(self.describe())

    def describe(self) -> str:
        where = [self.path]
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        return f"{', '.join(where)}: {self.cause}"


class NotBillingDataError(IngestError):
    """A known companion file that carries no billing rows (the CUR status table); recorded and skipped."""


class PeriodBlockedError(IngestError):
    """A billing period was not (re)loaded because one of its files is rejected; its old rows are kept."""


class LandingFolderError(IngestError):
    """The landing folder is missing or unreadable: nothing is scanned and nothing loaded changes."""

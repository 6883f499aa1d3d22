"""Configuration and result types of the synthetic billing generator."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from orchestration.generator.catalog import DEFAULT_REGIONS, PAYERS, REGIONS

FORMATS = ("cur2", "cur-legacy-csv", "focus-1.2")
FILE_FORMATS = ("parquet", "csv")
DEFAULT_EXPORT_NAMES = {"cur2": "cur2", "cur-legacy-csv": "cur-legacy", "focus-1.2": "focus"}


@dataclass(frozen=True)
class GeneratorConfig:
    """What to generate.

    ``rows`` is the number of line items of every billing period; it is hit exactly. ``months``
    consecutive billing periods start at ``start`` (``YYYY-MM``). ``file_format`` applies to ``cur2`` and
    ``focus-1.2`` (``csv`` means gzip CSV); the legacy CUR is always gzip CSV.
    """

    out: Path
    fmt: str = "cur2"
    months: int = 1
    rows: int = 100_000
    seed: int = 42
    start: str = "2026-01"
    file_format: str = "parquet"
    billing_accounts: int = 1
    usage_accounts: int = 8
    regions: tuple[str, ...] = DEFAULT_REGIONS
    max_rows_per_file: int = 500_000
    untagged_share: float = 0.25
    monthly_trend: float = 0.03  # month-over-month growth of demand-driven usage
    anomalies_per_period: int = 2
    chunk_rows: int = 50_000  # rows generated and written at a time (bounds memory)
    export_name: str | None = None  # export / report folder name; a per-format default when None

    def __post_init__(self) -> None:
        object.__setattr__(self, "out", Path(self.out))
        object.__setattr__(self, "regions", tuple(self.regions))
        if self.fmt not in FORMATS:
            raise ValueError(f"fmt must be one of {FORMATS}, not {self.fmt!r}")
        if self.file_format not in FILE_FORMATS:
            raise ValueError(f"file_format must be one of {FILE_FORMATS}, not {self.file_format!r}")
        if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", self.start):
            raise ValueError(f"start must be YYYY-MM, not {self.start!r}")
        if self.months < 1:
            raise ValueError("months must be at least 1")
        if not 1 <= self.billing_accounts <= len(PAYERS):
            raise ValueError(f"billing_accounts must be between 1 and {len(PAYERS)}")
        if self.usage_accounts < self.billing_accounts:
            raise ValueError("usage_accounts must be at least billing_accounts")
        if not self.regions or any(r not in REGIONS for r in self.regions):
            raise ValueError(f"regions must be a non-empty subset of {sorted(REGIONS)}")
        if len(set(self.regions)) != len(self.regions):
            raise ValueError("regions must not repeat")
        if self.max_rows_per_file < 1 or self.chunk_rows < 1:
            raise ValueError("max_rows_per_file and chunk_rows must be positive")
        if not 0.0 <= self.untagged_share <= 1.0:
            raise ValueError("untagged_share must be between 0 and 1")
        if self.anomalies_per_period < 0:
            raise ValueError("anomalies_per_period must not be negative")
        if self.monthly_trend <= -1.0:
            raise ValueError("monthly_trend must be above -1")
        if self.export_name is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", self.export_name):
            raise ValueError(f"export_name {self.export_name!r} is not a valid folder name")

    @property
    def name(self) -> str:
        """The export (CUR 2.0, FOCUS) or report (legacy CUR) name used in folder and file names."""
        return self.export_name or DEFAULT_EXPORT_NAMES[self.fmt]

    @property
    def container(self) -> str:
        """``parquet`` or ``csv`` (gzip) for the data files actually written."""
        return "csv" if self.fmt == "cur-legacy-csv" else self.file_format


@dataclass
class GenerationSummary:
    """What ``generate`` wrote."""

    out: Path
    fmt: str
    data_files: list[Path] = field(default_factory=list)
    manifest_files: list[Path] = field(default_factory=list)
    side_files: list[Path] = field(default_factory=list)  # labels, business inputs, reference, README
    rows_per_period: dict[str, int] = field(default_factory=dict)  # "YYYY-MM" -> line items written
    # "YYYY-MM" -> exact sum of the billed cost written (CUR: net unblended where present, else
    # unblended; FOCUS: BilledCost), over every payer.
    cost_per_period: dict[str, Decimal] = field(default_factory=dict)
    labels_path: Path = Path()

    @property
    def files(self) -> list[Path]:
        """Every file written: data files, manifests, then the side files."""
        return [*self.data_files, *self.manifest_files, *self.side_files]

    @property
    def total_rows(self) -> int:
        return sum(self.rows_per_period.values())

    @property
    def total_cost(self) -> Decimal:
        return sum(self.cost_per_period.values(), Decimal(0))

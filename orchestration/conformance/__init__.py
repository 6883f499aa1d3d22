"""Conformance checks of tfm's FOCUS output against the FinOps Foundation's own tools.

The FOCUS validator harness lives in :mod:`orchestration.conformance.focus_validator`; its public names
are re-exported here (imported on first use).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "RuleFailure",
    "ValidatorError",
    "ValidatorReport",
    "ensure_validator",
    "export_focus_parquet",
    "load_exceptions",
    "run_focus_validator",
    "unexpected_failures",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from orchestration.conformance import focus_validator

        return getattr(focus_validator, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

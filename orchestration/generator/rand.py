"""Deterministic randomness.

Two sources, both derived from the configured seed only:

* ``generator(seed, *key)``: a numpy ``Generator`` from a ``SeedSequence`` over (seed, *key), for things
  drawn once (the organisation, commitments, anomalies, demand curves) and for per-chunk line item ids.
* ``hash_uniform`` / ``hash_normal``: counter-based draws, a pure function of (seed, stream, counters).
  Per-resource and per-resource-day values use these, so a value never depends on how rows are chunked,
  how many resources a period holds or which output format is written.
"""

from __future__ import annotations

import hashlib

import numpy as np

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)


def generator(seed: int, *key: int) -> np.random.Generator:
    """A numpy Generator for (seed, *key)."""
    return np.random.default_rng(np.random.SeedSequence([seed & 0xFFFFFFFFFFFFFFFF, *key]))


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser (wrapping uint64 arithmetic)."""
    x = x ^ (x >> _S30)
    x = x * _M1
    x = x ^ (x >> _S27)
    x = x * _M2
    return x ^ (x >> _S31)


def hash64(seed: int, stream: int, *counters: np.ndarray | int) -> np.ndarray:
    """A 64-bit hash of (seed, stream, counters...), elementwise over broadcast counters."""
    with np.errstate(over="ignore"):
        h = _mix(
            np.asarray(
                (seed * 0x2545F4914F6CDD1D + stream * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF,
                dtype=np.uint64,
            )
        )
        for c in counters:
            h = _mix(h ^ (np.asarray(c).astype(np.uint64) * _GOLDEN + np.uint64(0x632BE59BD9B4E019)))
    return h


def hash_uniform(seed: int, stream: int, *counters: np.ndarray | int) -> np.ndarray:
    """Uniform floats in [0, 1)."""
    return (hash64(seed, stream, *counters) >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def hash_normal(seed: int, stream: int, *counters: np.ndarray | int) -> np.ndarray:
    """Standard normal floats (Box-Muller over two hashed uniforms)."""
    h = hash64(seed, stream, *counters)
    u1 = ((h >> np.uint64(40)).astype(np.float64) + 0.5) * (1.0 / (1 << 24))
    u2 = (h & np.uint64(0xFFFFFFFFFF)).astype(np.float64) * (1.0 / (1 << 40))
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


def hex_digest(*parts: object, length: int = 16) -> str:
    """A stable hexadecimal id from arbitrary parts."""
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:length]


def uuid_like(*parts: object) -> str:
    """A stable UUID-shaped id (8-4-4-4-12) from arbitrary parts."""
    h = hex_digest(*parts, length=32)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

"""Count-min sketch of pair document counts, and a HyperLogLog of distinct pairs.

The sketch never under-counts, so a sketch 0 is a true 0; a value > 0 may be a
collision. It answers for pairs the exact table does not hold (pruned with
`--min-pair-docs`), always as an upper bound with its error bound and the chance
that a never-seen pair reads > 0 at the sketch's fill. It is built from the exact
per-pair totals at merge time (each cell keeps the largest total of the distinct pairs
hashed to it), so it depends only on the totals: merging parts in any grouping, in any
number of buckets, gives the same sketch.
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numba as nb
import numpy as np

from .errors import CoocError, IndexFormatError

DEFAULT_DEPTH = 4
#: The false-positive rate a default-sized sketch aims at on pairs the corpus never has.
TARGET_FPR = 0.01
#: The largest sketch sized by default (4 rows of 2^26 cells: 1% false positives up to ~25 M pruned pairs).
AUTO_SKETCH_MAX_MB = 1024
DEFAULT_SEED = 0x5EED
_SATURATED = np.uint32(0xFFFFFFFF)
HLL_P = 14


@nb.njit(inline="always", cache=True)
def _mix64(x):
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


@nb.njit(cache=True)
def _cu_add(table, seeds, keys, counts):
    """Conservative update, saturating at 2**32 - 1: raise each row only as far as needed."""
    depth, width = table.shape
    mask = np.uint64(width - 1)
    slots = np.empty(depth, dtype=np.int64)
    for i in range(keys.shape[0]):
        lo = np.uint64(0xFFFFFFFFFFFFFFFF)
        for r in range(depth):
            s = np.int64(_mix64(keys[i] ^ seeds[r]) & mask)
            slots[r] = s
            v = np.uint64(table[r, s])
            if v < lo:
                lo = v
        target = lo + np.uint64(counts[i])
        if target > np.uint64(0xFFFFFFFF):
            target = np.uint64(0xFFFFFFFF)
        t32 = np.uint32(target)
        for r in range(depth):
            if table[r, slots[r]] < t32:
                table[r, slots[r]] = t32


@nb.njit(cache=True)
def _max_add(table, seeds, keys, totals):
    """Each cell keeps the largest total of the keys that hash to it, saturating at 2**32 - 1."""
    depth, width = table.shape
    mask = np.uint64(width - 1)
    for i in range(keys.shape[0]):
        t = totals[i]
        t32 = np.uint32(0xFFFFFFFF) if t > 0xFFFFFFFF else np.uint32(t)
        for r in range(depth):
            s = np.int64(_mix64(keys[i] ^ seeds[r]) & mask)
            if table[r, s] < t32:
                table[r, s] = t32


@nb.njit(cache=True)
def _query(table, seeds, keys):
    depth, width = table.shape
    mask = np.uint64(width - 1)
    out = np.empty(keys.shape[0], dtype=np.int64)
    for i in range(keys.shape[0]):
        lo = np.uint32(0xFFFFFFFF)
        for r in range(depth):
            v = table[r, np.int64(_mix64(keys[i] ^ seeds[r]) & mask)]
            if v < lo:
                lo = v
        out[i] = lo
    return out


def _seeds(depth: int, seed: int) -> tuple[int, ...]:
    state = np.uint64(seed)
    seeds = []
    for _ in range(depth):
        state = np.uint64((int(state) + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF)
        seeds.append(int(_mix64(state)))
    return tuple(seeds)


@dataclass(frozen=True)
class SketchShape:
    depth: int
    width: int  # a power of two
    seeds: tuple[int, ...]

    @classmethod
    def from_mb(cls, megabytes: float, depth: int = DEFAULT_DEPTH, seed: int = DEFAULT_SEED) -> SketchShape:
        """The widest power-of-two width whose depth x width uint32 table fits in `megabytes` MiB."""
        if depth < 1:
            raise CoocError("sketch depth must be >= 1")
        cells = int(megabytes * (1 << 20)) // (4 * depth)
        if cells < 2:
            raise CoocError(f"--sketch-mb {megabytes} is too small for depth {depth}: give at least {8 * depth / (1 << 20):.6f}")
        return cls(depth, 1 << (cells.bit_length() - 1), _seeds(depth, seed))

    @classmethod
    def for_keys(cls, keys: int, depth: int = DEFAULT_DEPTH, fpr: float = TARGET_FPR,
                 seed: int = DEFAULT_SEED) -> SketchShape:
        """The narrowest power-of-two width at which `keys` distinct keys leave a never-added key reading
        > 0 with probability <= fpr: a row is filled to 1 - exp(-keys / width), and all depth rows must hit."""
        if depth < 1:
            raise CoocError("sketch depth must be >= 1")
        fill = fpr ** (1.0 / depth)
        width = max(2, math.ceil(max(keys, 1) / -math.log1p(-fill)))
        return cls(depth, 1 << (width - 1).bit_length(), _seeds(depth, seed))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["seeds"] = [str(s) for s in self.seeds]  # JSON-safe (64-bit)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> SketchShape:
        return cls(int(d["depth"]), int(d["width"]), tuple(int(s) for s in d["seeds"]))


class CountMinSketch:
    def __init__(self, shape: SketchShape, table: np.ndarray | None = None):
        self.shape = shape
        self.table = np.zeros((shape.depth, shape.width), np.uint32) if table is None else table
        self._seeds = np.asarray(shape.seeds, dtype=np.uint64)

    def add(self, keys: np.ndarray, counts: np.ndarray) -> None:
        _cu_add(self.table, self._seeds, keys.astype(np.uint64, copy=False), counts.astype(np.int64, copy=False))

    def add_totals(self, keys: np.ndarray, totals: np.ndarray) -> None:
        """Distinct keys, each once with its final total: a cell keeps the largest total hashed to it.

        Every row of a key then holds at least its total, so the sketch still never under-counts, and it
        is tighter than a conservative update of the same totals (which adds the row minimum). It does not
        depend on the order of the keys, so sketches of disjoint key sets merge with `merge_max`.
        """
        _max_add(self.table, self._seeds, keys.astype(np.uint64, copy=False), totals.astype(np.int64, copy=False))

    def merge_max(self, other: np.ndarray) -> None:
        """Fold in the sketch of a disjoint set of keys built with `add_totals` (same shape)."""
        np.maximum(self.table, other, out=self.table)

    def query(self, keys: np.ndarray) -> np.ndarray:
        return _query(self.table, self._seeds, np.ascontiguousarray(keys, dtype=np.uint64))

    def fill(self) -> list[float]:
        """Fraction of non-zero cells per row."""
        return [float(np.count_nonzero(row)) / self.shape.width for row in self.table]

    def save(self, path: Path) -> None:
        np.save(path, self.table)

    @classmethod
    def load(cls, path: Path, shape: SketchShape) -> CountMinSketch:
        table = np.load(path, mmap_mode="r")
        if table.shape != (shape.depth, shape.width):
            raise IndexFormatError(f"{path}: sketch shape {table.shape} does not match the manifest; rebuild the index")
        return cls(shape, table)


def sketch_error(shape: SketchShape, total: int, fill: list[float]) -> dict:
    """Error model reported with every sketch answer.

    bound: count-min's eps*N with eps = e / width; holds with probability 1 - exp(-depth).
    false_positive_rate: chance that a never-seen pair reads > 0, the product of the rows' fills.
    """
    return {
        "bound": math.e / shape.width * total,
        "confidence": 1.0 - math.exp(-shape.depth),
        "false_positive_rate": float(np.prod(fill)) if fill else 0.0,
    }


@nb.njit(cache=True)
def _hll_update(reg, keys, p):
    m = np.uint64(1 << p)
    max_rank = 64 - p
    for i in range(keys.shape[0]):
        hv = _mix64(keys[i] ^ np.uint64(0x2545F4914F6CDD1D))
        idx = np.int64(hv & (m - np.uint64(1)))
        bits = hv >> np.uint64(p)
        length = 0
        while bits != np.uint64(0):
            length += 1
            bits >>= np.uint64(1)
        rank = max_rank - length + 1
        if rank > reg[idx]:
            reg[idx] = rank


def hll_registers(keys: np.ndarray, registers: np.ndarray | None = None) -> np.ndarray:
    """HyperLogLog++ registers (datasketch layout, p=14) of 64-bit keys, computed in numba."""
    reg = np.zeros(1 << HLL_P, dtype=np.int8) if registers is None else registers
    _hll_update(reg, np.ascontiguousarray(keys, dtype=np.uint64), HLL_P)
    return reg


def _hll_constants() -> tuple[float, np.ndarray, np.ndarray]:
    """datasketch's HyperLogLog++ tables at p=14 (threshold, raw estimates, biases), read from its
    `hyperloglog_const` module alone: importing the `datasketch` package loads its LSH, scipy.sparse
    and scipy.optimize (~25-48 MiB)."""
    if not _HLL_CONST:
        spec = importlib.util.find_spec("datasketch")
        if spec is None or not spec.submodule_search_locations:
            raise CoocError("datasketch is not installed (pip install datasketch)")
        path = Path(next(iter(spec.submodule_search_locations))) / "hyperloglog_const.py"
        try:
            const = importlib.util.module_from_spec(importlib.util.spec_from_file_location("_cooc_hll_const", path))
            const.__spec__.loader.exec_module(const)
            i = HLL_P - 4
            _HLL_CONST.extend([float(const._thresholds[i]), const._raw_estimate[i], const._bias[i]])
        except (OSError, AttributeError, IndexError) as exc:  # a datasketch whose tables moved
            raise CoocError(f"cannot read datasketch's HyperLogLog++ tables at {path} ({exc}); install "
                            "datasketch>=1.6 as pyproject.toml pins it") from None
    return _HLL_CONST[0], _HLL_CONST[1], _HLL_CONST[2]


_HLL_CONST: list = []


def hll_estimate(registers: np.ndarray) -> float:
    """Distinct-count estimate from registers: datasketch's HyperLogLog++ estimator (linear counting
    below its threshold, else the bias-corrected raw estimate), the same arithmetic in numpy."""
    reg = registers.astype(np.int8)
    m = 1 << HLL_P
    threshold, raw, bias = _hll_constants()
    num_zero = m - np.count_nonzero(reg)
    if num_zero > 0:
        lc = m * np.log(m / float(num_zero))
        if lc <= threshold:
            return float(lc)
    alpha = 0.7213 / (1.0 + 1.079 / m)
    e = alpha * float(m**2) / np.sum(2.0 ** (-reg))
    if e <= 5 * m:
        return float(e - np.mean(bias[np.argsort((e - raw) ** 2)[:6]]))
    return float(e)

"""Scoring latency and throughput: one call, batch, HTTP, against references in the same run.

    python -m benchmarks.bench_score --index .cooc/full-index --eval ../shared/data/eval/halueval_qa_dev.jsonl

Rows: HaluEval questions with their hallucinated answer (a sentence, ~25-35 words together).
Printed: p50/p99 of one `Scorer.score` call on an open index; `score_many` rows/s over every
row twice (right and hallucinated answer); HTTP requests/s and p50/p99 under a bounded load
from a second process (fixed request count, 4 keep-alive connections, loopback only); and
two references on the same rows: a pure-Python scorer (the reference name rule,
`cooc.indexer.spans.candidate_spans` + `key_hash`, then dict lookups of name and pair counts)
and cooc's name finder (`find_entities`) with one DuckDB point query per pair.
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import numpy as np

from cooc.indexer.layout import DUCKDB_FILE
from cooc.indexer.spans import candidate_spans, key_hash
from cooc.scorer import Index, Scorer
from cooc.scorer.extract import find_entities

from .bench_build import table


def percentiles(samples: list[float]) -> tuple[float, float]:
    a = np.array(samples) * 1000
    return float(np.percentile(a, 50)), float(np.percentile(a, 99))


def load_rows(path: Path, limit: int) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return rows[:limit]


def time_calls(fn, items, repeat: int = 1) -> list[float]:
    out = []
    for _ in range(repeat):
        for item in items:
            t0 = time.perf_counter()
            fn(*item)
            out.append(time.perf_counter() - t0)
    return out


class PythonReference:
    """Same lookups in plain Python: the reference rule finds the names, dicts hold the counts."""

    def __init__(self, index: Index):
        self.ids = {int(h): i for i, h in enumerate(index._hash.tolist())}
        self.docs = [int(x) for x in index._docs.tolist()]
        self.pairs = {(int(k) >> 32, int(k) & 0xFFFFFFFF): int(d)
                      for k, d in zip(index._pair_keys.tolist(), index._pair_docs.tolist(), strict=True)}

    def _names(self, text: str, skip_sentence_initial: bool) -> set[int]:
        hashes = (key_hash(n) for n in candidate_spans(text, skip_sentence_initial))
        return {i for i in (self.ids.get(h) for h in hashes) if i is not None}

    def score(self, question: str, answer: str) -> float:
        q = self._names(question, True)
        a = self._names(answer, False) - q
        worst = 0.0
        for b in a:
            best = max((self.pairs.get((min(x, b), max(x, b)), 0) for x in q), default=self.docs[b])
            worst = max(worst, 1 / (1 + np.log2(1 + best)))
        return worst


class DuckDBReference:
    """cooc's name finder, then one DuckDB point query per pair (what the array lookups replace)."""

    def __init__(self, index: Index):
        self.index = index
        self.con = duckdb.connect(str(index.data / DUCKDB_FILE), read_only=True)

    def score(self, question: str, answer: str) -> int:
        q = {e.id for e in find_entities(self.index, question, True).known}
        a = {e.id for e in find_entities(self.index, answer, False).known} - q
        total = 0
        for b in a:
            for x in q:
                key = (min(x, b) << 32) | max(x, b)
                row = self.con.execute("SELECT docs FROM pairs WHERE key = ?", [key]).fetchone()
                total += row[0] if row else 0
        return total


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_load(index: Path, bodies: list[bytes], requests: int, connections: int = 4) -> tuple[float, float, float, int]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "cooc.cli.main", "serve", "-i", str(index), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                c.request("GET", "/healthz")
                c.getresponse().read()
                break
            except OSError:
                time.sleep(0.2)
        per_conn = requests // connections

        def worker(w: int) -> tuple[list[float], int]:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            lat, errors = [], 0
            for i in range(per_conn):
                body = bodies[(w * per_conn + i) % len(bodies)]
                t0 = time.perf_counter()
                conn.request("POST", "/score", body, {"Content-Type": "application/json"})
                resp = conn.getresponse()
                resp.read()
                lat.append(time.perf_counter() - t0)
                errors += resp.status != 200
            return lat, errors

        t0 = time.perf_counter()
        with ThreadPoolExecutor(connections) as pool:
            results = list(pool.map(worker, range(connections)))
        wall = time.perf_counter() - t0
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    lat = [x for r in results for x in r[0]]
    p50, p99 = percentiles(lat)
    return len(lat) / wall, p50, p99, sum(r[1] for r in results)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--eval", type=Path, required=True)
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--http-requests", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    index = Index.open(a.index)
    scorer = Scorer(index)
    rows = load_rows(a.eval, 5000)
    single = [(r["question"], r["hallucinated_answer"]) for r in rows[: a.calls]]
    words = statistics.mean(len(f"{q} {x}".split()) for q, x in single)
    scorer.score(*single[0])
    one = percentiles(time_calls(scorer.score, single))
    py = PythonReference(index)
    py_lat = percentiles(time_calls(py.score, single))
    duck = DuckDBReference(index)
    duck_lat = percentiles(time_calls(duck.score, single[:500]))
    qs = [r["question"] for r in rows] * 2
    ans = [r["right_answer"] for r in rows] + [r["hallucinated_answer"] for r in rows]
    batch_rates = []
    for _ in range(a.runs):
        t0 = time.perf_counter()
        for i in range(0, len(qs), 4096):
            scorer.score_many(qs[i : i + 4096], ans[i : i + 4096])
        batch_rates.append(len(qs) / (time.perf_counter() - t0))
    t0 = time.perf_counter()
    for q, x in zip(qs, ans, strict=True):
        py.score(q, x)
    py_rate = len(qs) / (time.perf_counter() - t0)
    bodies = [json.dumps({"question": q, "answer": x}).encode() for q, x in single]
    rps, h50, h99, errors = http_load(a.index, bodies, a.http_requests)
    batch = statistics.median(batch_rates)
    print(f"## Scoring benchmark\n\nIndex {a.index}: {index.documents:,} documents, {index.n_names:,} "
          f"names. Rows: HaluEval question + hallucinated answer, {words:.0f} words on average.\n")
    print(table(["what", "p50 ms", "p99 ms", "rows/s", "vs pure Python"], [
        ["cooc Scorer.score, one call", f"{one[0]:.3f}", f"{one[1]:.3f}", f"{1000 / one[0]:,.0f}",
         f"{py_lat[0] / one[0]:.1f}x"],
        ["pure Python reference, one call", f"{py_lat[0]:.3f}", f"{py_lat[1]:.3f}", f"{1000 / py_lat[0]:,.0f}", "1.0x"],
        ["cooc matcher + DuckDB query per pair", f"{duck_lat[0]:.3f}", f"{duck_lat[1]:.3f}",
         f"{1000 / duck_lat[0]:,.0f}", f"{py_lat[0] / duck_lat[0]:.1f}x"],
        [f"cooc score_many, {len(qs):,} rows (median of {a.runs})", "-", "-", f"{batch:,.0f}",
         f"{batch / py_rate:.1f}x"],
        [f"pure Python reference, {len(qs):,} rows", "-", "-", f"{py_rate:,.0f}", "1.0x"],
        [f"HTTP POST /score, {a.http_requests} requests, 4 connections", f"{h50:.2f}", f"{h99:.2f}",
         f"{rps:,.0f}", f"errors: {errors}"],
    ]))


if __name__ == "__main__":
    main()

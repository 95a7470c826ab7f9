"""What `cooc lookup`, `stats`, `top` and `score` print: readable text (the JSON forms are the dicts).

Each command's function returns a plain dict (what `--json` prints) and a `format_*` turns it into
text; names the index does not hold get "did you mean" suggestions (scorer/suggest.py).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from cooc.indexer.count import WINDOW_DOC

from .index import TOP_ORDERS, Index, index_stats, lookup
from .scorer import RiskReport, Scorer, format_report
from .suggest import did_you_mean
from .words import plural


def window_text(window: int | str) -> str:
    return "the same document" if window in ("doc", WINDOW_DOC) else f"{plural(int(window), 'token')} of each other"


def _never_written(e: dict | None) -> bool:
    """Not a name, and (with an evidence store) not even a phrase of the corpus."""
    return e is None or ("phrase" in e and e["docs"] == 0 and "name" not in e)


def lookup_report(index: Index, first: str, second: str | None = None) -> dict:
    """lookup(), plus `did_you_mean` for every queried string the corpus never writes."""
    out = lookup(index, first, second)
    out["did_you_mean"] = {q: did_you_mean(index, q) for q, e in zip(out["query"], out["entities"], strict=True)
                           if _never_written(e)}
    return out


def unknown_names(report: dict) -> list[str]:
    return [q for q, e in zip(report["query"], report["entities"], strict=True) if _never_written(e)]


def _entity_line(query: str, e: dict | None, suggestions: list[str]) -> str:
    hint = f"; did you mean {', '.join(repr(s) for s in suggestions)}?" if suggestions else ""
    if e is None:
        return f"{query!r}: never written in the corpus as a name{hint}"
    if "phrase" in e and _never_written(e):
        return f"{query!r}: never written in the corpus, as a name or a phrase{hint}"
    if "phrase" in e:
        what = f"a common word, written in lowercase {plural(e['name']['lowercase_uses'], 'time')}" if "name" in e \
            else "not a name"
        return f"{query!r}: {what}; as a phrase in {plural(e['docs'], 'document')} (document level, evidence store)"
    alias = f" (as {e['name']!r})" if e["name"].casefold() != query.strip().casefold() else ""
    common = f"; a common word, written in lowercase {plural(e['lowercase_uses'], 'time')}" if e["common"] else ""
    return (f"{query!r}{alias}: {plural(e['docs'], 'document')}, {plural(e['mentions'], 'mention')}, "
            f"label {e['label']}{common}")


def format_lookup(report: dict) -> str:
    sugg = report.get("did_you_mean", {})
    lines = [_entity_line(q, e, sugg.get(q, [])) for q, e in zip(report["query"], report["entities"], strict=True)]
    if len(report["query"]) == 2:
        p = report.get("pair")
        where = window_text(report["window"])
        if p is None and None in report["entities"]:
            lines.append("pair: 0 documents (a name the corpus never writes)")
        elif p is None:
            lines.append("pair: the same name twice")
        elif p["source"] == "phrase":
            lines.append(f"pair: {plural(p['docs'], 'document')} with both (document level, evidence store)")
        elif p["source"] == "sketch":
            lines.append(f"pair: at most {plural(p['docs'], 'document')} with both within {where} (count-min "
                         f"sketch upper bound; over-count bound {p['bound']:.1f}, false positive rate "
                         f"{_pct(p['false_positive_rate'])})")
        else:
            lines.append(f"pair: {plural(p['docs'], 'document')} with both within {where}")
    return "\n".join(lines)


def _pct(x: float) -> str:
    return "< 0.01%" if 0 < x < 1e-4 else f"{x:.2%}"


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


def format_stats(s: dict) -> str:
    rule = s["name_rule"]
    found = "every name the text writes" if rule["rules"] else "only the names of a fixed list (--vocab)"
    found += ", with inner names" if rule["inner"] else ", no inner names"
    found += ", plus a gazetteer" if rule["gazetteer"] and rule["rules"] else ""
    skipped = plural(s["skipped_records"], "malformed record")
    if s["skipped_by_reason"]:
        skipped += " (" + ", ".join(f"{k} {v:,}" for k, v in sorted(s["skipped_by_reason"].items())) + ")"
    kept = "all in the exact table" if s["pairs_in_exact_table"] == s["pairs"] else \
        f"{s['pairs_in_exact_table']:,} in the exact table (those in >= {plural(s['min_pair_docs'], 'document')})"
    hll = f", HyperLogLog estimate {s['pairs_hll_estimate']:,}" if s.get("pairs_hll_estimate") is not None else ""
    sk = s["sketch"]
    sketch = "none (the exact table is complete)" if sk is None else (
        f"{sk['depth']} x {sk['width']:,}, rows filled {', '.join(map(_pct, sk['fill']))}, "
        f"over-count bound {sk['bound']:.1f}, false positive rate {_pct(sk['false_positive_rate'])}")
    rows = [
        ("index", f"{s['index']} (format {s['format_version']}, cooc {s['cooc_version']}, created {s['created']})"),
        ("documents", f"{s['documents']:,} from {plural(s['input_files'], 'input file')}: {s['tokens']:,} tokens, "
                      f"{_mb(s['text_bytes'])} of text"),
        ("skipped", skipped),
        ("duplicates", f"{s['duplicates_dropped']:,} dropped"),
        ("names", f"{s['names']:,} ({plural(s['common_words'], 'common word')}, {plural(s['aliases'], 'alias', 'aliases')}, "
                  f"{plural(s['hash_collisions'], 'hash collision')})"),
        ("pairs", f"{s['pairs']:,} ({kept}{hll})"),
        ("window", window_text(s["window"]).replace(" of each other", "")),
        ("names found", found),
        ("sketch", sketch),
        ("disk", _mb(s["disk_bytes"])),
    ]
    if "verify" in s:
        rows.append(("verify", "ok" if s["verify"] == "ok" else "; ".join(s["verify"])))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def stats_report(path: str | Path, verify: bool = False) -> dict:
    """index_stats(), plus `verify`: "ok" or the problems found (`cooc stats --verify`)."""
    from cooc.indexer.verify import verify_index

    info = index_stats(path)
    if verify:
        info["verify"] = verify_index(Path(path)) or "ok"
    return info


def top_report(index: Index, name: str, k: int = 20, min_docs: int = 1, orders: tuple[str, ...] = TOP_ORDERS) -> dict:
    """The names co-occurring most with `name`, by documents and by NPMI (Index.top), as a dict."""
    e = index.entity(name)
    out: dict = {"query": name, "entity": asdict(e) if e else None, "window": index.window,
                 "exact_table_complete": index.exact_table_complete}
    if e is None:
        out["did_you_mean"] = did_you_mean(index, name)
    for by in orders:
        out[f"by_{by}"] = [asdict(n) for n in index.top(e.id, k, by, min_docs)] if e else []
    return out


def format_top(r: dict) -> str:
    if r["entity"] is None:
        return _entity_line(r["query"], None, r.get("did_you_mean", []))
    e = r["entity"]
    head = _entity_line(r["query"], e, [])
    if e["common"]:
        return head + "\n(a common word: its pairs are not kept)"
    lines = [head]
    titles = {"docs": "by documents together", "npmi": "by NPMI (how exclusively together)"}
    for by in TOP_ORDERS:
        rows = r.get(f"by_{by}")
        if rows is None:
            continue
        lines.append(f"\nco-occurring within {window_text(r['window'])}, {titles[by]}:")
        if not rows:
            lines.append("  (none)")
        width = max((len(x["name"]) for x in rows), default=0)
        lines += [f"  {i:>3}. {x['name']:<{width}}  {plural(x['docs'], 'document')} together (of "
                  f"{x['name_docs']:,}), NPMI {x['npmi']:+.2f}" for i, x in enumerate(rows, start=1)]
    if not r["exact_table_complete"]:
        lines.append("\n(pruned index: pairs below --min-pair-docs are not listed)")
    return "\n".join(lines)


def score_report(index: Index, question: str, answer: str | None = None, policy: str = "graded",
                 evidence_docs: int = 0) -> tuple[RiskReport, dict[str, list[str]]]:
    """One report (with up to `evidence_docs` documents per pair), and "did you mean" spellings for each
    name in it that the corpus never writes."""
    report = Scorer(index, policy, evidence_docs=evidence_docs).score(question, answer)
    unseen = dict.fromkeys(e.name for e in report.entities if e.id is None)
    return report, {name: s for name in unseen if (s := did_you_mean(index, name))}


def format_score(report: RiskReport, suggestions: dict[str, list[str]]) -> str:
    lines = [format_report(report)]
    lines += [f"  did you mean {', '.join(repr(s) for s in sugg)} for {name!r}?" for name, sugg in suggestions.items()]
    return "\n".join(lines)

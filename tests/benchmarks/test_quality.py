"""The evaluation's own code: metrics worked out by hand, loaders and writers on tiny files (no torch)."""

import gzip
import json

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from benchmarks.quality.data import gap_split, labelled, load_eval, write_gap_corpus, write_gazetteer
from benchmarks.quality.metrics import (
    auprc,
    auroc,
    bootstrap_ci,
    cv_predict,
    lexical_overlap,
    recall_at_fpr,
    roc_curve,
    threshold_at_fpr,
)
from benchmarks.quality.report import markdown_table, measure, metric_table, who_catches_what

Y = np.array([1, 0, 1, 0])
S = np.array([0.9, 0.8, 0.7, 0.1])


def test_metrics_by_hand():
    assert auroc(Y, S) == 0.75  # (0.9 beats both negatives, 0.7 beats one) / 4 pairs
    assert auprc(Y, S) == pytest.approx(0.5 * 1 + 0.5 * (2 / 3))  # recall steps at precision 1 and 2/3
    assert recall_at_fpr(Y, S, 0.1) == 0.5 and threshold_at_fpr(Y, S, 0.1) == 0.9
    assert recall_at_fpr(Y, S, 0.5) == 1.0
    fpr, tpr = roc_curve(Y, S)
    assert fpr.tolist() == [0, 0, 0.5, 0.5, 1] and tpr.tolist() == [0, 0.5, 0.5, 1, 1]


def test_ties_are_not_flattering():
    y = np.array([1, 0, 1, 0])
    rule = np.array([1.0, 1.0, 0.0, 0.0])  # flags one hallucination and one correct answer
    assert auroc(y, rule) == 0.5 and auroc(y, np.zeros(4)) == 0.5
    assert recall_at_fpr(y, rule, 0.1) == 0.0  # every threshold that flags anything costs 50% FPR


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.floats(0, 1)), min_size=2, max_size=40))
def test_auroc_matches_pair_counting(data):
    y = np.array([d[0] for d in data])
    s = np.array([d[1] for d in data])
    assume(y.any() and not y.all())
    pos, neg = s[y], s[~y]
    expected = np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg])
    assert auroc(y, s) == pytest.approx(expected)
    assert auroc(y, -s) == pytest.approx(1 - expected)


def test_bootstrap_interval_brackets_the_estimate_and_is_deterministic():
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1], 100)
    s = y + rng.normal(0, 1.0, 200)
    groups = np.tile(np.arange(100), 2)  # question i has rows i and 100 + i
    lo, hi = bootstrap_ci(auroc, y, s, groups, n=200)
    assert lo < auroc(y, s) < hi and hi - lo < 0.3
    assert (lo, hi) == bootstrap_ci(auroc, y, s, groups, n=200)


def test_cross_validated_logistic_learns_a_real_signal():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 150)
    x = np.column_stack([y + rng.normal(0, 0.7, 300), rng.normal(0, 1, 300)])  # one informative feature
    p = cv_predict(x, y, groups=np.tile(np.arange(150), 2))
    assert p.shape == (300,) and ((p >= 0) & (p <= 1)).all()
    assert auroc(y, p) > max(0.7, auroc(y, x[:, 0]) - 0.05)  # out of fold, about as good as the feature


def test_lexical_overlap():
    assert lexical_overlap("Who founded Microsoft?", "Microsoft was founded by Bill Gates.") == pytest.approx(2 / 6)
    assert lexical_overlap("q", "") == 0.0


def test_measure_and_tables():
    row = measure("x", Y, S, None, boot=50)
    assert row.auroc == 0.75 and row.n == 4
    assert "| x | 4 | 0.750 [" in metric_table([row])
    assert markdown_table(["a", "b"], [("r", 1234)]).splitlines()[2] == "| r | 1,234 |"


def test_who_catches_what_counts_every_hallucination():
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    cooc = np.array([0.9, 0.9, 0.1, 0.1] + [0.5] * 10)
    conf = np.array([0.9, 0.1, 0.9, 0.1] + [0.5] * 10)
    counts, examples, _ = who_catches_what(y, cooc, conf, [str(i) for i in range(14)])
    assert counts == {"both": 1, "cooc only": 1, "confidence only": 1, "neither": 1}
    assert examples["cooc only"] == ["1"] and examples["neither"] == ["3"]


def test_eval_loading_labelling_and_gap_corpus(tmp_path):
    ev = tmp_path / "eval.jsonl"
    ev.write_text("".join(json.dumps({"id": f"q{i}", "question": f"Q{i}?", "right_answer": "A", "hallucinated_answer": "B",
                                      "knowledge_doc": f"k{i}"}) + "\n" for i in range(4)))
    rows = load_eval(ev)
    assert len(load_eval(ev, limit=2)) == 2
    lab = labelled(rows)
    assert [(r.id, r.label, r.answer) for r in lab[:2]] == [("q0-right", 0, "A"), ("q0-halluc", 1, "B")]
    gap = gap_split(rows, seed=0)
    assert len(gap) == 2 and gap == gap_split(rows, seed=0)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    with gzip.open(corpus / "k.jsonl.gz", "wt") as f:
        f.writelines(json.dumps({"id": f"k{i}", "text": "x"}) + "\n" for i in range(4))
    files, removed = write_gap_corpus([str(corpus)], rows, gap, tmp_path / "gap")
    kept = [json.loads(line)["id"] for line in gzip.open(files[0], "rt")]
    assert removed == 2 and sorted(kept) == sorted(f"k{i[1:]}" for i in {"q0", "q1", "q2", "q3"} - gap)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1}\n')
    with pytest.raises(SystemExit, match="bad.jsonl:1: not a HaluEval QA row"):
        load_eval(bad)


def test_gazetteer_from_titles_drops_common_nouns_and_keeps_aliases(tmp_path):
    wiki = tmp_path / "wiki.jsonl"
    wiki.write_text("".join(json.dumps(r) + "\n" for r in [
        {"title": "John Gielgud", "text": "Sir Arthur John Gielgud was an English actor."},
        {"title": "Food", "text": "Food is any substance; food is eaten."},
        {"title": "Mercury (planet)", "text": "Mercury is the smallest planet."},
    ]))
    lines = write_gazetteer(wiki, tmp_path / "g.tsv").read_text().splitlines()
    assert lines == ["name\taliases\tlabel", "John Gielgud\tSir Arthur John Gielgud\tENTITY",
                     "Mercury (planet)\tMercury\tENTITY"]
    plain = write_gazetteer(wiki, tmp_path / "p.tsv", aliases=False).read_text().splitlines()
    assert plain[1:] == ["John Gielgud\t\tENTITY", "Mercury (planet)\t\tENTITY"]


def test_model_answer_checks_need_no_torch():
    from benchmarks.quality.model import cluster_answers, cluster_entropy, is_correct, normalize_answer

    assert normalize_answer("The Arthur's  Magazine!") == "arthurs magazine"
    assert is_correct("It was Arthur's Magazine.", "Arthur's Magazine")
    assert not is_correct("Arthurs Magazines", "Arthur's Magazine")  # whole words only
    assert is_correct("No, they are not.", "no") and not is_correct("Well, no... yes", "no")
    q = "Which tennis player won more titles, Henri Leconte or Jonathan Stark?"
    assert is_correct("Jonathan Stark", "Jonathan Stark", q)
    assert not is_correct("Henri Leconte beat Jonathan Stark", "Jonathan Stark", q)  # naming both is not choosing
    assert cluster_answers(["Paris", "paris.", "The Paris", "Lyon"]) == [0, 0, 0, 1]
    emb = np.array([[1.0, 0.0], [0.99, 0.1], [0.0, 1.0]])
    assert cluster_answers(["Paris", "It is Paris", "Lyon"], emb) == [0, 0, 1]
    assert cluster_entropy([0, 0, 0]) == 0.0
    assert cluster_entropy([0, 1, 2, 3, 4]) == pytest.approx(np.log(5))
    assert cluster_entropy([0, 0, 1, 1]) == pytest.approx(np.log(2))


# ---------------------------------------------------------------- the benchmark itself, end to end on tiny files

PEOPLE = ["Ada Lovelace", "Alan Turing", "Grace Hopper", "Marie Curie", "Niels Bohr", "Emmy Noether",
          "Enrico Fermi", "Lise Meitner", "Rosalind Franklin", "Max Planck"]
CITIES = ["London", "Manchester", "New York", "Warsaw", "Copenhagen", "Erlangen", "Rome", "Vienna", "Cambridge", "Kiel"]


def tiny_benchmark_inputs(root):
    """Ten questions "Where was P born?": the right city is written with P in P's knowledge document (k<i>),
    the hallucinated one is another question's city, never written with P."""
    corpus = root / "corpus"
    corpus.mkdir()
    with gzip.open(corpus / "facts.jsonl.gz", "wt") as f:
        for i, (p, c) in enumerate(zip(PEOPLE, CITIES, strict=True)):
            f.write(json.dumps({"id": f"k{i}", "text": f"In 1900, {p} was born in {c}. Later, {p} studied in {c}."}) + "\n")
            f.write(json.dumps({"id": f"o{i}", "text": f"Tourists often visit {c}. The museum of {c} is large."}) + "\n")
    with gzip.open(corpus / "wikipedia_vital_leads.jsonl.gz", "wt") as f:
        for i, p in enumerate(PEOPLE):
            lead = "Max Karl Ernst Ludwig Planck" if p == "Max Planck" else p  # a lead naming its subject in full
            f.write(json.dumps({"id": f"w{i}", "title": p, "text": f"{lead} was a scientist."}) + "\n")
    ev = root / "eval.jsonl"
    ev.write_text("".join(json.dumps({"id": f"q{i}", "question": f"Where was {p} born?", "right_answer": c,
                                      "hallucinated_answer": CITIES[(i + 1) % len(CITIES)], "knowledge_doc": f"k{i}"})
                          + "\n" for i, (p, c) in enumerate(zip(PEOPLE, CITIES, strict=True))))
    return corpus, ev


def test_variants_are_the_default_build_plus_one_change(tmp_path):
    from benchmarks.quality.__main__ import MAIN, VARIANTS, Variant, Workbench
    from cooc.indexer.count import WINDOW_DOC

    corpus, _ = tiny_benchmark_inputs(tmp_path)
    bench = Workbench([str(corpus)], tmp_path / "out", rebuild=False)
    by_name = {v.name: v for v in VARIANTS}
    assert VARIANTS[0] == Variant(MAIN) and len({v.dir_name for v in VARIANTS}) == len(VARIANTS)
    main = bench.build_config(by_name[MAIN], [str(corpus)], tmp_path / "x")
    assert (main.gazetteer, main.vocab_file, main.inner, main.window, main.runner.processes, main.force, main.progress) == \
        (None, None, True, 1000, 2, True, False)
    no_inner = bench.build_config(by_name["no inner names"], [str(corpus)], tmp_path / "x")
    assert not no_inner.inner and no_inner.gazetteer is None
    gaz = [v for v in VARIANTS if v.gazetteer]
    assert sorted(v.gazetteer for v in gaz) == ["aliases", "plain"]
    for v in gaz:
        cfg = bench.build_config(v, [str(corpus)], tmp_path / "x")
        assert cfg.gazetteer.name == f"gazetteer-{v.gazetteer}.tsv" and cfg.vocab_file is None and cfg.inner
        lines = cfg.gazetteer.read_text().splitlines()
        assert len(lines) == 1 + len(PEOPLE) and lines[1] == "Ada Lovelace\t\tENTITY"
        assert lines[-1] == ("Max Planck\tMax Karl Ernst Ludwig Planck\tENTITY" if v.gazetteer == "aliases" else
                             "Max Planck\t\tENTITY")
    assert sorted(v.window for v in VARIANTS if v.window != 1000) == [WINDOW_DOC, 25, 100]
    (ner,) = [v for v in VARIANTS if v.ner_list]
    assert ner.gazetteer is None and ner.inner and ner.window == 1000
    with pytest.raises(ValueError):
        Variant("both", gazetteer="aliases", ner_list=True)


@pytest.mark.slow
def test_the_benchmark_runs_end_to_end_on_tiny_files(tmp_path, monkeypatch, capsys):
    import csv
    import importlib.util

    from benchmarks.quality import __main__ as quality

    monkeypatch.setattr(quality, "NER_PROCESSES", 1)
    corpus, ev = tiny_benchmark_inputs(tmp_path)
    out = tmp_path / "out"
    args = ["--corpus", str(corpus), "--eval", str(ev), "--out", str(out), "--bootstrap", "20"]
    quality.main(args)
    printed = capsys.readouterr().out
    md = (out / "results.md").read_text()
    assert "Main index: default (every name the text writes), window 1000" in md
    assert "| cooc graded | 20 | 1.000 [" in md  # every right city is linked to its person, no wrong one is
    assert "were not run: pass `--model`" in md and "Model-side signals (SmolLM2" not in md
    assert ("![ROC](roc.png)" in md) == (out / "roc.png").is_file() == bool(importlib.util.find_spec("matplotlib"))
    ablation = md[md.index("## Ablations"):md.index("## Knowledge gap")]
    rows = [line for line in ablation.splitlines() if line.startswith("| ") and not line.startswith("| index")]
    assert [r.split(" | ")[0][2:] for r in rows] == [v.name for v in quality.VARIANTS]
    assert "## Ablations" in printed and "## Main table" in printed
    built = sorted(p.name for p in (out / "indexes").iterdir())
    assert built == sorted([v.dir_name for v in quality.VARIANTS] + ["rule-w1000-gap"])
    ner_list = [json.loads(line) for line in (out / "inputs" / "ner-list.jsonl").read_text().splitlines()]
    assert {"Ada Lovelace", "London"} <= {e["name"] for e in ner_list}

    with open(out / "rows.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert len(table) == 20 and {r["label"] for r in table} == {"0", "1"}
    left_out = [r for r in table if r["knowledge_left_out"] == "True" and r["label"] == "0"]
    assert len(left_out) == 5
    # without its knowledge document a right answer loses its only link: its risk rises above neutral
    assert all(float(r["risk_graded"]) < 0.5 < float(r["risk_graded_gap_corpus"]) for r in left_out)

    # a rerun reuses every index; a changed gazetteer is rebuilt
    quality.main(args)
    assert "built " not in capsys.readouterr().out
    (out / "inputs" / "gazetteer-plain.tsv").write_text("name\taliases\tlabel\nAda Lovelace\t\tENTITY\n")
    quality.main(args)
    assert [line.split()[1] for line in capsys.readouterr().out.splitlines() if line.startswith("  built ")] == \
        ["rule-gazplain-w1000"]

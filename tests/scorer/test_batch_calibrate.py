import json

import pyarrow.parquet as pq
import pytest

from cooc.indexer.errors import CoocError
from cooc.scorer import FEATURES, Index, Scorer
from cooc.scorer.batch import score_batch
from cooc.scorer.calibrate import calibrate
from cooc.scorer.model import auroc

# questions and answers about tests/scorer/corpus.py: label 1 = an answer the corpus never links to the question
ROWS = [
    ("Who founded Microsoft?", "Bill Gates", 0),
    ("What is the capital of France?", "Paris", 0),
    ("Where did Microsoft move?", "Seattle", 0),
    ("Which city do tourists visit besides Paris?", "Lyon", 0),
    ('Who released "The Dark Side of the Moon"?', "Pink Floyd", 0),
    ("Where was Microsoft founded?", "albuquerque", 0),
    ("Who crossed the river in 213?", "Hannibal", 0),
    ("Who founded Microsoft?", "Paul Allen", 1),
    ("What is the capital of France?", "Chicago", 1),
    ("Where did Microsoft move?", "Minnesota", 1),
    ('Who released "The Dark Side of the Moon"?', "Bill Gates", 1),
    ("What is the capital of France?", "Bill Gates", 1),
    ("Who founded Microsoft?", "Paris", 1),
    ("Who crossed the river in 213?", "Erik Paulsen", 1),
]


@pytest.fixture()
def labelled(tmp_path):
    path = tmp_path / "labelled.jsonl"
    path.write_text("".join(json.dumps({"id": i, "question": q, "answer": a, "label": y}) + "\n"
                            for i, (q, a, y) in enumerate(ROWS)))
    return path


def test_auroc_by_hand():
    assert auroc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
    assert auroc([0, 1], [0.5, 0.5]) == 0.5


def test_graded_risk_separates_the_labelled_rows(scorer_index_dir):
    s = Scorer(Index.open(scorer_index_dir))
    risk = [s.score(q, a).risk for q, a, _ in ROWS]
    assert auroc([y for *_, y in ROWS], risk) == 1.0  # every linked answer below every unlinked one


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl"])
def test_score_batch_writes_inputs_risk_and_features(tmp_path, scorer_index_dir, labelled, suffix):
    out = tmp_path / f"scored{suffix}"
    r = score_batch(scorer_index_dir, labelled, out)
    assert r.rows == len(ROWS) and r.rows_per_second > 0
    rows = pq.read_table(out).to_pylist() if suffix == ".parquet" else [json.loads(x) for x in out.read_text().splitlines()]
    scorer = Scorer(Index.open(scorer_index_dir))
    for row, (q, a, y) in zip(rows, ROWS, strict=True):
        assert (row["question"], row["answer"], row["label"]) == (q, a, y)
        rep = scorer.score(q, a)
        assert row["risk"] == rep.risk and row["confidence"] == rep.confidence
        assert [row[f"f_{k}"] for k in FEATURES] == [rep.features[k] for k in FEATURES]


def test_score_batch_bad_input(tmp_path, scorer_index_dir):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "Paris?"}\n{oops\n')
    with pytest.raises(CoocError, match=r"bad.jsonl:2: not valid JSON"):
        score_batch(scorer_index_dir, bad, tmp_path / "o.jsonl")
    assert not (tmp_path / "o.jsonl").exists()
    other = tmp_path / "other.jsonl"
    other.write_text('{"prompt": "Paris?"}\n')
    with pytest.raises(CoocError, match=r"other.jsonl row 1: no field 'question'; keys found: prompt \(use --question-field\)"):
        score_batch(scorer_index_dir, other, tmp_path / "o.parquet")
    numeric = tmp_path / "numeric.jsonl"
    numeric.write_text('{"question": "Paris?", "answer": "Lyon"}\n{"question": 7, "answer": "Lyon"}\n')
    with pytest.raises(CoocError, match=r"numeric.jsonl row 2: field 'question' is not text \(int\)"):
        score_batch(scorer_index_dir, numeric, tmp_path / "o.parquet", batch_size=1)  # rows counted across batches
    with pytest.raises(CoocError, match="must end in .parquet, .jsonl, .csv"):
        score_batch(scorer_index_dir, other, tmp_path / "o.tsv")


def test_calibrate_stores_a_model_the_calibrated_policy_uses(tmp_path, scorer_index_dir, labelled):
    import shutil

    idx = tmp_path / "idx"
    shutil.copytree(scorer_index_dir, idx, symlinks=True)
    with pytest.raises(CoocError, match="cooc calibrate"):
        Scorer(Index.open(idx), "calibrated")
    model = calibrate(idx, labelled, folds=3)
    assert model.n == len(ROWS) and model.positives == 7 and 0 <= model.cv_auroc <= 1 and 0 <= model.cv_brier <= 1
    s = Scorer(Index.open(idx), "calibrated")
    good, bad = s.score("Who founded Microsoft?", "Bill Gates"), s.score("Who founded Microsoft?", "Paul Allen")
    assert 0 < good.risk < bad.risk < 1 and "calibrated" in good.reason
    labelled.write_text(labelled.read_text() + json.dumps({"question": "x", "answer": "y", "label": "yes"}) + "\n")
    with pytest.raises(CoocError, match="'label' must be 0 or 1"):
        calibrate(idx, labelled)


def test_a_calibration_from_another_build_is_refused(tmp_path, scorer_docs, labelled):
    """#17.6: calibration.json survived `build --force` over other data and was used (risk 0.280 -> 0.821,
    quoting its old AUROC). It is tied to the index's data checksum now."""
    from tests.scorer.corpus import DOCS, build, write_docs

    idx = build(scorer_docs, tmp_path / "idx")
    calibrate(idx, labelled, folds=3)
    Scorer(Index.open(idx), "calibrated").score("Who founded Microsoft?", "Bill Gates")
    build(scorer_docs, idx, force=True)  # the same data counted again: the model still applies
    Scorer(Index.open(idx), "calibrated").score("Who founded Microsoft?", "Bill Gates")
    build(write_docs(tmp_path / "more.jsonl", DOCS + ["Bill Gates visited Lyon."]), idx, force=True)
    with pytest.raises(CoocError, match="fitted on another build of this index"):
        Scorer(Index.open(idx), "calibrated")
    from cooc.scorer.serve import create_app

    app = create_app(idx)  # the server still starts, without the stale policy
    health = next(r for r in app.routes if getattr(r, "path", "") == "/healthz").endpoint()
    assert health["policies"] == ["graded", "quco"]

import json

import pyarrow.parquet as pq
import pytest

from cooc.indexer.errors import CoocError
from cooc.scorer import FEATURES, Index, Scorer
from cooc.scorer.batch import score_batch
from cooc.scorer.calibrate import auroc, calibrate

ROWS = [
    ("Who founded Microsoft?", "Bill Gates", 0),
    ("What is the capital of France?", "Paris", 0),
    ("Which city is Microsoft near?", "Seattle", 0),
    ("Where is the Microsoft Corporation based?", "Seattle", 0),
    ("Who runs MSFT?", "Bill Gates", 0),
    ("Which French city hosts Paris Fashion Week?", "Paris", 0),
    ("What is near Seattle?", "France", 0),
    ("Who founded Microsoft?", "Paul Allen", 1),
    ("What is the capital of France?", "Lyon", 1),
    ("Who runs MSFT?", "Steve Ballmer", 1),
    ("Where is Seattle?", "Bill Gates", 1),
    ("What is the capital of France?", "Bill Gates", 1),
    ("Who founded Microsoft?", "Paris", 1),
    ("Who lives in Paris?", "Microsoft", 1),
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


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl"])
def test_score_batch_writes_inputs_risk_and_features(tmp_path, golden_index, labelled, suffix):
    out = tmp_path / f"scored{suffix}"
    r = score_batch(golden_index, labelled, out)
    assert r.rows == len(ROWS) and r.rows_per_second > 0
    rows = pq.read_table(out).to_pylist() if suffix == ".parquet" else [json.loads(x) for x in out.read_text().splitlines()]
    scorer = Scorer(Index.open(golden_index))
    for row, (q, a, y) in zip(rows, ROWS, strict=True):
        assert (row["question"], row["answer"], row["label"]) == (q, a, y)
        rep = scorer.score(q, a)
        assert row["risk"] == rep.risk and row["confidence"] == rep.confidence
        assert [row[f"f_{k}"] for k in FEATURES] == [rep.features[k] for k in FEATURES]


def test_score_batch_bad_input(tmp_path, golden_index):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "Paris?"}\n{oops\n')
    with pytest.raises(CoocError, match=r"bad.jsonl:2: not valid JSON"):
        score_batch(golden_index, bad, tmp_path / "o.jsonl")
    assert not (tmp_path / "o.jsonl").exists()
    other = tmp_path / "other.jsonl"
    other.write_text('{"prompt": "Paris?"}\n')
    with pytest.raises(CoocError, match="field 'question' is missing or not text; keys found: prompt"):
        score_batch(golden_index, other, tmp_path / "o.parquet")
    with pytest.raises(CoocError, match="must end in .parquet or .jsonl"):
        score_batch(golden_index, other, tmp_path / "o.csv")


def test_calibrate_stores_a_model_the_calibrated_policy_uses(tmp_path, golden_index, labelled):
    import shutil

    idx = tmp_path / "idx"
    shutil.copytree(golden_index, idx)
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

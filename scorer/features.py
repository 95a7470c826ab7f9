"""Association measures of a pair and the fixed feature vector of a report.

With N corpus documents, c(a), c(b) the documents mentioning each entity and c(a, b) the
documents where both occur within the window (Kang & Choi 2023 argue such PMI-style
measures explain model errors better than raw counts):

    PMI(a, b)  = log( c(a, b) * N / (c(a) * c(b)) )       None when c(a, b) = 0
    NPMI(a, b) = PMI / -log( c(a, b) / N )                 in [-1, 1]; -1 when c(a, b) = 0
    P(b | a)   = c(a, b) / c(a)

The feature vector (FEATURES) is what `score-batch` writes as columns and what
`cooc calibrate` fits; every feature is defined when entities are missing
(documented neutral values), so rows never carry NaN.
"""

from __future__ import annotations

import math

import numpy as np

FEATURES = (
    "n_question_entities",  # found in the question (known + unseen)
    "n_answer_entities",  # new entities of the answer (not already in the question)
    "n_unseen",  # names the corpus never mentions (question and answer)
    "q_min_log_docs",  # log1p of the rarest question entity's documents (0 when none)
    "q_mean_docs_log",  # log1p of the mean question-entity documents (QuCo-RAG's long-tail test)
    "a_min_log_docs",  # log1p of the rarest new answer entity's documents (0 when none)
    "support_log_docs",  # log1p of min over answer entities of max over question entities of c(a, b)
    "support_npmi",  # NPMI of that weakest best link (-1 when it has no co-occurrence, 0 when undefined)
    "zero_link_frac",  # fraction of answer entities with no co-occurring known question entity
    "has_qa_pairs",  # 1 when some question x answer pair exists
    "no_entities",  # 1 when neither side has an entity
    "joint_zero_frac",  # fraction of answer names never in a document with the rarest question entity (store)
    "phrase_log_docs",  # log1p of the documents of a short answer without a name, counted as a phrase (0: none)
    "words_unsupported",  # share of the answer's own words never in a document with the rarest question entity
)


def pmi(c_ab: int, c_a: int, c_b: int, n: int) -> float | None:
    if c_ab <= 0 or c_a <= 0 or c_b <= 0 or n <= 0:
        return None
    return math.log(c_ab * n / (c_a * c_b))


def npmi(c_ab: int, c_a: int, c_b: int, n: int) -> float | None:
    if c_a <= 0 or c_b <= 0 or n <= 0:
        return None
    if c_ab <= 0:
        return -1.0
    p_ab = c_ab / n
    if p_ab >= 1.0:
        return 1.0
    return max(-1.0, min(1.0, math.log(c_ab * n / (c_a * c_b)) / -math.log(p_ab)))


def npmi_many(c_ab: np.ndarray, c_a: float, c_b: np.ndarray, n: float) -> np.ndarray:
    """npmi() of many pairs at once (c_ab >= 1; c_a, c_b >= 1), for ranking a name's neighbours."""
    c_ab = np.asarray(c_ab, dtype=np.float64)
    n = max(float(n), 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log(c_ab * n / (float(c_a) * np.asarray(c_b, dtype=np.float64))) / -np.log(c_ab / n)
    return np.where(c_ab >= n, 1.0, np.clip(np.nan_to_num(out, nan=-1.0), -1.0, 1.0))


def conditional(c_ab: int, c_a: int) -> float | None:
    return c_ab / c_a if c_a > 0 else None

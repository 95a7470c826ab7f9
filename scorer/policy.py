"""Risk policies: turn the evidence of a report into a number in [0, 1].

Score direction everywhere: risk 1 = the corpus gives no support (likely
hallucinated), risk 0 = well supported; confidence = 1 - risk.

graded (default)
    NEUTRAL_RISK (0.5) is "the corpus cannot tell"; support pulls risk below it, absence above it.
    unsupport(c) = 1 / (1 + log2(1 + c))            c = a document count (1 at 0, 0.5 at 1, 0.2 at 15)
    each new answer entity b (not already in the question):
        r_b = 1                                   if the corpus never mentions b
        r_b = 1 - ABSENCE_SPREAD * exp(-E)        if b never co-occurs with a question entity the corpus knows;
                                                    E = sum_a docs(a) * docs(b) / N, the co-occurrences chance alone
                                                    would give: a silence between two often-mentioned names says
                                                    more than one between two rare ones (orders the top band
                                                    [0.9, 1) so a threshold can cut inside it)
        r_b = NEUTRAL * (1 - max(0, max_a NPMI(a, b)))  when it does: 0 when a and b occur only together,
                                                    NEUTRAL when they co-occur no more than chance would
                                                    (a popular b shows up next to anything)
        r_b = NEUTRAL + NEUTRAL * unsupport(docs(b))  when the question has no entity the corpus knows
    risk = max_b r_b                              (the weakest link decides)
    an answer that names nothing new (a year, "yes", a question entity): NEUTRAL_RISK; the corpus
    has no claim of its own to check.
    a question alone: unsupport(min_a docs(a)) over the question entities the corpus knows (long
    tail: the model rarely saw the subject); with none of those, or no entity at all: NEUTRAL_RISK.

calibrated
    sigmoid(w . standardized features + b), a logistic model fitted by `cooc calibrate` on labelled
    rows and stored in the index (calibration.json).

quco
    QuCo-RAG's rules, as published: flagged (risk 1) when any question-answer pair co-occurs in 0
    documents or an entity has fewer than RARE_ENTITY documents; else risk 0. `long_tail` is
    reported when the mean question-entity count is below LONG_TAIL_MEAN.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .words import plural

#: Risk reported when neither question nor answer contains an entity: cooc cannot tell.
NEUTRAL_RISK = 0.5
#: Width of the band below 1 that orders never-co-occurring answers by how surprising the silence is.
ABSENCE_SPREAD = 0.1
RARE_ENTITY = 20
LONG_TAIL_MEAN = 1000


def unsupport(count: int) -> float:
    return 1.0 / (1.0 + math.log2(1.0 + max(0, count)))


@dataclass(frozen=True)
class Evidence:
    """What the policies see: counts of question entities, new answer entities, and Q x A pairs."""

    question_docs: list[int]  # per question entity (0 for names the corpus never mentions)
    answer_docs: dict[str, int]  # per new answer entity (display name)
    qa_pairs: dict[str, list[int]]  # new answer entity name -> docs with each question entity the corpus knows
    answer_given: bool
    features: dict[str, float] = field(default_factory=dict)  # features.FEATURES
    qa_npmi: dict[str, list[float]] = field(default_factory=dict)  # the same links' NPMI (-1 when docs = 0)
    corpus_documents: int = 0  # N, for the co-occurrences expected by chance


def expected_pairs(ev: Evidence, docs: int) -> float:
    """Co-occurrences of an answer entity with the known question entities if mentions were independent."""
    n = max(1, ev.corpus_documents)
    return sum(d * docs / n for d in ev.question_docs if d > 0)


@dataclass(frozen=True)
class Decision:
    risk: float
    reason: str


def graded(ev: Evidence) -> Decision:
    if ev.answer_docs:
        worst, why = -1.0, ""
        for key, docs in ev.answer_docs.items():
            links = ev.qa_pairs.get(key, [])
            if docs == 0:
                r, w = 1.0, f"answer name '{key}' is never written in the corpus"
            elif links and max(links) == 0:
                expected = expected_pairs(ev, docs)
                r = 1.0 - ABSENCE_SPREAD * math.exp(-expected)
                w = f"answer entity '{key}' never co-occurs with the question's entities ({expected:.2g} expected by chance)"
            elif links:
                best = max(ev.qa_npmi.get(key) or [0.0])
                r = NEUTRAL_RISK * (1.0 - max(0.0, best))
                w = (f"answer entity '{key}' co-occurs with the question's entities in up to {plural(max(links), 'document')} "
                     f"(NPMI {best:+.2f})")
            else:
                r = NEUTRAL_RISK + NEUTRAL_RISK * unsupport(docs)
                w = f"answer entity '{key}' occurs in {plural(docs, 'document')} (no question entity to pair with)"
            if r > worst:
                worst, why = r, w
        return Decision(worst, why)
    if ev.answer_given:
        return Decision(NEUTRAL_RISK, "the answer names no new entity: neutral risk")
    known = [d for d in ev.question_docs if d > 0]
    if known:
        low = min(known)
        return Decision(unsupport(low), f"rarest known question entity occurs in {plural(low, 'document')}")
    if ev.question_docs:
        return Decision(NEUTRAL_RISK, "no question entity the corpus knows: neutral risk")
    return Decision(NEUTRAL_RISK, "no entity found in the question: neutral risk")


def quco(ev: Evidence) -> Decision:
    zero = [k for k, links in ev.qa_pairs.items() if links and min(links) == 0]
    all_docs = list(ev.question_docs) + list(ev.answer_docs.values())
    rare = [d for d in all_docs if d < RARE_ENTITY]
    if zero:
        return Decision(1.0, f"question-answer pair never co-occurs ({', '.join(zero)})")
    if rare:
        return Decision(1.0, f"{len(rare)} entit{'y' if len(rare) == 1 else 'ies'} with < {RARE_ENTITY} documents")
    if not all_docs:
        return Decision(NEUTRAL_RISK, "no entity found in question or answer: neutral risk")
    return Decision(0.0, "no QuCo-RAG rule fired")


POLICIES = ("graded", "quco", "calibrated")


def get_policy(name: str, index_path: Path | None = None, manifest: dict | None = None) -> Callable[[Evidence], Decision]:
    if name == "graded":
        return graded
    if name == "quco":
        return quco
    if name == "calibrated":
        from .calibrate import load_model

        model = load_model(index_path, manifest)

        def calibrated(ev: Evidence) -> Decision:
            risk = model.predict(ev.features)
            return Decision(risk, f"calibrated logistic model (cross-validated AUROC {model.cv_auroc:.3f})")

        return calibrated
    raise ValueError(f"unknown policy {name!r}; choose one of {', '.join(POLICIES)}")

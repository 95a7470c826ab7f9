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
        r_b = 1 - ABSENCE_SPREAD * exp(-E_r)      instead, if b co-occurs with some question entity but never
                                                    shares a document with the rarest one r (joint support,
                                                    from the evidence store; E_r = docs(r) * docs(b) / N)
        r_b = NEUTRAL + NEUTRAL * unsupport(docs(b))  when the question has no entity the corpus knows
    risk = max_b r_b                              (the weakest link decides)
    an answer that names nothing new but is short (<= 4 words, not yes/no): the same rules for the
    answer counted as a phrase p with r (1 when the corpus never writes p; NPMI of their documents);
    (checked only when the question has a known entity and the answer names nothing at all);
    any other answer that names nothing new (a year, "yes", a question entity): NEUTRAL_RISK.
    then the answer's own words W (not in the question, not in its names, in <= 10% of documents):
    risk = max(risk, NEUTRAL + NEUTRAL * share of W never in a document with r).
    Without an evidence store (--no-evidence) only the pair rules apply.
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

from .features import npmi
from .joint import AnswerWords, JointSupport
from .model import load_model
from .options import POLICIES
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
    joint: dict[str, JointSupport] = field(default_factory=dict)  # new answer name -> evidence-store support
    phrase: JointSupport | None = None  # a short answer without a name, counted as a phrase
    words: AnswerWords | None = None  # the answer's own words checked against the rarest question entity


def expected_pairs(ev: Evidence, docs: int) -> float:
    """Co-occurrences of an answer entity with the known question entities if mentions were independent."""
    n = max(1, ev.corpus_documents)
    return sum(d * docs / n for d in ev.question_docs if d > 0)


@dataclass(frozen=True)
class Decision:
    risk: float
    reason: str


def _rarest_docs(ev: Evidence) -> int:
    return min((d for d in ev.question_docs if d > 0), default=0)


def _absent(expected: float) -> float:
    return 1.0 - ABSENCE_SPREAD * math.exp(-expected)


def _name_risk(ev: Evidence, key: str, docs: int) -> tuple[float, str]:
    links = ev.qa_pairs.get(key, [])
    joint = ev.joint.get(key)
    if docs == 0:
        return 1.0, f"answer name '{key}' is never written in the corpus"
    if links and max(links) == 0:
        expected = expected_pairs(ev, docs)
        return _absent(expected), (f"answer entity '{key}' never co-occurs with the question's entities "
                                   f"({expected:.2g} expected by chance)")
    if links and joint is not None and joint.joint == 0:
        expected = _rarest_docs(ev) * docs / max(1, ev.corpus_documents)
        return _absent(expected), (f"answer entity '{key}' never shares a document with '{joint.rarest}', the "
                                   f"question's rarest entity ({expected:.2g} expected by chance)")
    if links:
        best = max(ev.qa_npmi.get(key) or [0.0])
        return NEUTRAL_RISK * (1.0 - max(0.0, best)), (
            f"answer entity '{key}' co-occurs with the question's entities in up to {plural(max(links), 'document')} "
            f"(NPMI {best:+.2f})")
    return NEUTRAL_RISK + NEUTRAL_RISK * unsupport(docs), (
        f"answer entity '{key}' occurs in {plural(docs, 'document')} (no question entity to pair with)")


def _phrase_risk(ev: Evidence, p: JointSupport) -> tuple[float, str]:
    if p.docs == 0:
        return 1.0, f"the answer '{p.answer}' is never written in the corpus (phrase)"
    if not p.with_rarest:
        expected = _rarest_docs(ev) * p.docs / max(1, ev.corpus_documents)
        return _absent(expected), (f"the answer '{p.answer}' never shares a document with '{p.rarest}' (phrase; "
                                   f"{expected:.2g} expected by chance)")
    assoc = npmi(p.with_rarest, p.docs, p.rarest_docs, ev.corpus_documents) or 0.0
    return NEUTRAL_RISK * (1.0 - max(0.0, assoc)), (
        f"the answer '{p.answer}' shares {plural(p.with_rarest, 'document')} with '{p.rarest}' (phrase, NPMI {assoc:+.2f})")


def _answer_decision(ev: Evidence) -> Decision:
    if ev.answer_docs:
        return Decision(*max((_name_risk(ev, k, d) for k, d in ev.answer_docs.items()), key=lambda rw: rw[0]))
    if ev.phrase is not None:
        return Decision(*_phrase_risk(ev, ev.phrase))
    return Decision(NEUTRAL_RISK, "the answer names no new entity: neutral risk")


def graded(ev: Evidence) -> Decision:
    if ev.answer_given:
        d = _answer_decision(ev)
        w = ev.words
        if w is not None and w.unsupported and NEUTRAL_RISK + NEUTRAL_RISK * w.share > d.risk:
            rarest = next((s.rarest for s in (*ev.joint.values(), ev.phrase) if s is not None and s.rarest), "")
            shown = ", ".join(f"'{x}'" for x in w.unsupported[:4])
            d = Decision(NEUTRAL_RISK + NEUTRAL_RISK * w.share,
                         f"{len(w.unsupported)} of the answer's {len(w.words)} own words ({shown}) never share a "
                         f"document with the question's rarest entity{f' {rarest!r}' if rarest else ''}")
        return d
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


def get_policy(name: str, index_path: Path | None = None, manifest: dict | None = None) -> Callable[[Evidence], Decision]:
    if name == "graded":
        return graded
    if name == "quco":
        return quco
    if name == "calibrated":

        model = load_model(index_path, manifest)

        def calibrated(ev: Evidence) -> Decision:
            risk = model.predict(ev.features)
            return Decision(risk, f"calibrated logistic model (cross-validated AUROC {model.cv_auroc:.3f})")

        return calibrated
    raise ValueError(f"unknown policy {name!r}; choose one of {', '.join(POLICIES)}")

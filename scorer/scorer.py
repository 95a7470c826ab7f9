"""Score a question (and optionally an answer) against an index, with the evidence behind it."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from itertools import combinations
from pathlib import Path

import numpy as np

from cooc.indexer.normalize import normalize_key

from .evidence import EvidenceDoc
from .extract import Found, find_entities_many
from .features import FEATURES, conditional, npmi, pmi
from .index import Index
from .joint import (
    AnswerWords,
    JointOptions,
    JointSupport,
    answer_words,
    name_support,
    phrase_of,
    phrase_support,
)
from .policy import LONG_TAIL_MEAN, RARE_ENTITY, Evidence, get_policy
from .words import plural

#: Names kept per text (question or answer) and pairs per row: a text that runs a thousand names
#: together costs bounded work and a bounded report; what is cut is flagged (too_many_names/pairs).
MAX_NAMES_PER_TEXT = 32
MAX_PAIRS_PER_ROW = 512


@dataclass(slots=True)
class TextSpan:
    """Where a text writes a name (its key: "Beatles" of "the Beatles"): [start, end) in characters of the
    question or the answer as given, so `question[start:end]`."""

    text: str  # "question" or "answer"
    start: int
    end: int


@dataclass
class EntityEvidence:
    name: str
    key: str
    id: int | None  # None: the corpus never writes it
    label: str | None
    docs: int  # documents mentioning it (0 when unseen)
    mentions: int
    role: str  # "question" or "answer"
    flags: list[str] = field(default_factory=list)  # unseen_entity, rare_entity
    spans: list[TextSpan] = field(default_factory=list)  # every mention in the question and the answer


@dataclass
class PairEvidence:
    a: str
    b: str
    kind: str  # "question-answer" or "answer-answer"
    docs: int  # documents in which both occur within the index's window
    source: str  # "exact", "sketch" (upper bound; see bound), or "absent" (a name the index does not hold)
    pmi: float | None
    npmi: float | None  # -1 when the pair never co-occurs
    p_b_given_a: float | None  # P(answer entity | question entity) for question-answer pairs
    flags: list[str] = field(default_factory=list)  # zero_pair, singleton_pair
    bound: float | None = None  # sketch answers: count-min eps*N over-count bound
    false_positive_rate: float | None = None  # sketch answers: chance a never-seen pair reads > 0
    documents: list[EvidenceDoc] | None = None  # `--evidence K`: up to K documents holding both, with snippets


@dataclass
class RiskReport:
    """risk in [0, 1]: higher = the corpus supports the statement less (more likely hallucinated).

    confidence = 1 - risk, for libraries that expect a confidence. `features` holds the fixed
    feature vector (features.FEATURES) that batch scoring writes and calibration fits.
    """

    question: str
    answer: str | None
    policy: str
    risk: float
    confidence: float
    reason: str
    flags: list[str]
    entities: list[EntityEvidence]
    pairs: list[PairEvidence]
    features: dict[str, float]
    long_tail: bool  # QuCo-RAG: mean question-entity documents < 1,000
    window: int | str
    corpus_documents: int
    support: list[JointSupport] = field(default_factory=list)  # evidence-store counts (names and phrases)
    answer_words: AnswerWords | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self, **kwargs) -> str:
        """Always encodable as UTF-8: a lone surrogate of the input is written as a JSON escape."""
        d = self.to_dict()
        text = json.dumps(d, ensure_ascii=False, **kwargs)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return json.dumps(d, ensure_ascii=True, **kwargs)
        return text


def _tagged(spans: list[tuple[int, int]], role: str) -> list[TextSpan]:
    return [TextSpan(role, a, b) for a, b in spans]


def _entity_evidence(found: Found, role: str) -> list[EntityEvidence]:
    out = []
    for e, spans in zip(found.known, found.known_spans, strict=True):
        flags = ["unseen_entity"] if e.docs == 0 else (["rare_entity"] if e.docs < RARE_ENTITY else [])
        out.append(EntityEvidence(e.name, e.key, e.id, e.label, e.docs, e.mentions, role, flags, _tagged(spans, role)))
    for name, spans in zip(found.unseen, found.unseen_spans, strict=True):
        out.append(EntityEvidence(name, normalize_key(name), None, None, 0, 0, role, ["unseen_entity"],
                                  _tagged(spans, role)))
    return out


def _new_in_answer(af: Found, q_ents: list[EntityEvidence]) -> Found:
    """The answer's names the question does not already name (those add no claim of their own: their
    answer mentions join the question entity's spans)."""
    by_id = {e.id: e for e in q_ents if e.id is not None}
    by_key = {e.key: e for e in q_ents}
    known, known_spans, unseen, unseen_spans = [], [], [], []
    for e, spans in zip(af.known, af.known_spans, strict=True):
        if e.id in by_id:
            by_id[e.id].spans += _tagged(spans, "answer")
        else:
            known.append(e)
            known_spans.append(spans)
    for name, spans in zip(af.unseen, af.unseen_spans, strict=True):
        if (q := by_key.get(normalize_key(name))) is not None:
            q.spans += _tagged(spans, "answer")
        else:
            unseen.append(name)
            unseen_spans.append(spans)
    return Found(known, unseen, known_spans, unseen_spans)


def _capped(items: list, cap: int, flag: str, flags: set[str]) -> list:
    if len(items) > cap:
        flags.add(flag)
        return items[:cap]
    return items


def _check_texts(questions: Sequence[str], answers: Sequence[str | None] | None) -> tuple[list, list]:
    """A clear TypeError for a wrong argument (a str where a list is due would score each character)."""
    for what, arg in (("questions", questions), ("answers", answers)):
        if isinstance(arg, (str, bytes, dict)) or not ((arg is None and what == "answers") or hasattr(arg, "__iter__")):
            raise TypeError(f"{what} must be a list of str, got {type(arg).__name__}; use score() for one text")
    questions = list(questions)
    answers = list(answers) if answers is not None else [None] * len(questions)
    for what, values, none_ok in (("question", questions, False), ("answer", answers, True)):
        for i, v in enumerate(values):
            if not isinstance(v, str) and not (none_ok and v is None):
                raise TypeError(f"{what} {i} must be str{' or None' if none_ok else ''}, got {type(v).__name__}")
    if len(answers) != len(questions):
        raise ValueError("questions and answers must have the same length")
    return questions, answers


def _pair_flags(docs: int) -> list[str]:
    return ["zero_pair"] if docs == 0 else (["singleton_pair"] if docs == 1 else [])


def _features(q: list[EntityEvidence], a: list[EntityEvidence], links: dict[str, list[PairEvidence]],
              support: list[JointSupport], words: AnswerWords | None) -> dict:
    q_docs = [e.docs for e in q]
    checked = [x for x in support if x.source == "name" and x.joint is not None]
    best = []  # per answer entity: its best-supported link to a known question entity
    for e in a:
        known_links = links.get(e.name, [])
        best.append(max(known_links, key=lambda p: p.docs) if known_links else None)
    with_links = [p for p in best if p is not None]
    weakest = min(with_links, key=lambda p: p.docs) if with_links else None
    return {
        "n_question_entities": float(len(q)),
        "n_answer_entities": float(len(a)),
        "n_unseen": float(sum(1 for e in (*q, *a) if e.docs == 0)),
        "q_min_log_docs": math.log1p(min(q_docs)) if q_docs else 0.0,
        "q_mean_docs_log": math.log1p(sum(q_docs) / len(q_docs)) if q_docs else 0.0,
        "a_min_log_docs": math.log1p(min(e.docs for e in a)) if a else 0.0,
        "support_log_docs": math.log1p(weakest.docs) if weakest else 0.0,
        "support_npmi": (weakest.npmi if weakest.npmi is not None else 0.0) if weakest else 0.0,
        "zero_link_frac": (sum(1 for p in best if p is None or p.docs == 0) / len(a)) if a else 0.0,
        "has_qa_pairs": 1.0 if with_links else 0.0,
        "no_entities": 1.0 if not q and not a else 0.0,
        "joint_zero_frac": (sum(1 for x in checked if x.joint == 0) / len(checked)) if checked else 0.0,
        "phrase_log_docs": next((math.log1p(x.docs) for x in support if x.source == "phrase"), 0.0),
        "words_unsupported": words.share if words is not None else 0.0,
    }


class Scorer:
    """Data-side hallucination risk: how much the corpus links the entities of a Q/A.

    policy: "graded" (default), "quco", or "calibrated" (needs `cooc calibrate` on the index).
    joint: how the evidence store's joint support enters (defaults: the measured best; ignored without a
    store). evidence_docs: documents (with snippets) to attach to each reported pair.
    """

    def __init__(self, index: Index, policy: str = "graded", joint: JointOptions | None = None,
                 evidence_docs: int = 0):
        self.index = index
        self.policy = policy
        self.joint = joint or JointOptions()
        self.evidence_docs = evidence_docs
        self._decide = get_policy(policy, index.path, index.manifest)
        self._store = index.store if index.has_evidence else None

    def _support(self, question: str, answer: str | None, q_ents: list[EntityEvidence],
                 a_ents: list[EntityEvidence], pairs: list[PairEvidence],
                 names_any: bool) -> tuple[list[JointSupport], AnswerWords | None]:
        """Document-level support of the answer from the evidence store: against the question's rarest known
        entity, so nothing without one (nor without a store or an answer)."""
        store, opts = self._store, self.joint
        known = [e for e in q_ents if e.docs > 0]
        if store is None or not answer or not known:
            return [], None
        rarest = min(known, key=lambda e: e.docs).name
        out = []
        if opts.joint != "off":
            window = {p.b: p.docs for p in pairs if p.a == rarest and p.kind == "question-answer"}
            out = [name_support(store, b.name, [e.name for e in known], rarest, opts, window.get(b.name))
                   for b in a_ents if b.docs > 0]
        phrase = phrase_of(answer, store) if opts.phrases and not names_any else None
        if phrase is not None:
            out.append(phrase_support(store, phrase, rarest))
        words = None
        if opts.answer_words:
            words = answer_words(store, question, answer, [e.name for e in (*q_ents, *a_ents)], rarest,
                                 opts.common_share)
        return out, words

    def score(self, question: str, answer: str | None = None) -> RiskReport:
        if not isinstance(question, str) or not (answer is None or isinstance(answer, str)):
            raise TypeError(f"score(question: str, answer: str | None), got {type(question).__name__}, "
                            f"{type(answer).__name__}")
        return self.score_many([question], [answer])[0]

    def score_many(self, questions: Sequence[str], answers: Sequence[str | None] | None = None) -> list[RiskReport]:
        """Score rows together: two matcher calls and one vectorized pair lookup for the whole list."""
        questions, answers = _check_texts(questions, answers)
        found = find_entities_many(self.index, [*questions, *answers], [True] * len(questions) + [False] * len(answers))
        rows = [_plan_row(qf, af) for qf, af in zip(found[: len(questions)], found[len(questions) :], strict=True)]
        wanted = [(x.id, y.id) for row in rows for x, y, _ in row.todo if x.id is not None and y.id is not None]
        looked = iter(self.index.pairs(np.array([w[0] for w in wanted], dtype=np.int64),
                                       np.array([w[1] for w in wanted], dtype=np.int64)) if wanted else [])
        return [self._report(row, question, answer, *_pair_evidence(row, looked, self.index.documents))
                for row, question, answer in zip(rows, questions, answers, strict=True)]

    def _report(self, row: _Row, question: str, answer: str | None, pairs: list[PairEvidence],
                links: dict[str, list[PairEvidence]]) -> RiskReport:
        """One row's evidence (counts, joint support, documents) through the policy into a report."""
        q_ents, a_ents, n_docs = row.q_ents, row.a_ents, self.index.documents
        support, words = self._support(question, answer, q_ents, a_ents, pairs, row.names_any)
        if self.evidence_docs and self._store is not None:
            for p in pairs:
                p.documents = self._store.evidence([p.a, p.b], limit=self.evidence_docs).docs
        feats = _features(q_ents, a_ents, links, support, words)
        decision = self._decide(Evidence(
            question_docs=[e.docs for e in q_ents],
            answer_docs={a.name: a.docs for a in a_ents},
            qa_pairs={name: [p.docs for p in ps] for name, ps in links.items()},
            qa_npmi={name: [p.npmi if p.npmi is not None else -1.0 for p in ps] for name, ps in links.items()},
            answer_given=bool(answer), features=feats, corpus_documents=n_docs,
            joint={x.answer: x for x in support if x.source == "name"},
            phrase=next((x for x in support if x.source == "phrase"), None), words=words,
        ))
        flags = sorted({f for x in (*q_ents, *a_ents, *pairs) for f in x.flags} | row.cut)
        if not q_ents and not a_ents:
            flags.append("no_entities")
        q_docs = [e.docs for e in q_ents]
        return RiskReport(
            question=question, answer=answer, policy=self.policy, risk=round(decision.risk, 6),
            confidence=round(1.0 - decision.risk, 6), reason=decision.reason, flags=flags,
            entities=q_ents + a_ents, pairs=pairs, features=feats,
            long_tail=bool(q_docs) and sum(q_docs) / len(q_docs) < LONG_TAIL_MEAN,
            window=self.index.window, corpus_documents=n_docs, support=support, answer_words=words,
        )


@dataclass
class _Row:
    """One row's names and the pairs to look up (cut: the caps that trimmed them)."""

    q_ents: list[EntityEvidence]
    a_ents: list[EntityEvidence]
    todo: list[tuple[EntityEvidence, EntityEvidence, str]]
    cut: set[str]
    names_any: bool  # the answer writes a name at all, even one the question names


def _plan_row(qf: Found, af: Found) -> _Row:
    cut: set[str] = set()
    q_ents = _capped(_entity_evidence(qf, "question"), MAX_NAMES_PER_TEXT, "too_many_names", cut)
    names_any = bool(af.known or af.unseen)
    a_ents = _capped(_entity_evidence(_new_in_answer(af, q_ents), "answer"), MAX_NAMES_PER_TEXT, "too_many_names", cut)
    todo = [(x, y, "question-answer") for y in a_ents for x in q_ents]
    todo += [(x, y, "answer-answer") for x, y in combinations(a_ents, 2)]
    return _Row(q_ents, a_ents, _capped(todo, MAX_PAIRS_PER_ROW, "too_many_pairs", cut), cut, names_any)


def _pair_evidence(row: _Row, looked: Iterator, n_docs: int) -> tuple[list[PairEvidence], dict[str, list[PairEvidence]]]:
    """The row's pairs with their counts (taken in order from the batch lookup), and per answer name the
    question pairs that can ground it (only known question entities can)."""
    pairs: list[PairEvidence] = []
    links: dict[str, list[PairEvidence]] = {e.name: [] for e in row.a_ents}
    for x, y, kind in row.todo:
        if x.id is None or y.id is None:
            p = PairEvidence(x.name, y.name, kind, 0, "absent", None, -1.0 if x.docs and y.docs else None,
                             0.0 if kind == "question-answer" and x.docs else None, ["zero_pair"])
        else:
            pc = next(looked)
            p = PairEvidence(x.name, y.name, kind, pc.docs, pc.source, pmi(pc.docs, x.docs, y.docs, n_docs),
                             npmi(pc.docs, x.docs, y.docs, n_docs),
                             conditional(pc.docs, x.docs) if kind == "question-answer" else None,
                             _pair_flags(pc.docs), pc.bound, pc.false_positive_rate)
        pairs.append(p)
        if kind == "question-answer" and x.docs > 0:
            links[y.name].append(p)
    return pairs, links


def format_report(report: RiskReport) -> str:
    """A human-readable summary: the number, why, and the counts behind it."""
    lines = [
        f"risk {report.risk:.3f} (confidence {report.confidence:.3f}, policy {report.policy}): {report.reason}",
    ]
    for e in report.entities:
        flag = f"  [{', '.join(e.flags)}]" if e.flags else ""
        known = f"{plural(e.docs, 'document')}, {plural(e.mentions, 'mention')}" if e.id is not None else \
            "never written in the corpus"
        lines.append(f"  {e.role:8s} entity  {e.name!r}: {known}{flag}")
    for p in report.pairs:
        flag = f"  [{', '.join(p.flags)}]" if p.flags else ""
        assoc = f", NPMI {p.npmi:+.2f}" if p.npmi is not None and p.docs else ""
        lines.append(f"  {p.kind} pair  {p.a!r} + {p.b!r}: {plural(p.docs, 'document')} ({p.source}{assoc}){flag}")
        for d in p.documents or []:
            lines.append(f"      {d.id} ({Path(d.file).name}:{d.record}): {d.snippet}")
    for x in report.support:
        with_r = f", {x.with_rarest} with {x.rarest!r}" if x.rarest is not None else ""
        lines.append(f"  {x.source} support  {x.answer!r}: {plural(x.docs, 'document')}{with_r} (evidence store, document level)")
    if report.answer_words is not None and report.answer_words.words:
        w = report.answer_words
        lines.append(f"  answer words: {len(w.unsupported)} of {len(w.words)} never with the rarest question entity"
                     + (f" ({', '.join(w.unsupported[:6])})" if w.unsupported else ""))
    if report.flags:
        lines.append(f"  flags: {', '.join(report.flags)}")
    return "\n".join(lines)


__all__ = ["FEATURES", "EntityEvidence", "PairEvidence", "RiskReport", "Scorer", "TextSpan", "format_report"]

"""Score a question (and optionally an answer) against an index, with the evidence behind it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from itertools import combinations

from .extract import Found, find_entities
from .index import Index
from .policy import POLICIES, RARE_ENTITY, Evidence


@dataclass
class EntityEvidence:
    name: str
    key: str
    id: int | None  # None: not in the index's vocabulary
    label: str | None
    docs: int
    mentions: int
    role: str  # "question" or "answer"
    flags: list[str] = field(default_factory=list)  # unseen_entity, rare_entity


@dataclass
class PairEvidence:
    a: str
    b: str
    kind: str  # "question-answer" or "answer-answer"
    docs: int  # documents in which both occur within the index's window
    source: str  # "exact", or "unseen" when an entity is not in the vocabulary (count is 0 by definition)
    flags: list[str] = field(default_factory=list)  # zero_pair, singleton_pair


@dataclass
class RiskReport:
    """risk in [0, 1]: higher = the corpus supports the statement less (more likely hallucinated).

    confidence = 1 - risk, for libraries that expect a confidence.
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
    window: int | str
    corpus_documents: int

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, **kwargs)


def _entity_evidence(found: Found, role: str) -> list[EntityEvidence]:
    out = []
    for e in found.known:
        flags = ["unseen_entity"] if e.docs == 0 else (["rare_entity"] if e.docs < RARE_ENTITY else [])
        out.append(EntityEvidence(e.name, e.key, e.id, e.label, e.docs, e.mentions, role, flags))
    for span in found.unseen:
        out.append(EntityEvidence(span, span, None, None, 0, 0, role, ["unseen_entity"]))
    return out


def _pair_flags(docs: int) -> list[str]:
    return ["zero_pair"] if docs == 0 else (["singleton_pair"] if docs == 1 else [])


class Scorer:
    """Data-side hallucination risk: how much the corpus links the entities of a Q/A."""

    def __init__(self, index: Index, policy: str = "graded"):
        if policy not in POLICIES:
            raise ValueError(f"unknown policy {policy!r}; choose one of {', '.join(POLICIES)}")
        self.index = index
        self.policy = policy

    def _pair(self, a: EntityEvidence, b: EntityEvidence, kind: str) -> PairEvidence:
        if a.id is None or b.id is None:
            return PairEvidence(a.name, b.name, kind, 0, "unseen", ["zero_pair"])
        p = self.index.pair(a.id, b.id)
        return PairEvidence(a.name, b.name, kind, p.docs, p.source, _pair_flags(p.docs))

    def score(self, question: str, answer: str | None = None) -> RiskReport:
        q_ents = _entity_evidence(find_entities(self.index, question), "question")
        q_ids = {e.id for e in q_ents if e.id is not None}
        q_names = {e.key for e in q_ents}
        a_found = find_entities(self.index, answer, skip_sentence_initial=False)
        # answer entities the question already names add no claim of their own
        a_found = Found([e for e in a_found.known if e.id not in q_ids], [s for s in a_found.unseen if s not in q_names])
        a_ents = _entity_evidence(a_found, "answer")
        pairs: list[PairEvidence] = []
        qa_links: dict[str, list[int]] = {}
        for a in a_ents:
            links = [self._pair(q, a, "question-answer") for q in q_ents]
            # only pairs with question entities the corpus knows can ground an answer
            qa_links[a.name] = [p.docs for p, q in zip(links, q_ents, strict=True) if q.docs > 0]
            pairs += links
        pairs += [self._pair(x, y, "answer-answer") for x, y in combinations(a_ents, 2)]
        evidence = Evidence(
            question_docs=[e.docs for e in q_ents],
            answer_docs={a.name: a.docs for a in a_ents},
            qa_pairs=qa_links,
            answer_given=bool(answer),
        )
        decision = POLICIES[self.policy](evidence)
        flags = sorted({f for x in (*q_ents, *a_ents, *pairs) for f in x.flags})
        if not q_ents and not a_ents:
            flags.append("no_entities")
        return RiskReport(
            question=question,
            answer=answer,
            policy=self.policy,
            risk=round(decision.risk, 6),
            confidence=round(1.0 - decision.risk, 6),
            reason=decision.reason,
            flags=flags,
            entities=q_ents + a_ents,
            pairs=pairs,
            window=self.index.window,
            corpus_documents=self.index.documents,
        )


def format_report(report: RiskReport) -> str:
    """A human-readable summary: the number, why, and the counts behind it."""
    lines = [
        f"risk {report.risk:.3f} (confidence {report.confidence:.3f}, policy {report.policy}): {report.reason}",
    ]
    for e in report.entities:
        flag = f"  [{', '.join(e.flags)}]" if e.flags else ""
        known = f"{e.docs} docs, {e.mentions} mentions" if e.id is not None else "not in the index vocabulary"
        lines.append(f"  {e.role:8s} entity  {e.name!r}: {known}{flag}")
    for p in report.pairs:
        flag = f"  [{', '.join(p.flags)}]" if p.flags else ""
        lines.append(f"  {p.kind} pair  {p.a!r} + {p.b!r}: {p.docs} docs ({p.source}){flag}")
    if report.flags:
        lines.append(f"  flags: {', '.join(report.flags)}")
    return "\n".join(lines)

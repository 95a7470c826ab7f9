"""Joint support: what the evidence store says about an answer beyond pair counts.

Pair tables cannot tell a right answer from a wrong one taken from the same paragraph: every
name of a paragraph co-occurs with every other. Document-level ANDs of the evidence store can:
  - an answer name is checked against the question's rarest known entity (its most specific
    subject): a document holding both, or none ("Pretoria" never shares one with "Kew");
  - a short answer without a name ("rock", "six", at most PHRASE_WORDS words, not yes/no) is
    counted as a phrase, alone and with the rarest entity, labelled source "phrase";
  - the answer's other words (not in the question, not part of its names, longer than one letter,
    not common words: in at most COMMON_SHARE of the documents) are each checked against the rarest entity; the
    share that never shares a document with it raises the risk.
The options and what each adds are in the quality benchmark's joint-support table; the defaults
are the configuration it measured best.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .evidence import EvidenceStore

PHRASE_WORDS = 4
COMMON_SHARE = 0.1
YES_NO = frozenset({"yes", "no"})
JOINT_MODES = ("rarest", "all", "best_pair", "window", "off")


@dataclass(frozen=True, kw_only=True)
class JointOptions:
    """joint: which question entities an answer name must share a document with ("rarest": the rarest known
    one; "all": all known ones at once; "best_pair": any one, at document level; "window": the rarest, from the
    pair table's window; "off"). phrases / answer_words: the two checks of answers beyond their names."""

    joint: str = "rarest"
    phrases: bool = True
    answer_words: bool = True
    common_share: float = COMMON_SHARE

    def __post_init__(self) -> None:
        if self.joint not in JOINT_MODES:
            raise ValueError(f"joint must be one of {', '.join(JOINT_MODES)}, got {self.joint!r}")


@dataclass
class JointSupport:
    """Document-level counts from the evidence store (source "phrase": `answer` is not a name)."""

    answer: str
    source: str  # "name" or "phrase"
    docs: int  # documents containing the answer as a phrase
    rarest: str | None  # the question's rarest known entity
    rarest_docs: int  # documents containing it as a phrase
    with_rarest: int | None  # documents with both
    with_all: int | None = None  # documents with the answer and every known question entity
    joint: int | None = None  # the count the policy uses (per JointOptions.joint); None: not checked


@dataclass
class AnswerWords:
    """The answer's own words checked against the rarest question entity; unsupported: never with it."""

    words: list[str] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)

    @property
    def share(self) -> float:
        return len(self.unsupported) / len(self.words) if self.words else 0.0


def phrase_of(answer: str | None, store: EvidenceStore) -> str | None:
    """The answer as a phrase to count: a short answer (<= PHRASE_WORDS words) that is not yes/no."""
    text = (answer or "").strip().rstrip(".!?").strip()
    words = store.words(text)
    if not words or len(words) > PHRASE_WORDS or " ".join(words) in YES_NO:
        return None
    return text


def name_support(store: EvidenceStore, answer: str, known: list[str], rarest: str, opts: JointOptions,
                 window_pair: int | None) -> JointSupport:
    """known: the question's known entities (names); window_pair: the pair table's count of (answer, rarest)."""
    s = JointSupport(answer, "name", store.count([answer]), rarest, store.count([rarest]),
                     store.count([answer, rarest]))
    if opts.joint == "all":
        s.with_all = store.count([answer, *known])
        s.joint = s.with_all
    elif opts.joint == "best_pair":
        s.joint = max(store.count([answer, q]) for q in known)
    elif opts.joint == "window":
        s.joint = window_pair
    elif opts.joint == "rarest":
        s.joint = s.with_rarest
    return s


def phrase_support(store: EvidenceStore, phrase: str, rarest: str) -> JointSupport:
    docs = store.count(phrases=[phrase])
    with_rarest = store.count([rarest], [phrase]) if docs else 0
    return JointSupport(phrase, "phrase", docs, rarest, store.count([rarest]), with_rarest, joint=with_rarest)


def answer_words(store: EvidenceStore, question: str, answer: str, names: list[str], rarest: str,
                 common_share: float) -> AnswerWords:
    """The answer's words that say something of their own, and those never in a document with `rarest`."""
    if " ".join(store.words(answer)) in YES_NO:
        return AnswerWords()  # a yes/no answer claims nothing a word count can check
    skip = set(store.words(question)) | {w for n in names for w in store.words(n)}
    limit = common_share * max(1, store.documents)
    words = [w for w in dict.fromkeys(store.words(answer))
             if len(w) > 1 and w not in skip and store.count(phrases=[w]) <= limit]  # "s" of "Microsoft's": no word
    return AnswerWords(words, [w for w in words if store.count([rarest], [w]) == 0])

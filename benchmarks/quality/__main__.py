"""How good is the signal? cooc's risk against HaluEval, with ablations and model-side signals.

    python -m benchmarks.quality --corpus ../shared/data/corpus \\
        --eval ../shared/data/eval/halueval_qa_dev.jsonl --out .cooc/quality [--model] [--limit N]

Builds the indexes it needs under OUT/indexes (reused by a rerun when built with the same
settings, inputs and indexer code; --rebuild redoes them), scores every HaluEval row twice (right
answer = 0, hallucinated = 1) and writes OUT/results.md, OUT/roc.png and OUT/rows.csv. The main
index is the default build: every name the text writes, no vocabulary. --model adds the
model-side signals of a real small LM on the CPU (extra `bench`); its per-row outputs are
cached in OUT/model-cache.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import time
from dataclasses import KW_ONLY, asdict, dataclass
from pathlib import Path

import numpy as np

from cooc.indexer.atomic import atomic_path
from cooc.indexer.build import BuildConfig, build_index
from cooc.indexer.count import WINDOW_DOC
from cooc.indexer.errors import CoocError
from cooc.indexer.parts import RULE_VERSION
from cooc.indexer.read import ReadOptions, resolve_inputs
from cooc.indexer.runner import LocalRunner
from cooc.scorer import Index, Scorer
from cooc.scorer.features import FEATURES
from cooc.scorer.joint import JointOptions
from cooc.scorer.policy import NEUTRAL_RISK
from cooc.scorer.scorer import RiskReport

from .data import Row, gap_split, labelled, load_eval, write_gap_corpus, write_gazetteer
from .metrics import cv_predict, lexical_overlap
from .report import (
    MetricRow,
    failure_category,
    markdown_table,
    measure,
    metric_table,
    plot_roc,
    who_catches_what,
    write_rows_csv,
)

MAIN = "default (every name the text writes)"
_WORD = re.compile(r"\w+")
BUILD_WORKERS = 2
#: spaCy processes for the NER list (`cooc vocab`)
NER_PROCESSES = 2


@dataclass(frozen=True)
class Variant:
    """One index of the ablation: which names it counts, which window.

    gazetteer: "aliases" or "plain" adds the Wikipedia-titles gazetteer (with or without its
    aliases) to the rule's names; ner_list counts only the NER list of `cooc vocab` (no rule).
    """

    name: str
    _: KW_ONLY
    gazetteer: str | None = None
    ner_list: bool = False
    inner: bool = True
    window: int = 1000

    def __post_init__(self) -> None:
        if self.gazetteer not in (None, "aliases", "plain"):
            raise ValueError(f"gazetteer must be None, 'aliases' or 'plain', got {self.gazetteer!r}")
        if self.gazetteer and self.ner_list:
            raise ValueError("a variant counts a fixed list (ner_list) or adds a gazetteer, not both")

    @property
    def names_name(self) -> str:
        if self.ner_list:
            return "nerlist"
        return "rule" + ("" if self.inner else "-noinner") + (f"-gaz{self.gazetteer}" if self.gazetteer else "")

    @property
    def dir_name(self) -> str:
        return f"{self.names_name}-w{'doc' if self.window == WINDOW_DOC else self.window}"


VARIANTS = [
    Variant(MAIN),
    Variant("no inner names", inner=False),
    Variant("default + gazetteer (Wikipedia titles) with aliases", gazetteer="aliases"),
    Variant("default + gazetteer without aliases", gazetteer="plain"),
    Variant("NER list only (`cooc vocab`: spaCy on a 2,000-document sample)", ner_list=True),
    Variant("default, window 25", window=25),
    Variant("default, window 100", window=100),
    Variant("default, whole document", window=WINDOW_DOC),
]


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _indexer_digest() -> str:
    """A digest of the indexer's source: an index built by other indexer code is rebuilt, not reused."""
    import cooc.indexer

    h = hashlib.sha256()
    for f in sorted(Path(cooc.indexer.__file__).parent.glob("*.py")):
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


class Workbench:
    """Builds (or reuses) the indexes of the evaluation and scores rows against them."""

    def __init__(self, corpus: list[str], out: Path, rebuild: bool):
        self.corpus, self.out, self.rebuild = corpus, out, rebuild
        self.build_seconds: dict[str, float] = {}
        self._made: set[Path] = set()  # rebuilt in this run: --rebuild redoes each input once, not per index

    def _stale(self, path: Path) -> bool:
        stale = (self.rebuild and path not in self._made) or not path.is_file()
        self._made.add(path)
        return stale

    def gazetteer(self, kind: str) -> Path:
        """The Wikipedia-titles gazetteer (TSV), with aliases ("aliases") or without ("plain")."""
        path = self.out / "inputs" / f"gazetteer-{kind}.tsv"
        if self._stale(path):
            wiki = [p for p in resolve_inputs(self.corpus) if "wikipedia" in p.name]
            if not wiki:
                raise SystemExit("the gazetteer ablation needs the Wikipedia leads file (wikipedia_vital_leads.jsonl.gz)"
                                 " among --corpus")
            write_gazetteer(wiki[0], path, aliases=kind == "aliases")
        return path

    def ner_list(self) -> Path:
        """The curated list `cooc vocab` writes: spaCy NER on a bounded sample of the corpus (JSONL)."""
        path = self.out / "inputs" / "ner-list.jsonl"
        if self._stale(path):
            from cooc.indexer.vocab import VocabConfig, make_vocabulary

            path.parent.mkdir(parents=True, exist_ok=True)
            t0 = time.perf_counter()
            entries = make_vocabulary(self.corpus, ReadOptions(), VocabConfig(processes=NER_PROCESSES), path)
            print(f"  NER list: {len(entries):,} names in {time.perf_counter() - t0:.1f}s", flush=True)
        return path

    def build_config(self, v: Variant, inputs: list[str], out: Path) -> BuildConfig:
        """The default build, plus what the variant changes."""
        return BuildConfig(inputs, out, gazetteer=self.gazetteer(v.gazetteer) if v.gazetteer else None,
                           vocab_file=self.ner_list() if v.ner_list else None, inner=v.inner, window=v.window,
                           runner=LocalRunner(workers=BUILD_WORKERS), force=True, progress=False)

    def _settings(self, v: Variant, cfg: BuildConfig) -> dict:
        """What an index was built from: a rerun reuses it only when all of this is unchanged."""
        names_file = cfg.vocab_file or cfg.gazetteer
        return {"variant": asdict(v), "inputs": [str(p) for p in resolve_inputs(cfg.inputs)],
                "names_file_sha256": _sha256(names_file) if names_file else None, "rule_version": RULE_VERSION,
                "indexer_source_sha256": _indexer_digest()}

    def _reusable(self, out: Path, settings: dict) -> bool:
        marker = out / "benchmark-settings.json"
        if self.rebuild and out not in self._made or not marker.is_file():
            return False
        try:
            Index.open(out)  # an index of an older format is rebuilt, not reused
        except CoocError:
            return False
        return json.loads(marker.read_text(encoding="utf-8")) == settings

    def index(self, v: Variant, inputs: list[str] | None = None, tag: str = "") -> Index:
        out = self.out / "indexes" / (v.dir_name + tag)
        cfg = self.build_config(v, inputs or self.corpus, out)
        settings = self._settings(v, cfg)
        if not self._reusable(out, settings):
            t0 = time.perf_counter()
            build_index(cfg)
            (out / "benchmark-settings.json").write_text(json.dumps(settings, indent=2), encoding="utf-8")
            self.build_seconds[v.dir_name + tag] = time.perf_counter() - t0
            print(f"  built {out.name} in {self.build_seconds[v.dir_name + tag]:.1f}s", flush=True)
        self._made.add(out)
        return Index.open(out)


def score(index: Index, rows: list[Row], policy: str = "graded", joint: JointOptions | None = None) -> list[RiskReport]:
    return Scorer(index, policy, joint).score_many([r.question for r in rows], [r.answer for r in rows])


def risks(reports: list[RiskReport]) -> np.ndarray:
    return np.array([r.risk for r in reports])


def features(reports: list[RiskReport]) -> np.ndarray:
    return np.array([[r.features[f] for f in FEATURES] for r in reports])


def _ci(m: MetricRow) -> str:
    return f"{m.auroc:.3f} [{m.auroc_ci[0]:.3f}, {m.auroc_ci[1]:.3f}]"


@dataclass
class Labels:
    """The truth of every scored row (label 1 = the hallucinated answer) and its question, which the
    bootstrap resamples as one group, so `measure` can take any signal on all rows or on a selection."""

    y: np.ndarray
    groups: np.ndarray
    boot: int

    def measure(self, name: str, risk: np.ndarray, sel: np.ndarray | None = None, note: str = "") -> MetricRow:
        if sel is None:
            return measure(name, self.y, risk, self.groups, self.boot, note)
        return measure(name, self.y[sel], risk[sel], self.groups[sel], self.boot, note)


@dataclass
class MainScores:
    """The main index's signals per row (each one a risk: higher = more likely hallucinated)."""

    graded: list[RiskReport]
    g: np.ndarray  # the default (graded) policy
    quco: np.ndarray
    calibrated: np.ndarray  # logistic regression on the report features, out of fold
    lexical: np.ndarray  # the baseline: share of answer words already in the question


def main_scores(index: Index, rows: list[Row], lab: Labels, seed: int) -> MainScores:
    graded = score(index, rows)
    quco = risks(score(index, rows, "quco"))
    calibrated = cv_predict(features(graded), lab.y, lab.groups, seed=seed)
    lexical = np.array([lexical_overlap(r.question, r.answer) for r in rows])
    return MainScores(graded, risks(graded), quco, calibrated, lexical)


def main_table(s: MainScores, lab: Labels) -> tuple[list[MetricRow], dict]:
    """The main table's rows and their ROC curves."""
    table = [
        lab.measure("cooc graded", s.g, note="the default policy; no fitting"),
        lab.measure("cooc quco (rule: flagged or not)", s.quco, note="QuCo-RAG's published rules"),
        lab.measure("cooc calibrated (5-fold CV)", s.calibrated,
                    note=f"logistic regression on the {len(FEATURES)} report features"),
        lab.measure("lexical baseline", s.lexical, note="share of answer words already in the question"),
    ]
    curves = {"cooc graded": (lab.y, s.g), "cooc quco": (lab.y, s.quco), "cooc calibrated": (lab.y, s.calibrated),
              "lexical": (lab.y, s.lexical)}
    return table, curves


def row_columns(rows: list[Row], s: MainScores) -> dict[str, list]:
    """The first columns of rows.csv; the later sections add theirs."""
    return {
        "id": [r.id for r in rows], "question_id": [r.qid for r in rows], "label": [r.label for r in rows],
        "question": [r.question for r in rows], "answer": [r.answer for r in rows],
        "risk_graded": list(s.g), "risk_quco": list(s.quco), "risk_calibrated": list(s.calibrated),
        "lexical_overlap": list(s.lexical), "reason": [r.reason for r in s.graded],
    }


def by_question(rows: list[Row], graded: list[RiskReport]) -> dict[str, dict[int, tuple[Row, RiskReport]]]:
    """question id -> label -> (row, report): each question's right (0) and hallucinated (1) answer."""
    by_q: dict[str, dict[int, tuple[Row, RiskReport]]] = {}
    for r, rep in zip(rows, graded, strict=True):
        by_q.setdefault(r.qid, {})[r.label] = (r, rep)
    return by_q


def failure_section(by_q: dict) -> list[str]:
    """Questions whose hallucinated answer is not ranked above the right one, by category."""
    all_cats, fail_cats = {}, {}
    for pair in by_q.values():
        (right, right_rep), (_, hall_rep) = pair[0], pair[1]
        cat = failure_category(right.question, right.right_answer, right_rep, hall_rep)
        all_cats[cat] = all_cats.get(cat, 0) + 1
        if hall_rep.risk <= right_rep.risk:
            fail_cats[cat] = fail_cats.get(cat, 0) + 1
    cat_rows = [(c, all_cats[c], fail_cats.get(c, 0)) for c in sorted(all_cats, key=lambda c: -fail_cats.get(c, 0))]
    return [f"## Where cooc fails ({sum(fail_cats.values()):,} of {len(by_q):,} questions: hallucinated answer not "
            "ranked above the right one)", "",
            markdown_table(["category (first that applies)", "questions", "of which failed"], cat_rows), ""]


def format_matched(rows: list[Row], by_q: dict, s: MainScores, lab: Labels) -> tuple[list[str], np.ndarray]:
    """Questions whose hallucinated answer is at most 0 (2) words longer than the right one, so answer length
    and restating the question cannot separate them (HaluEval's hallucinated answers are mostly full
    sentences, its right answers short spans). Returns the sections and the rows of the strict selection."""
    words = {r.id: len(_WORD.findall(r.answer)) for r in rows}
    md, strict = [], None
    for extra in (0, 2):
        ok = {q for q, pair in by_q.items() if words[pair[1][0].id] <= words[pair[0][0].id] + extra}
        sel = np.array([r.qid in ok for r in rows])
        strict = sel if strict is None else strict
        t = [lab.measure("cooc graded", s.g, sel), lab.measure("cooc quco (rule)", s.quco, sel),
             lab.measure("cooc calibrated (5-fold CV on all rows)", s.calibrated, sel),
             lab.measure("lexical baseline", s.lexical, sel)]
        md += [f"## Format-matched questions: hallucinated answer at most {extra} words longer than the right one "
               f"({len(ok):,} questions)", "", metric_table(t), ""]
    return md, strict


#: the joint-support ablation (graded policy, main index): what each evidence-store check adds
JOINT_VARIANTS = [
    ("pair rules only (no evidence store)", JointOptions(joint="off", phrases=False, answer_words=False)),
    ("+ answer name x rarest question entity, document level",
     JointOptions(joint="rarest", phrases=False, answer_words=False)),
    ("  instead: x rarest entity, pair-table window", JointOptions(joint="window", phrases=False, answer_words=False)),
    ("  instead: x all question entities at once", JointOptions(joint="all", phrases=False, answer_words=False)),
    ("  instead: x best pair, document level", JointOptions(joint="best_pair", phrases=False, answer_words=False)),
    ("+ phrases for short answers without a name", JointOptions(joint="rarest", phrases=True, answer_words=False)),
    ("+ the answer's own words x rarest entity (default)", JointOptions()),
    ("  default, phrases off", JointOptions(joint="rarest", phrases=False, answer_words=True)),
    ("  default, joint off", JointOptions(joint="off", phrases=True, answer_words=True)),
    ("  default, common words: > 5% of documents", JointOptions(common_share=0.05)),
    ("  default, common words: > 20% of documents", JointOptions(common_share=0.2)),
]


def joint_section(index: Index, rows: list[Row], lab: Labels, matched: np.ndarray) -> list[str]:
    """One row per JointOptions: AUROC on all rows and on the format-matched questions."""
    table = []
    for name, opts in JOINT_VARIANTS:
        g = risks(score(index, rows, joint=opts))
        every = lab.measure(name, g)
        table.append((name, _ci(every), _ci(lab.measure(name, g, matched)), every.auprc, every.recall10))
    return [f"## Joint support from the evidence store (graded policy, main index; format-matched: "
            f"{int(matched.sum()) // 2:,} questions whose hallucinated answer is no longer than the right one)", "",
            "Each row adds to (+) or replaces in (instead:) the row above it; the default is the row marked "
            "so. Rarest = the question's known entity with the fewest documents.", "",
            markdown_table(["graded risk with", "AUROC all rows [95% CI]", "AUROC format-matched [95% CI]",
                            "AUPRC", "recall @ 10% FPR"], table), ""]


def ablation_section(bench: Workbench, main_variant: Variant, main_index: Index, s: MainScores, rows: list[Row],
                     lab: Labels, columns: dict[str, list]) -> list[str]:
    """Every variant's index against HaluEval (graded policy); adds each variant's risks to `columns`."""
    table = []
    for v in VARIANTS:
        idx = main_index if v == main_variant else bench.index(v)
        reps = s.graded if v == main_variant else score(idx, rows)
        rg = risks(reps)
        with_answer_entity = np.mean([any(e.role == "answer" for e in rep.entities) for rep in reps])
        if v != main_variant:
            columns[f"risk_graded_{v.dir_name}"] = list(rg)
        counts = idx.manifest["counts"]
        built = bench.build_seconds.get(v.dir_name)
        mr = lab.measure(v.name, rg)
        table.append((v.name, idx.n_names, int(counts["common_words"]), int(counts["pairs"]), _ci(mr), mr.auprc,
                      mr.recall10, f"{float(with_answer_entity):.1%}", f"{built:.0f}" if built is not None else "reused"))
    return ["## Ablations (graded policy)", "",
            markdown_table(["index", "names", "common words", "pairs", "AUROC [95% CI]", "AUPRC", "recall @ 10% FPR",
                            "answers with a name", "build s"], table), ""]


def gap_section(bench: Workbench, main_variant: Variant, eval_rows: list[dict], rows: list[Row], g: np.ndarray,
                lab: Labels, seed: int, columns: dict[str, list]) -> list[str]:
    """The knowledge gap: leave out the knowledge paragraphs of half the questions, build again, compare."""
    gap = gap_split(eval_rows, seed)
    gap_files, removed = write_gap_corpus(bench.corpus, eval_rows, gap, bench.out / "inputs" / "gap-corpus")
    g_gap = risks(score(bench.index(main_variant, gap_files, tag="-gap"), rows))
    in_gap = np.array([r.qid in gap for r in rows])
    right = lab.y == 0
    table = []
    for name, sel in (("questions whose knowledge was left out", in_gap), ("questions whose knowledge was kept", ~in_gap)):
        for label, risk in (("full corpus", g), ("gap corpus", g_gap)):
            table.append((name, label, int(sel.sum() // 2), float(risk[sel & right].mean()),
                          float(np.mean(risk[sel & right] > NEUTRAL_RISK)), _ci(lab.measure(name, risk, sel))))
    columns["knowledge_left_out"] = list(in_gap)
    columns["risk_graded_gap_corpus"] = list(g_gap)
    return [f"## Knowledge gap ({removed:,} knowledge paragraphs of a random half of the questions left out, "
            f"seed {seed})", "",
            markdown_table(["questions", "index", "n", "mean risk of the right answer", "right answers above neutral",
                            "AUROC [95% CI]"], table), ""]


def proxy_signals(run, rows: list[Row], lab: Labels, graded: list[RiskReport], seed: int,
                  columns: dict[str, list]) -> tuple[np.ndarray, np.ndarray, list[MetricRow], dict]:
    """The model's confidence in each given answer (forced decoding) against cooc, and the two combined.
    Returns the rows the model scored, -mean log-prob per row, the main-table rows and their curves."""
    ids = [r.id for r in rows]
    have = np.array([i in run.proxy for i in ids])
    mean_lp = np.array([run.proxy[i]["mean_logprob"] if i in run.proxy else np.nan for i in ids])
    min_lp = np.array([run.proxy[i]["min_logprob"] if i in run.proxy else np.nan for i in ids])
    columns["model_mean_logprob"] = list(mean_lp)
    columns["model_min_logprob"] = list(min_lp)
    ys, gs = lab.y[have], lab.groups[have]
    combo_x = np.hstack([features([r for r, h in zip(graded, have, strict=True) if h]),
                         mean_lp[have, None], min_lp[have, None]])
    combo = cv_predict(combo_x, ys, gs, seed=seed)
    table = [
        lab.measure("cooc graded, same rows as the model", risks(graded), have),
        lab.measure("model proxy confidence: -mean token log-prob", -mean_lp, have, "SmolLM2-135M, forced"),
        lab.measure("model proxy confidence: -min token log-prob", -min_lp, have, "SmolLM2-135M, forced"),
        measure("combination: cooc features + model log-probs (5-fold CV)", ys, combo, gs, lab.boot,
                "logistic regression"),
    ]
    curves = {"model -mean log-prob": (ys, -mean_lp[have]), "combination (CV)": (ys, combo)}
    return have, -mean_lp, table, curves


def own_answers(run, subset: list[dict], index: Index, boot: int) -> tuple[list[MetricRow], np.ndarray]:
    """The model's own greedy answers (label: wrong), its confidence and semantic entropy against cooc's risk."""
    own_ids = [r["id"] for r in subset if r["id"] in run.own]
    own = [run.own[i] for i in own_ids]
    wrong = np.array([0 if o["correct"] else 1 for o in own])
    q_by_id = {r["id"]: r["question"] for r in subset}
    own_rows = [Row(id=i, qid=i, question=q_by_id[i], answer=o["answer"], right_answer="", label=int(w),
                    knowledge_doc="") for i, o, w in zip(own_ids, own, wrong, strict=True)]
    own_cooc = risks(score(index, own_rows))
    table = [
        measure("model's own answer: -mean token log-prob", wrong, -np.array([o["mean_logprob"] for o in own]), None,
                boot),
        measure("cooc graded risk of the model's own answer", wrong, own_cooc, None, boot),
    ]
    se_ids = [i for i in own_ids if i in run.semantic]
    if se_ids:
        pos = {i: k for k, i in enumerate(own_ids)}
        sel = np.array([pos[i] for i in se_ids])
        ent = np.array([run.semantic[i]["entropy"] for i in se_ids])
        table += [
            measure("semantic entropy (approx., k=5)", wrong[sel], ent, None, boot,
                    "clusters: normalized string, then MiniLM cosine >= 0.85 (replaces NLI)"),
            measure("cooc graded on the same questions", wrong[sel], own_cooc[sel], None, boot),
        ]
    return table, wrong


def model_signals(a: argparse.Namespace, eval_rows: list[dict], rows: list[Row], lab: Labels,
                  graded: list[RiskReport], main_index: Index, columns: dict[str, list]) -> tuple[str, list, dict]:
    """Model-side rows: proxy confidence, own answers, semantic entropy, and the combination."""
    from .model import model_available, run_model

    why = model_available()
    if why:
        raise SystemExit(f"--model: {why}")
    subset = eval_rows[: a.model_limit]
    run = run_model(subset, a.out / "model-cache", se_questions=a.se_questions)
    have, conf, table, curves = proxy_signals(run, rows, lab, graded, a.seed, columns)
    own_table, wrong = own_answers(run, subset, main_index, a.bootstrap)
    texts = [f"{r.question} -> {r.answer}" for r, h in zip(rows, have, strict=True) if h]
    counts, picked, (t_cooc, t_conf) = who_catches_what(lab.y[have], risks(graded)[have], conf[have], texts)
    section = [
        f"## Model-side signals (SmolLM2-135M-Instruct, Q4_1 GGUF dequantized, CPU; first {len(subset):,} questions)",
        "",
        f"The model's own greedy answers: {int((wrong == 0).sum()):,} of {len(wrong):,} right (normalized match "
        "against right_answer); label = wrong.",
        "",
        metric_table(own_table),
        "",
        f"### Who catches what (hallucinated answers at 10% false-positive rate each; cooc risk >= {t_cooc:.3f}, "
        f"model -mean log-prob >= {t_conf:.3f})",
        "",
        markdown_table(["caught by", "hallucinated answers"], [(k, counts.get(k, 0)) for k in picked]),
        "",
    ]
    for k, ex in picked.items():
        section += [f"**{k}**", ""] + [f"- {e[:220]}" for e in ex] + [""]
    return "\n".join(section), table, curves


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", nargs="+", required=True, help="corpus files or directories")
    ap.add_argument("--eval", type=Path, required=True, help="HaluEval QA JSONL")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--limit", type=int, help="only the first N HaluEval rows")
    ap.add_argument("--model", action="store_true", help="add model-side signals (extra `bench`)")
    ap.add_argument("--model-limit", type=int, default=5000,
                    help="HaluEval rows given to the model (default: all 5,000 dev rows)")
    ap.add_argument("--se-questions", type=int, default=300, help="questions with sampled answers (semantic entropy)")
    ap.add_argument("--no-ablations", action="store_true", help="main index only")
    ap.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples per interval")
    ap.add_argument("--rebuild", action="store_true", help="rebuild indexes and derived inputs")
    ap.add_argument("--seed", type=int, default=0)
    return ap.parse_args(argv)


def head_section(a: argparse.Namespace, n_questions: int, n_rows: int, index: Index, table: list[MetricRow],
                 roc: bool) -> list[str]:
    """What results.md opens with: the data, the main index, the main table and the ROC figure."""
    m = index.manifest
    md = [
        "# How good is the signal? (generated by `python -m benchmarks.quality`)",
        "",
        f"Eval: {a.eval.name}, {n_questions:,} questions, each scored with its right answer (label 0) and its "
        f"hallucinated answer (label 1): {n_rows:,} rows. Corpus: {', '.join(map(str, a.corpus))} "
        f"({m['corpus']['documents']:,} documents). Main index: {MAIN}, window {index.window}, "
        f"{index.n_names:,} names ({m['counts']['common_words']:,} of them common words), "
        f"{m['counts']['pairs']:,} pairs. 95% intervals: {a.bootstrap} bootstrap resamples of questions. Every score "
        "is a risk (higher = more likely wrong).",
        "",
        "## Main table",
        "",
        metric_table(table),
        "",
    ]
    if not a.model:
        md += ["Model-side signals (proxy confidence, the model's own answers, semantic entropy, the combination) were "
               "not run: pass `--model` (extra `bench`) to add them.", ""]
    return md + ["![ROC](roc.png)" if roc else "(No ROC figure: matplotlib is not installed; `pip install -e '.[bench]'`.)",
                 ""]


def main(argv: list[str] | None = None) -> None:
    a = parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    eval_rows = load_eval(a.eval, a.limit)
    rows = labelled(eval_rows)
    lab = Labels(np.array([r.label for r in rows]), np.asarray([r.qid for r in rows]), a.bootstrap)
    bench = Workbench(a.corpus, a.out, a.rebuild)
    print(f"{len(eval_rows):,} HaluEval rows -> {len(rows):,} scored answers", flush=True)

    main_variant = next(v for v in VARIANTS if v.name == MAIN)
    main_index = bench.index(main_variant)
    s = main_scores(main_index, rows, lab, a.seed)
    table, curves = main_table(s, lab)
    columns = row_columns(rows, s)
    by_q = by_question(rows, s.graded)
    failures = failure_section(by_q)
    matched, strict = format_matched(rows, by_q, s, lab)
    joint = joint_section(main_index, rows, lab, strict) if main_index.has_evidence else []
    ablations = [] if a.no_ablations else ablation_section(bench, main_variant, main_index, s, rows, lab, columns)
    gap = gap_section(bench, main_variant, eval_rows, rows, s.g, lab, a.seed, columns)
    model = []
    if a.model:
        model_md, model_table, model_curves = model_signals(a, eval_rows, rows, lab, s.graded, main_index, columns)
        model, table, curves = [model_md], table + model_table, {**curves, **model_curves}

    roc = plot_roc(curves, a.out / "roc.png", f"HaluEval QA dev: {len(eval_rows):,} questions x 2 answers")
    if not roc:
        (a.out / "roc.png").unlink(missing_ok=True)  # not a figure of an earlier run
    write_rows_csv(a.out / "rows.csv", columns)
    head = head_section(a, len(eval_rows), len(rows), main_index, table, roc)
    md = [*head, *failures, *matched, *joint, *ablations, *gap, *model,
          f"Total time: {time.perf_counter() - t_start:.0f} s.", ""]
    with atomic_path(a.out / "results.md") as tmp:
        tmp.write_text("\n".join(md), encoding="utf-8")
    print("\n".join(head + joint + ablations))
    print(f"wrote {a.out / 'results.md'}{', ' + str(a.out / 'roc.png') if roc else ''}, {a.out / 'rows.csv'}")


if __name__ == "__main__":
    main()

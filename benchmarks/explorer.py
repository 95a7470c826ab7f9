"""The risk explorer page in a real headless Chromium: what its tests and its README screenshot share.

The browser is the system's (Debian's `chromium` package), driven by playwright's Python API; nothing is
downloaded (never `playwright install`). The server is a real `cooc serve` app under uvicorn on a free
loopback port, in a thread of this process.

    python -m benchmarks.explorer --corpus ../shared/data/corpus --eval ../shared/data/eval/halueval_qa_dev.jsonl

builds the shared corpus's index (once, into .cooc/explorer-idx), picks the first HaluEval QA dev row whose
hallucinated answer has a flagged link and a supported one with documents, and saves the page as
benchmarks/results/explorer.png.
"""

from __future__ import annotations

import argparse
import json
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
#: a fresh profile and no background traffic: a closed network refuses Chromium's own connections otherwise
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ROOT = Path(__file__).resolve().parents[1]
SHOT = ROOT / "benchmarks" / "results" / "explorer.png"


def chromium() -> str | None:
    """The system Chromium's path, or None (then the page tests skip)."""
    return CHROMIUM if Path(CHROMIUM).is_file() else shutil.which("chromium")


@contextmanager
def serving(index_dir: Path, policy: str = "graded") -> Iterator[str]:
    """Yields the base URL of the app (`serve.make_server`) on a free loopback port, served from a thread."""
    from cooc.scorer.serve import make_server

    server, sock = make_server(index_dir, port=0, policy=policy)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the explorer's server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@contextmanager
def chromium_browser() -> Iterator:
    """The system Chromium, headless, with a fresh profile (playwright's launch makes a new temporary
    --user-data-dir each time and deletes it afterwards)."""
    from playwright.sync_api import sync_playwright

    path = chromium()
    if path is None:
        raise RuntimeError("no Chromium at /usr/bin/chromium: apt-get install -y chromium")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def new_page(browser, width: int = 1280, height: int = 900, bypass_csp: bool = False) -> Iterator:
    """A page in a context of its own; bypass_csp: ignore the page's Content-Security-Policy (to test what
    its own script does without that safety net)."""
    context = browser.new_context(viewport={"width": width, "height": height}, bypass_csp=bypass_csp)
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        yield page
    finally:
        context.close()


@contextmanager
def browser_page(width: int = 1280, height: int = 900) -> Iterator:
    with chromium_browser() as browser, new_page(browser, width, height) as page:
        yield page


def ask(page, base: str, question: str, answer: str) -> None:
    """Open the page, type the question and the answer, press Enter, and wait until the report and every
    link's documents are on the page."""
    page.goto(base + "/")
    page.wait_for_selector("#policy option", state="attached")  # /healthz answered (no eval: the page's CSP forbids it)
    page.fill("#question", question)
    page.fill("#answer", answer)
    page.press("#answer", "Enter")
    page.wait_for_selector("#result:not([hidden])")
    page.wait_for_selector("text=Reading the documents", state="detached")


def show_neighbours(page, name: str) -> None:
    """Choose a name among those found (its button) and wait for its neighbours (/top)."""
    page.locator("#entities button", has_text=name).first.click()
    page.wait_for_selector("#top-lists h3")


def _capitalized(text: str, spans) -> bool:
    return all(any(c.isupper() for c in text[s.start : s.end]) for s in spans)


def pick_row(index_dir: Path, eval_file: Path, max_chars: int = 160) -> dict:
    """The first HaluEval row (short enough to read in a picture) whose hallucinated answer has a flagged
    question x answer link and a supported one whose documents the evidence store holds, both between
    names the texts capitalize; with `flagged`, that link's two names."""
    from cooc.scorer import Index
    from cooc.scorer.scorer import Scorer

    index = Index.open(index_dir)
    scorer = Scorer(index)
    with open(eval_file, encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            q, a = row["question"].strip(), row["hallucinated_answer"].strip()
            if len(q) + len(a) > max_chars:
                continue
            report = scorer.score(q, a)
            written = {e.name for e in report.entities  # names, not a lowercase phrase the n-grams matched
                       if _capitalized(q, [s for s in e.spans if s.text == "question"])
                       and _capitalized(a, [s for s in e.spans if s.text == "answer"])}
            qa = [p for p in report.pairs if p.kind == "question-answer" and p.source != "absent"
                  and {p.a, p.b} <= written]
            flagged = [p for p in qa if "zero_pair" in p.flags]
            if flagged and any(p.docs > 0 and index.evidence([p.a, p.b], limit=1).docs for p in qa):
                return {**row, "flagged": (flagged[0].a, flagged[0].b)}
    raise RuntimeError(f"no row of {eval_file} has a flagged and a supported link with documents")


def screenshot(corpus: Path, eval_file: Path, out: Path = SHOT, index_dir: Path = ROOT / ".cooc" / "explorer-idx",
               width: int = 1280) -> dict:
    """Build (once) the index of `corpus`, score a picked HaluEval row on the page, save the page as a PNG."""
    from cooc.indexer.build import BuildConfig, build_index

    if not (index_dir / "manifest.json").is_file():
        build_index(BuildConfig(sorted(str(p) for p in corpus.glob("*.jsonl.gz")), index_dir, progress=False))
    row = pick_row(index_dir, eval_file)
    with serving(index_dir) as base, browser_page(width, 900) as page:
        ask(page, base, row["question"].strip(), row["hallucinated_answer"].strip())
        show_neighbours(page, row["flagged"][1])
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out), full_page=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, required=True, help="folder of the corpus's *.jsonl.gz files")
    ap.add_argument("--eval", type=Path, required=True, help="HaluEval QA dev rows (JSONL)")
    ap.add_argument("--index", type=Path, default=ROOT / ".cooc" / "explorer-idx", help="built here unless it exists")
    ap.add_argument("--out", type=Path, default=SHOT)
    ap.add_argument("--width", type=int, default=1280)
    args = ap.parse_args()
    row = screenshot(args.corpus, args.eval, args.out, args.index, args.width)
    print(f"{args.out}: {row['id']}: {row['question'].strip()!r} / {row['hallucinated_answer'].strip()!r}")


if __name__ == "__main__":
    main()

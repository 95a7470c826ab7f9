"""The risk explorer page (`GET /` of `cooc serve`) in a real headless Chromium (Debian's `chromium`),
against a real server over real indexes of the scorer tests' corpus (benchmarks/explorer.py drives both)."""

from __future__ import annotations

import pytest

from cooc.indexer.merge import MergeOptions
from cooc.scorer import Index
from cooc.scorer.scorer import Scorer
from tests.scorer.corpus import DOCS, build, write_docs

pytest.importorskip("playwright.sync_api", reason="the page tests need playwright (the dev extra: make install)")
from benchmarks.explorer import ask, chromium, chromium_browser, new_page, serving, show_neighbours  # noqa: E402

pytestmark = [
    pytest.mark.skipif(chromium() is None, reason="no Chromium at /usr/bin/chromium: the page tests need a real "
                       "browser (apt-get install -y chromium; .ci/run installs it)"),
    pytest.mark.slow,  # a real browser process and a server: `pytest -m "not slow"` skips them
]

# HaluEval's shape: a question with a rare name, and a hallucinated answer naming a place the corpus never
# links to it. Corpus (tests/scorer/corpus.py): q0 "In 1975, Bill Gates founded Microsoft in Albuquerque."
QUESTION = "Which city did the company founded by Bill Gates in 1975 move to?"
ANSWER = "Microsoft moved to Chicago."
XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def base(scorer_index_dir):
    with serving(scorer_index_dir) as url:
        yield url


@pytest.fixture(scope="module")
def chrome():
    with chromium_browser() as b:
        yield b


@pytest.fixture(scope="module")
def browser(chrome):
    with new_page(chrome) as page:
        yield page


def test_a_hallucinated_answer_shows_its_risk_flagged_link_and_evidence(base, browser, scorer_index_dir):
    expected = Scorer(Index.open(scorer_index_dir)).score(QUESTION, ANSWER)
    assert expected.risk > 0.5  # the page must show what the API says, and here that is a high risk
    ask(browser, base, QUESTION, ANSWER)
    assert browser.text_content("#risk-value").startswith(f"{expected.risk:.2f}")
    assert browser.text_content("#risk-reason") == expected.reason
    # names marked where the texts write them
    assert browser.locator("#q-marked mark").all_text_contents() == ["Bill Gates", "1975"]
    assert browser.locator("#a-marked mark").all_text_contents() == ["Microsoft", "Chicago"]
    # the links never made are flagged, and come first
    flagged = browser.locator("#links li.link.flagged")
    assert flagged.count() == 2
    heads = [" ".join(t.split()) for t in flagged.locator(".link-head").all_inner_texts()]
    assert heads == ["Bill Gates × Chicago a link the corpus never makes", "1975 × Chicago a link the corpus never makes"]
    assert "never together within 10 tokens" in flagged.first.text_content()
    # a supported link, with the document behind it and the names marked in its snippet
    supported = browser.locator("#links li.link:not(.flagged)", has_text="Bill Gates").first
    assert "1 document together of the 1 naming Bill Gates" in supported.text_content()
    snippet = supported.locator(".snippets li").first
    assert "In 1975, Bill Gates founded Microsoft in Albuquerque." in snippet.text_content()
    assert snippet.locator("mark").all_text_contents() == ["Bill Gates", "Microsoft"]
    assert "q0" in snippet.locator(".src").text_content()
    # the JSON link is the same report
    href = browser.get_attribute("#json-link", "href")
    assert href.startswith("/score?question=Which+city")
    assert browser.request.get(base + href).json()["risk"] == expected.risk


def test_a_chosen_name_shows_its_top_neighbours(base, browser):
    ask(browser, base, "Tourists visit Paris.", "Paris is in France.")
    show_neighbours(browser, "Paris")
    assert browser.text_content("#top-title") == "Names most often with Paris"
    by_docs = browser.locator("#top-lists ol").first.locator("li")
    # Paris-France 2 documents, Paris-Lyon 1 (tests/scorer/corpus.py)
    assert by_docs.nth(0).locator("button").text_content() == "France"
    assert "2 documents together" in by_docs.nth(0).text_content()
    assert by_docs.nth(1).locator("button").text_content() == "Lyon"
    by_docs.nth(1).locator("button").click()  # a neighbour is a name to explore in turn
    browser.wait_for_selector("#top-title:text('Names most often with Lyon')")


@pytest.fixture(scope="module")
def hostile_index(tmp_path_factory):
    """The corpus plus a document that writes markup around two names: its snippets are untrusted text."""
    d = tmp_path_factory.mktemp("xss")
    doc = "<img src=x onerror=alert(3)> Tourists love Paris and Lyon <b>in spring</b>."
    return build(write_docs(d / "docs.jsonl", [*DOCS, doc]), d / "idx")


def test_markup_in_an_answer_or_a_document_is_shown_as_text(hostile_index, chrome):
    """Without the page's CSP (bypassed here), so that it is the page's own code that never makes markup."""
    answer = f"{XSS} Lyon, {XSS}"
    with serving(hostile_index) as url, new_page(chrome, bypass_csp=True) as page:
        dialogs = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        ask(page, url, f"<script>alert(2)</script> Which city is near {XSS} Paris?", answer)
        assert page.text_content("#a-marked") == answer
        assert page.locator("#a-marked mark").all_text_contents() == ["Lyon"]
        snippets = page.locator(".snippets li").all_text_contents()
        assert any("<img src=x onerror=alert(3)> Tourists love" in s and "<b>in spring</b>" in s for s in snippets)
        page.wait_for_timeout(300)  # an onerror would have fired by now
        assert page.locator("img, script:not(body > script), b").count() == 0 and dialogs == []


def test_the_page_admits_only_its_own_script(base, browser):
    reply = browser.request.get(base + "/")
    csp = reply.headers["content-security-policy"]
    assert reply.ok and "script-src 'sha256-" in csp and "unsafe-inline" not in csp and "connect-src 'self'" in csp
    assert "http" not in reply.text().replace(base, "")  # no external asset, no CDN


@pytest.fixture(scope="module")
def counts_only_index(tmp_path_factory, scorer_docs):
    return build(scorer_docs, tmp_path_factory.mktemp("no-evidence") / "idx", merge=MergeOptions(evidence=False))


def test_an_index_without_evidence_says_so_and_still_scores(counts_only_index, browser):
    with serving(counts_only_index) as url:
        ask(browser, url, QUESTION, ANSWER)
        assert browser.is_visible("#no-evidence") and "--no-evidence" in browser.text_content("#no-evidence")
        assert "no evidence store" in browser.text_content("#index-info")
        assert browser.locator("#links li.link.flagged").count() == 2
        assert browser.locator(".evidence").count() == 0


def test_keyboard_alone_scores_and_explores(base, browser):
    browser.goto(base + "/")
    browser.wait_for_selector("#policy option", state="attached")
    order = []
    for _ in range(4):
        browser.keyboard.press("Tab")
        order.append(browser.evaluate("document.activeElement.id"))
    assert order == ["question", "answer", "policy", "submit"]
    browser.focus("#question")
    browser.keyboard.type("Who founded Microsoft?")
    browser.keyboard.press("Tab")
    browser.keyboard.type("Bill Gates")
    browser.keyboard.press("Enter")  # Enter submits from a text box
    browser.wait_for_selector("#result:not([hidden])")
    assert browser.input_value("#answer") == "Bill Gates"  # and adds no newline
    browser.focus("#entities button")
    browser.keyboard.press("Enter")  # the name buttons are buttons
    browser.wait_for_selector("#top-lists h3")
    assert browser.evaluate("document.activeElement.id") == "top-title"  # focus follows to the neighbours

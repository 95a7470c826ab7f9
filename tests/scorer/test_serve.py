"""The HTTP API over a real socket on loopback: a `cooc serve` subprocess and a stdlib client."""

import http.client
import json
import math
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from tests.scorer.serving import free_port, wait_until_serving


@pytest.fixture(scope="module")
def server(scorer_index_dir):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cooc.cli.main", "serve", "-i", str(scorer_index_dir), "--port", str(port),
         "--max-body-bytes", "4096", "--max-items", "5", "--request-seconds", "3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    base = f"http://127.0.0.1:{port}"
    wait_until_serving(base, proc)
    yield base
    proc.terminate()
    proc.wait(timeout=10)


def call(base, path, body=None, raw: bytes | None = None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(base + path, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_score_one_and_many(server):
    status, r = call(server, "/score", {"question": "Who founded Microsoft?", "answer": "Bill Gates"})
    # 14 documents; Microsoft in 2, Bill Gates in 1, together in 1 (tests/scorer/corpus.py)
    assert status == 200 and r["pairs"][0]["docs"] == 1
    assert r["risk"] == pytest.approx(0.5 * (1 - math.log(7) / math.log(14)), abs=1e-6)
    status, rs = call(server, "/score", {"items": [{"question": "Who founded Microsoft?", "answer": "Paul Allen"},
                                                   {"question": "capital of france?", "answer": "Paris"}]})
    assert status == 200 and len(rs) == 2 and rs[0]["risk"] == 1.0 and rs[1]["risk"] == 0.0
    assert [e["name"] for e in rs[1]["entities"]] == ["France", "Paris"]
    status, r = call(server, "/score?policy=quco", {"question": "Who founded Microsoft?", "answer": "Paul Allen"})
    assert status == 200 and r["policy"] == "quco"


def test_lookup_health_openapi(server):
    status, r = call(server, "/lookup?entity=microsoft&entity2=bill%20gates")
    assert status == 200 and r["pair"]["docs"] == 1 and r["entities"][0]["name"] == "Microsoft"
    assert r["entities"][1] == {**r["entities"][1], "name": "Bill Gates", "docs": 1}
    status, r = call(server, "/lookup?entity=Atlantis")
    assert status == 200 and r["entities"] == [{"phrase": "Atlantis", "docs": 0, "source": "phrase",
                                                "level": "document"}]
    status, r = call(server, "/evidence?name=Paris&name=France&limit=1")
    assert status == 200 and r["documents"] == 2 and len(r["docs"]) == 1 and "[Paris]" in r["docs"][0]["snippet"]
    status, r = call(server, "/evidence?limit=1")
    assert status == 422
    status, h = call(server, "/healthz")
    assert status == 200 and h["documents"] == 14
    status, spec = call(server, "/openapi.json")
    assert status == 200 and "/score" in spec["paths"]


def test_bad_requests_get_clear_4xx_and_the_server_keeps_serving(server):
    status, r = call(server, "/score", raw=b'{"question": ')
    assert status == 422 and "detail" in r
    status, r = call(server, "/score", raw=b"x" * 10_000)
    assert status == 413 and "4096" in r["detail"]
    status, r = call(server, "/score", {"items": [{"question": "q"}] * 6})
    assert status == 422
    status, r = call(server, "/score", {"answer": "no question"})
    assert status == 422
    status, r = call(server, "/score?policy=calibrated", {"question": "Paris?"})
    assert status == 422 and "unavailable policy" in r["detail"]
    assert "Traceback" not in json.dumps(r)
    status, _ = call(server, "/score", {"question": "Who founded Microsoft?"})
    assert status == 200


@pytest.mark.slow  # 400 requests
def test_bounded_load_from_concurrent_clients_gets_no_errors(server):
    """400 requests over 4 keep-alive connections (figures: benchmarks/bench_score.py, not asserted here)."""
    from concurrent.futures import ThreadPoolExecutor
    from urllib.parse import urlparse

    url = urlparse(server)
    body = json.dumps({"question": "Who founded Microsoft?", "answer": "Bill Gates"}).encode()

    def client(_):
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
        statuses = []
        for _ in range(100):
            conn.request("POST", "/score", body, {"Content-Type": "application/json"})
            resp = conn.getresponse()
            resp.read()
            statuses.append(resp.status)
        conn.close()
        return statuses

    with ThreadPoolExecutor(4) as pool:
        statuses = [s for batch in pool.map(client, range(4)) for s in batch]
    assert statuses == [200] * 400


def test_a_client_that_stalls_mid_body_gets_503_and_the_server_goes_on(server):
    host, port = server.removeprefix("http://").split(":")
    t0 = time.time()
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 60\r\n\r\n{\"question\": ")  # ... and never the rest
        reply = http.client.HTTPResponse(sock)  # reads the whole reply, however the server splits it
        reply.begin()
        status, body = reply.status, reply.read().decode()
    assert status == 503 and "not answered within 3 s" in body
    assert time.time() - t0 < 10
    status, r = call(server, "/score", {"question": "Who founded Microsoft?", "answer": "Bill Gates"})
    assert status == 200 and r["pairs"][0]["docs"] == 1


def test_get_score_is_the_post_report_and_top_lists_neighbours(server):
    from urllib.parse import urlencode

    item = {"question": "Who founded Microsoft?", "answer": "Bill Gates"}
    status, posted = call(server, "/score", item)
    status2, got = call(server, "/score?" + urlencode({**item, "policy": "graded"}))
    assert status == status2 == 200 and got == posted
    status, r = call(server, "/score?question=" + "x" * 30_000)
    assert status == 422
    status, r = call(server, "/top?name=paris&k=2")  # Paris-France 2 documents, Paris-Lyon 1 (corpus.py)
    assert status == 200 and r["entity"]["name"] == "Paris"
    assert [(n["name"], n["docs"]) for n in r["by_docs"]] == [("France", 2), ("Lyon", 1)]
    assert len(r["by_npmi"]) == 2 and r["window"] == 10
    status, r = call(server, "/top?name=Atlantis")
    assert status == 200 and r["entity"] is None and r["by_docs"] == []
    for bad in ("/top?name=Paris&k=0", "/top?name=Paris&k=101", "/top?name=Paris&min_docs=0", "/top?name=" + "x" * 1001,
                "/top"):
        status, r = call(server, bad)
        assert status == 422 and "detail" in r, bad


def test_the_report_says_where_each_name_is_written_and_healthz_what_the_page_needs(server):
    question, answer = "who founded microsoft in albuquerque?", "Bill Gates founded Microsoft."
    status, r = call(server, "/score", {"question": question, "answer": answer})
    spans = {e["name"]: [(s["text"], s["start"], s["end"]) for s in e["spans"]] for e in r["entities"]}
    # by hand: "microsoft" at 12 of the (lowercase) question, and the answer's "Microsoft" at 19 joins it
    assert spans == {"Microsoft": [("question", 12, 21), ("answer", 19, 28)], "Albuquerque": [("question", 25, 36)],
                     "Bill Gates": [("answer", 0, 10)]}
    status, r = call(server, "/evidence?name=Paris&name=France&limit=1")
    d = r["docs"][0]
    assert sorted(d["snippet"][a:b] for a, b in d["marks"]) == ["France", "Paris"]
    status, h = call(server, "/healthz")
    assert h["evidence"] is True and h["policy"] == "graded" and h["window"] == 10


def test_the_page_is_served_at_the_root(server):
    with urllib.request.urlopen(server + "/", timeout=10) as resp:
        body, headers = resp.read().decode(), resp.headers
    assert headers["Content-Type"].startswith("text/html") and "<title>cooc risk explorer</title>" in body
    assert "script-src 'sha256-" in headers["Content-Security-Policy"]

"""`cooc serve` as a user meets it (issue #14): the start message, a port in use, 422s, no CDN page.

A real `cooc serve` subprocess on a real socket, with the default limits."""

import json
import re
import select
import socket
import subprocess
import urllib.error
import urllib.request

import pytest

from cooc.scorer.serve import Limits
from tests.helpers import cooc_argv


def call(url, body=None):
    req = urllib.request.Request(url, data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


@pytest.fixture(scope="module")
def started(scorer_index_dir):
    """A server on any free port (--port 0); its first stderr line says where it listens."""
    proc = subprocess.Popen(cooc_argv("serve", "-i", str(scorer_index_dir), "--port", "0"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ready, _, _ = select.select([proc.stderr], [], [], 120)
    line = proc.stderr.readline() if ready else ""  # no message at all is a failure, not a hang
    yield proc, line
    proc.terminate()
    proc.wait(timeout=10)


@pytest.mark.slow
def test_serve_says_where_it_listens_and_how_to_stop(started, scorer_index_dir):
    proc, line = started
    m = re.search(r"on (http://127\.0\.0\.1:(\d+)) ", line)
    assert m and "Ctrl+C" in line and str(scorer_index_dir) in line, line
    status, body = call(m.group(1) + "/healthz")
    assert status == 200 and json.loads(body)["documents"] == 14


@pytest.mark.slow
def test_422_names_the_field_without_echoing_the_input(started):
    base = re.search(r"(http://\S+:\d+)", started[1]).group(1)
    question = "Who wrote this? " + "x" * 30_000  # over the 20,000-character limit
    assert len(question) > Limits().max_text_chars
    status, body = call(base + "/score", {"question": question})
    assert status == 422 and len(body) < 1000 and b"xxxx" not in body
    detail = json.loads(body)["detail"]
    assert detail[0]["loc"] == ["body", "Item", "question"] or "question" in detail[0]["loc"]
    assert "20000" in detail[0]["msg"]


@pytest.mark.slow
def test_no_page_that_needs_a_cdn(started):
    base = re.search(r"(http://\S+:\d+)", started[1]).group(1)
    for page in ("/docs", "/redoc"):
        status, body = call(base + page)
        assert status == 404 and b"cdn" not in body.lower()
    status, body = call(base + "/openapi.json")
    assert status == 200 and "/score" in json.loads(body)["paths"]


@pytest.mark.slow
def test_a_port_in_use_is_a_one_line_error(scorer_index_dir):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run(cooc_argv("serve", "-i", str(scorer_index_dir), "--port", str(port)),
                              capture_output=True, text=True, timeout=120)
    lines = [x for x in proc.stderr.splitlines() if x.strip()]
    assert proc.returncode == 1 and len(lines) == 1, proc.stderr
    assert lines[0] == f"Error: 127.0.0.1:{port} is already in use (another cooc serve?); stop it or pick another --port"

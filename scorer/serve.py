"""`cooc serve`: the scorer over HTTP (FastAPI + uvicorn, extra `serve`) for non-Python callers.

The index is opened read-only once and shared by all requests. Requests are bounded:
body size (413), items per batch and characters per text (422), names and pairs per text
(`scorer.MAX_NAMES_PER_TEXT`, `MAX_PAIRS_PER_ROW`, flagged when cut), pairs and reply bytes per
request (413), and time: a request not answered within `request_seconds` (a client that stalls
while sending its body, or work that runs too long) gets 503 and its work stops at the next
chunk of items. Connections are bounded too: one that has not sent a whole request head within
`header_seconds` (or idles that long between requests) is closed, and more than `max_in_flight`
requests at once get a JSON 503 at once. The body must be strict JSON (no NaN, no lone
surrogates: 422). Errors come back as JSON `{"detail": ...}` without stack traces, and a 422 names
the bad field without echoing the input back. Binds to loopback unless told otherwise. There is
no /docs page (Swagger UI would load its assets from a CDN, which offline means a blank page);
/openapi.json works in any OpenAPI viewer. `GET /` is the risk explorer (`explorer.html`, one file
with its own script and style, no external asset), a view of the same API: everything it shows
comes from /healthz, /score, /evidence and /top.
"""

import asyncio
import base64
import errno
import hashlib
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from importlib import resources
from pathlib import Path

from cooc.indexer.errors import CoocError

from .index import Index, lookup
from .options import POLICIES, Limits
from .scorer import Scorer
from .show import top_report

#: items scored per step of a batch: the time-out stops the work between steps
CHUNK_ITEMS = 32
#: the risk explorer page (package data of cooc.scorer)
PAGE = "explorer.html"


def _require():
    try:
        import fastapi
        import uvicorn
    except ImportError:
        raise CoocError("cooc serve needs FastAPI and uvicorn: pip install 'cooc[serve]'") from None
    return fastapi, uvicorn


class RequestCancelled(Exception):
    """The request's time ran out: its remaining work is dropped."""


def _report_json(report) -> bytes:
    """orjson serializes the dataclasses directly, 10x faster than asdict + json; to_json() when it
    refuses (a lone surrogate, which strict JSON bodies cannot bring in)."""
    import orjson

    try:
        return orjson.dumps(report)
    except orjson.JSONEncodeError:
        return report.to_json().encode("utf-8")


def score_reply(scorer: Scorer, questions: list[str], answers: list[str | None], single: bool, limits: Limits,
                cancelled: Callable[[], bool]) -> tuple[int, bytes | str]:
    """(status, JSON reply) of a /score request, scored CHUNK_ITEMS at a time within the pair and
    reply budgets; stops (RequestCancelled) as soon as `cancelled()` between chunks."""
    parts: list[bytes] = []
    size = pairs = 0
    for i in range(0, len(questions), CHUNK_ITEMS):
        if cancelled():
            raise RequestCancelled
        for r in scorer.score_many(questions[i : i + CHUNK_ITEMS], answers[i : i + CHUNK_ITEMS]):
            pairs += len(r.pairs)
            if pairs > limits.max_pairs:
                return 413, f"the request needs over {limits.max_pairs:,} pair lookups; send fewer items"
            parts.append(_report_json(r))
            size += len(parts[-1]) + 1
            if size > limits.max_reply_bytes:
                return 413, f"the reply would exceed {limits.max_reply_bytes:,} bytes; send fewer items"
    return 200, parts[0] if single else b"[" + b",".join(parts) + b"]"


def _strict_json_problem(body: bytes) -> str | None:
    """Why the body is not strict JSON (Python's json would accept NaN and lone surrogates), or None."""
    import orjson

    try:
        orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if "surrogate" in str(exc):
            return (f"request body has a lone UTF-16 surrogate (such as \\ud800) in a string ({exc}); "
                    "send valid Unicode text")
        return f"request body is not valid JSON ({exc}); NaN and Infinity are not JSON"
    return None


def _add_limits(app, limits: Limits) -> None:
    """Body size, strict JSON, in-flight requests and the request time limit, around every route."""
    from fastapi import Request
    from fastapi.responses import JSONResponse

    in_flight = 0

    async def read_body(request: Request):
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > limits.max_body_bytes:
                return JSONResponse({"detail": f"request body over {limits.max_body_bytes} bytes"}, status_code=413)
        request._body = body
        problem = _strict_json_problem(body) if body else None
        return JSONResponse({"detail": problem}, status_code=422) if problem else None

    @app.middleware("http")
    async def bounded(request: Request, call_next):
        nonlocal in_flight
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limits.max_body_bytes:
            return JSONResponse({"detail": f"request body over {limits.max_body_bytes} bytes"}, status_code=413)
        if request.url.path != "/healthz" and in_flight >= limits.max_in_flight:
            return JSONResponse({"detail": f"server busy: {in_flight} requests in progress; retry shortly"},
                                status_code=503, headers={"Retry-After": "1"})
        cancel = threading.Event()
        request.state.cancel = cancel

        async def handle():
            if request.method == "POST":
                refused = await read_body(request)
                if refused is not None:
                    return refused
            return await call_next(request)

        in_flight += 1
        try:
            return await asyncio.wait_for(handle(), limits.request_seconds)
        except TimeoutError:
            cancel.set()
            return JSONResponse({"detail": f"request not answered within {limits.request_seconds:g} s"},
                                status_code=503)
        finally:
            in_flight -= 1


def _scorers(index: Index) -> dict[str, Scorer]:
    """A scorer per policy the index can serve (calibrated: only with a model fitted on this build)."""
    out = {}
    for p in POLICIES:
        try:
            out[p] = Scorer(index, p)
        except CoocError:
            if p != "calibrated":
                raise
    return out


def create_app(index_path: Path, policy: str = "graded", limits: Limits | None = None):
    fastapi, _ = _require()
    from fastapi import FastAPI
    from pydantic import BaseModel, Field

    limits = limits or Limits()
    index = Index.open(index_path)
    scorers = _scorers(index)
    scorers["graded"].score("Warm up?", "Warm Up")  # imports and compiled kernels: not in the first request's time
    app = FastAPI(title="cooc", description="Corpus co-occurrence hallucination risk. risk in [0, 1], higher = "
                  "less supported by the corpus; confidence = 1 - risk.", version=index.manifest.get("cooc_version", ""),
                  docs_url=None, redoc_url=None)

    class Item(BaseModel):
        question: str = Field(max_length=limits.max_text_chars)
        answer: str | None = Field(default=None, max_length=limits.max_text_chars)

    class Batch(BaseModel):
        items: list[Item] = Field(max_length=limits.max_items)

    _add_limits(app, limits)
    _add_error_handlers(app)
    _add_routes(app, index, scorers, limits, policy, Item, Batch)
    return app


def _add_error_handlers(app) -> None:
    from fastapi import Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse

    @app.exception_handler(RequestValidationError)
    async def no_echo(request: Request, exc: RequestValidationError):
        """Where and why, never the input itself (a 30 KB text must not come back as a 60 KB reply)."""
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in exc.errors()]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(Exception)
    async def no_traces(request: Request, exc: Exception):
        return JSONResponse({"detail": f"internal error: {type(exc).__name__}"}, status_code=500)


def _add_routes(app, index: Index, scorers: dict[str, Scorer], limits: Limits, policy: str, Item, Batch) -> None:
    """The API: /score (POST, and GET for one item), /lookup, /evidence, /top, /healthz, and the page at /
    (Item and Batch are the request models sized by `limits`)."""
    from fastapi import HTTPException, Query, Request
    from fastapi.responses import Response

    def scorer_for(policy_name: str) -> Scorer:
        if policy_name not in scorers:
            raise HTTPException(422, f"unknown or unavailable policy {policy_name!r}; available: {', '.join(scorers)}")
        return scorers[policy_name]

    def scored(policy_name: str, items: list, single: bool, request: Request) -> Response:
        s = scorer_for(policy_name)
        deadline = time.monotonic() + limits.request_seconds
        cancel = getattr(request.state, "cancel", threading.Event())
        try:
            status, body = score_reply(s, [i.question for i in items], [i.answer for i in items], single, limits,
                                       lambda: cancel.is_set() or time.monotonic() > deadline)
        except RequestCancelled:
            raise HTTPException(503, f"request not answered within {limits.request_seconds:g} s") from None
        if status != 200:
            raise HTTPException(status, body)
        return Response(body, media_type="application/json")

    @app.post("/score")
    def score(payload: Item | Batch, request: Request, policy: str = Query(policy)) -> Response:
        """One {question, answer} or {items: [...]}; returns a report or a list of reports."""
        batch = isinstance(payload, Batch)
        return scored(policy, payload.items if batch else [payload], not batch, request)

    @app.get("/score")
    def score_one(request: Request, question: str = Query(max_length=limits.max_text_chars),
                  answer: str | None = Query(None, max_length=limits.max_text_chars),
                  policy: str = Query(policy)) -> Response:
        """The report of one question and answer, as POST /score gives it: a link to a report."""
        return scored(policy, [Item(question=question, answer=answer)], True, request)

    _add_page(app)
    _add_lookups(app, index, scorers, limits, policy)


def _add_lookups(app, index: Index, scorers: dict[str, Scorer], limits: Limits, policy: str) -> None:
    """The read-only lookups: /lookup, /evidence, /top, /healthz."""
    from fastapi import HTTPException, Query

    @app.get("/lookup")
    def lookup_entities(entity: str = Query(max_length=1000), entity2: str | None = Query(None, max_length=1000)) -> dict:
        return lookup(index, entity, entity2)

    @app.get("/evidence")
    def evidence(name: list[str] = Query(min_length=1, max_length=8), window: int | None = Query(None, ge=0),  # noqa: B008
                 limit: int = Query(10, ge=1, le=100)) -> dict:
        """The documents where all the names occur (?name=A&name=B), with snippets; window: words apart."""
        if any(len(n) > 1000 for n in name):
            raise HTTPException(422, "a name is longer than 1000 characters")
        if not index.has_evidence:
            raise HTTPException(404, "this index has no evidence store (built with --no-evidence)")
        return index.evidence(name, window, limit).to_dict()

    @app.get("/top")
    def top(name: str = Query(max_length=1000), k: int = Query(10, ge=1, le=100),
            min_docs: int = Query(1, ge=1)) -> dict:
        """The names co-occurring most with `name`, by documents and by NPMI (as `cooc top --json`)."""
        return top_report(index, name, k, min_docs)

    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok", "documents": index.documents, "names": index.n_names, "window": index.window,
                "evidence": index.has_evidence, "policies": list(scorers), "policy": policy,
                "limits": asdict(limits)}


def _add_page(app) -> None:
    """The risk explorer at / (scorer/explorer.html, package data): one file, no external assets. Its
    Content-Security-Policy admits only its own inline script and style (by hash) and requests to this server."""
    from fastapi.responses import HTMLResponse

    page = (resources.files("cooc.scorer") / PAGE).read_text(encoding="utf-8")
    headers = {"Content-Security-Policy": page_policy(page), "X-Content-Type-Options": "nosniff",
               "Referrer-Policy": "no-referrer", "Cache-Control": "no-cache"}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def explorer() -> HTMLResponse:
        return HTMLResponse(page, headers=headers)


def page_policy(page: str) -> str:
    """A CSP naming the SHA-256 of each inline <script> and <style> of `page`: nothing else runs or styles it."""
    def hashes(tag: str) -> str:
        bodies = re.findall(rf"<{tag}>(.*?)</{tag}>", page, flags=re.S)
        return " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(b.encode()).digest()).decode()}'" for b in bodies)

    return (f"default-src 'none'; script-src {hashes('script')}; style-src {hashes('style')}; connect-src 'self'; "
            "img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def _timed_protocol(header_seconds: float):
    """uvicorn's h11 protocol, closing a connection that has sent no whole request head within
    `header_seconds` (slowloris, or a socket that sends nothing) or has idled that long."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class TimedH11Protocol(H11Protocol):
        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._idle_since = self.loop.time()
            self._watch = self.loop.call_later(header_seconds / 4, self._check_idle)

        def _check_idle(self) -> None:
            if self.transport.is_closing():
                return
            now = self.loop.time()
            if self.cycle is not None and not self.cycle.response_complete:
                self._idle_since = now  # a request is being answered: the request time limit applies
            elif now - self._idle_since > header_seconds:
                self.transport.close()
                return
            self._watch = self.loop.call_later(header_seconds / 4, self._check_idle)

        def on_response_complete(self) -> None:
            self._idle_since = self.loop.time()
            super().on_response_complete()

        def connection_lost(self, exc) -> None:
            self._watch.cancel()
            super().connection_lost(exc)

    return TimedH11Protocol


def bind(host: str, port: int) -> socket.socket:
    """A bound socket (not yet listening), or a one-line CoocError (a port in use, an unknown address)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise CoocError(f"{host}:{port} is already in use (another cooc serve?); stop it or pick another "
                            "--port") from None
        raise CoocError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; check --host and --port") from None
    return sock


def make_server(index_path: Path, host: str = "127.0.0.1", port: int = 8000, policy: str = "graded",
                limits: Limits | None = None):
    """(uvicorn server, its listening socket): `server.run(sockets=[sock])` serves, in any thread, until
    `server.should_exit` is set."""
    _, uvicorn = _require()
    limits = limits or Limits()
    sock = bind(host, port)  # first: a port in use fails before the index is opened
    try:
        app = create_app(index_path, policy, limits)
    except BaseException:
        sock.close()
        raise
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_keep_alive=5,
                                           http=_timed_protocol(limits.header_seconds)))
    sock.listen(2048)  # only now: until the app is ready, a client is refused (and retries), not left hanging
    return server, sock


def serve(index_path: Path, host: str = "127.0.0.1", port: int = 8000, policy: str = "graded",
          limits: Limits | None = None, announce: Callable[[str], None] | None = None) -> None:
    """Serve until interrupted; `announce` gets one line saying where it listens, once it does."""
    server, sock = make_server(index_path, host, port, policy, limits)
    if announce is not None:
        bound = sock.getsockname()[1]
        where = f"[{host}]" if ":" in host else host
        announce(f"cooc serve: {index_path} on http://{where}:{bound} (the risk explorer page at /; POST /score, "
                 "GET /score, /lookup, /evidence, /top, /healthz, /openapi.json); press Ctrl+C to stop")
    server.run(sockets=[sock])

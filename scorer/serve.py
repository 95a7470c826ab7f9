"""`cooc serve`: the scorer over HTTP (FastAPI + uvicorn, extra `serve`) for non-Python callers.

The index is opened read-only once and shared by all requests. Requests are bounded:
body size (413), items per batch and characters per text (422), and time: a request not
answered within `request_seconds` (a client that stalls while sending its body, or work
that runs too long) gets 503. Errors come back as JSON `{"detail": ...}` without stack
traces. Binds to loopback unless told otherwise.
"""

import asyncio
from dataclasses import asdict, dataclass
from pathlib import Path

from cooc.indexer.errors import CoocError

from .index import Index, lookup
from .policy import POLICIES
from .scorer import Scorer


@dataclass
class Limits:
    max_body_bytes: int = 1 << 20
    max_items: int = 1000
    max_text_chars: int = 20_000
    request_seconds: float = 10.0  # whole request, body upload included


def _require():
    try:
        import fastapi
        import uvicorn
    except ImportError:
        raise CoocError("cooc serve needs FastAPI and uvicorn: pip install 'cooc[serve]'") from None
    return fastapi, uvicorn


def create_app(index_path: Path, policy: str = "graded", limits: Limits | None = None):
    fastapi, _ = _require()
    from fastapi import FastAPI, HTTPException, Query, Request
    from fastapi.responses import JSONResponse
    from pydantic import BaseModel, Field

    limits = limits or Limits()
    index = Index.open(index_path)
    scorers = {p: Scorer(index, p) for p in POLICIES if p != "calibrated" or (Path(index_path) / "calibration.json").is_file()}
    scorers["graded"].score("Warm up?", "Warm Up")  # imports and compiled kernels: not in the first request's time
    app = FastAPI(title="cooc", description="Corpus co-occurrence hallucination risk. risk in [0, 1], higher = "
                  "less supported by the corpus; confidence = 1 - risk.", version=index.manifest.get("cooc_version", ""))

    class Item(BaseModel):
        question: str = Field(max_length=limits.max_text_chars)
        answer: str | None = Field(default=None, max_length=limits.max_text_chars)

    class Batch(BaseModel):
        items: list[Item] = Field(max_length=limits.max_items)

    @app.middleware("http")
    async def bounded(request: Request, call_next):
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limits.max_body_bytes:
            return JSONResponse({"detail": f"request body over {limits.max_body_bytes} bytes"}, status_code=413)

        async def handle():
            if length is None and request.method == "POST":
                body = b""
                async for chunk in request.stream():
                    body += chunk
                    if len(body) > limits.max_body_bytes:
                        return JSONResponse({"detail": f"request body over {limits.max_body_bytes} bytes"},
                                            status_code=413)
                request._body = body
            return await call_next(request)

        try:
            return await asyncio.wait_for(handle(), limits.request_seconds)
        except TimeoutError:
            return JSONResponse({"detail": f"request not answered within {limits.request_seconds:g} s"},
                                status_code=503)

    @app.exception_handler(Exception)
    async def no_traces(request: Request, exc: Exception):
        return JSONResponse({"detail": f"internal error: {type(exc).__name__}"}, status_code=500)

    def scorer_for(policy_name: str) -> Scorer:
        if policy_name not in scorers:
            raise HTTPException(422, f"unknown or unavailable policy {policy_name!r}; available: {', '.join(scorers)}")
        return scorers[policy_name]

    @app.post("/score")
    def score(payload: Item | Batch, policy: str = Query(policy)) -> dict | list[dict]:
        """One {question, answer} or {items: [...]}; returns a report or a list of reports."""
        s = scorer_for(policy)
        if isinstance(payload, Batch):
            return [r.to_dict() for r in s.score_many([i.question for i in payload.items],
                                                       [i.answer for i in payload.items])]
        return s.score(payload.question, payload.answer).to_dict()

    @app.get("/lookup")
    def lookup_entities(entity: str = Query(max_length=1000), entity2: str | None = Query(None, max_length=1000)) -> dict:
        return lookup(index, entity, entity2)

    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok", "documents": index.documents, "names": index.n_names,
                "policies": list(scorers), "limits": asdict(limits)}

    return app


def serve(index_path: Path, host: str = "127.0.0.1", port: int = 8000, policy: str = "graded",
          limits: Limits | None = None) -> None:
    _, uvicorn = _require()
    app = create_app(index_path, policy, limits)
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_keep_alive=5, limit_concurrency=64)

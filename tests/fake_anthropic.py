"""A fake Anthropic Messages API on 127.0.0.1, for tests that drive the real `anthropic` SDK.

    from fake_anthropic import FakeAnthropic, Fault, routed_responder

    with FakeAnthropic(routed_responder({"make_plan": {"steps": []}}, default="ok")) as fake:
        sampler = AnthropicSampler(api_key="test", base_url=fake.base_url)
        fake.faults.append(Fault.overloaded())      # the next request gets a 529
        ...
        fake.requests[-1]["messages"]                # every JSON body received, in order

A responder is `(request_json) -> reply`. A reply is:

- a `str`: the answer text;
- any other JSON-able value (dict, list, number, bool): a structured answer, sent back as JSON text
  when the request asked for `output_config.format` (or nothing), or as a `tool_use` block when it
  sent `tools` (a non-object answer goes out as `{"value": answer}`, the sampler's wrapping);
- a `Reply`, to set text / structured answer / stop reason / usage explicitly.

Usage is plausible: tokens are len(text)/4 (a PDF `document` block: `PDF_PAGE_TOKENS` a page), and
prompt caching is emulated: a prefix ending in a
`cache_control` block that was sent before (same model, identical content) is reported as
`cache_read_input_tokens`, a new one as `cache_creation_input_tokens`. Document blocks are checked
like the API checks them (base64 source, `application/pdf`, bytes that open as a PDF) and recorded in
`fake.documents` (media type, pages, sha256, whether the block carried `cache_control`). An answer longer than
`max_tokens` is cut there with `stop_reason: "max_tokens"`, like the real API. A request with
`stream: true` is answered with server-sent events (message_start, content block deltas,
message_delta, message_stop), as the real API streams.

The stdlib HTTP server runs in a daemon thread; nothing here needs a network or a key.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import math
import re
import socket
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

_UNSET: Any = object()
# What the fake bills a PDF page read as a document block (the real API: 1,500-3,000 text tokens a page).
PDF_PAGE_TOKENS = 1_500


@dataclass
class Reply:
    """An explicit answer. `structured` wins over `text` when both are given."""

    text: str = ""
    structured: Any = _UNSET
    stop_reason: str = "end_turn"
    usage: dict[str, int] | None = None  # overrides the computed usage fields given here
    model: str | None = None  # the model id to echo; default: the request's


Responder = Callable[[dict[str, Any]], Any]


@dataclass
class Fault:
    """What to do to one request instead of (or before) answering it normally."""

    kind: str  # "status" | "drop" | "slow" | "truncate" | "cut_stream"
    status: int = 0
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0

    @classmethod
    def error(cls, status: int, type: str, message: str, headers: Mapping[str, str] | None = None) -> Fault:
        body = {"type": "error", "error": {"type": type, "message": message}}
        return cls("status", status=status, body=body, headers=dict(headers or {}))

    @classmethod
    def rate_limit(cls, retry_after: float | None = 1.0, retry_after_ms: float | None = None) -> Fault:
        headers: dict[str, str] = {}
        if retry_after is not None:
            headers["retry-after"] = f"{retry_after:g}"
        if retry_after_ms is not None:
            headers["retry-after-ms"] = f"{retry_after_ms:g}"
        return cls.error(
            429, "rate_limit_error", "Number of request tokens has exceeded your rate limit.", headers
        )

    @classmethod
    def overloaded(cls) -> Fault:
        return cls.error(529, "overloaded_error", "Overloaded")

    @classmethod
    def server_error(cls, status: int = 500) -> Fault:
        return cls.error(status, "api_error", "Internal server error")

    @classmethod
    def unauthorized(cls) -> Fault:
        return cls.error(401, "authentication_error", "invalid x-api-key")

    @classmethod
    def drop(cls) -> Fault:
        """Close the connection without sending a response."""
        return cls("drop")

    @classmethod
    def slow(cls, seconds: float) -> Fault:
        """Answer normally, but only after `seconds` (past a short client timeout)."""
        return cls("slow", delay=seconds)

    @classmethod
    def truncate(cls) -> Fault:
        """Answer with half the text and `stop_reason: "max_tokens"`, whatever max_tokens was."""
        return cls("truncate")

    @classmethod
    def cut_stream(cls) -> Fault:
        """A streamed answer whose connection drops half-way through (non-streamed: answered normally)."""
        return cls("cut_stream")

    @classmethod
    def custom(cls, status: int, body: Any, headers: Mapping[str, str] | None = None) -> Fault:
        """Any status and body: a dict/list goes out as JSON, str/bytes as they are."""
        return cls("status", status=status, body=body, headers=dict(headers or {}))


class FakeAnthropic:
    """The fake server; use as a context manager (or the `fake_anthropic` fixture)."""

    def __init__(self, responder: Responder | None = None, *, min_cache_tokens: int = 0) -> None:
        self.responder: Responder = responder or echo_responder
        self.min_cache_tokens = min_cache_tokens  # the real API caches only prefixes above a minimum
        self.requests: list[dict[str, Any]] = []  # every /v1/messages body received, faulted ones too
        self.headers: list[dict[str, str]] = []  # their HTTP headers, lower-cased names
        self.documents: list[dict[str, Any]] = []  # every valid document block received, in order
        self.faults: deque[Fault] = deque()  # consumed one per /v1/messages request, oldest first
        self.streamed = 0  # how many answers went out as server-sent events (requests with stream=true)
        self._cached: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ids = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None, "FakeAnthropic is not running; use it as a context manager"
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}"

    def fail_next(self, *faults: Fault) -> None:
        self.faults.extend(faults)

    def clear_cache(self) -> None:
        """Forget cached prefixes, as if the 5-minute cache had expired."""
        with self._lock:
            self._cached.clear()

    def __enter__(self) -> FakeAnthropic:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.block_on_close = False  # a handler stuck in a slow fault must not hold up the test
        server.fake = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()  # wakes handlers sleeping in a slow fault
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # --- request handling (runs in server threads) ---

    def _next_fault(self) -> Fault | None:
        with self._lock:
            return self.faults.popleft() if self.faults else None

    def _record(self, body: dict[str, Any], headers: dict[str, str]) -> None:
        docs: list[dict[str, Any]] = []
        for message in body.get("messages") or []:
            for block in message.get("content") or []:
                if isinstance(block, dict) and block.get("type") == "document":
                    try:
                        docs.append(_document(block))
                    except ValueError:
                        pass  # rejected with a 400 by _invalid
        with self._lock:
            self.requests.append(body)
            self.headers.append(headers)
            self.documents.extend(docs)

    def _answer(self, body: dict[str, Any], *, truncate: bool = False) -> dict[str, Any]:
        reply = self.responder(body)
        if not isinstance(reply, Reply):
            reply = Reply(text=reply) if isinstance(reply, str) else Reply(structured=reply)
        model = reply.model or body.get("model", "claude-fake")
        max_tokens = int(body.get("max_tokens", 0))
        tools = body.get("tools") or []
        stop = reply.stop_reason

        block: dict[str, Any]
        if reply.structured is not _UNSET and tools:
            name = (body.get("tool_choice") or {}).get("name") or tools[0]["name"]
            data = reply.structured if isinstance(reply.structured, dict) else {"value": reply.structured}
            block = {"type": "tool_use", "id": f"toolu_fake_{next(self._ids)}", "name": name, "input": data}
            out_tokens = _tokens(json.dumps(data))
            if truncate or out_tokens > max_tokens:
                # A cut tool call comes back with whatever input was complete: here, none.
                block["input"], out_tokens, stop = {}, max_tokens, "max_tokens"
            elif stop == "end_turn":
                stop = "tool_use"
        else:
            text = reply.text if reply.structured is _UNSET else json.dumps(reply.structured)
            out_tokens = _tokens(text)
            if truncate or out_tokens > max_tokens:
                keep = min(len(text) // 2, max_tokens * 4) if truncate else max_tokens * 4
                text, out_tokens, stop = text[:keep], min(out_tokens, max_tokens), "max_tokens"
            block = {"type": "text", "text": text}

        usage = self._usage(body, model)
        usage["output_tokens"] = out_tokens
        usage.update(reply.usage or {})
        return {
            "id": f"msg_fake_{next(self._ids):06d}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [block],
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": usage,
        }

    def _usage(self, body: dict[str, Any], model: str) -> dict[str, Any]:
        """Input tokens split into uncached / cache write / cache read, as the real API reports them."""
        digest = hashlib.sha256(model.encode())
        total = 0
        breakpoints: list[tuple[int, str]] = []  # (tokens up to and including the block, prefix key)
        for text, is_breakpoint, tokens in _segments(body):
            digest.update(text.encode())
            total += tokens
            if is_breakpoint:
                breakpoints.append((total, digest.hexdigest()))
        read = write = 0
        if breakpoints and breakpoints[-1][0] >= self.min_cache_tokens:
            with self._lock:
                hits = [upto for upto, key in breakpoints if key in self._cached]
                read = max(hits, default=0)
                write = breakpoints[-1][0] - read
                self._cached.update(key for _, key in breakpoints)
        return {
            "input_tokens": total - read - write,
            "output_tokens": 0,
            "cache_creation_input_tokens": write,
            "cache_read_input_tokens": read,
            "cache_creation": {"ephemeral_5m_input_tokens": write, "ephemeral_1h_input_tokens": 0},
            "service_tier": "standard",
        }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's connection pool expects

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    @property
    def fake(self) -> FakeAnthropic:
        return self.server.fake  # type: ignore[attr-defined,no-any-return]

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._send_error(400, "invalid_request_error", "request body is not valid JSON")
            return
        path = self.path.split("?", 1)[0]
        if path == "/v1/messages/count_tokens":
            self._send_json(200, {"input_tokens": sum(n for _, _, n in _segments(body))})
            return
        if path != "/v1/messages":
            self._send_error(404, "not_found_error", f"no route {path}")
            return

        self.fake._record(body, {k.lower(): v for k, v in self.headers.items()})
        fault = self.fake._next_fault()
        if fault is not None and fault.kind == "drop":
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if fault is not None and fault.kind == "status":
            self._send(fault.status, fault.body, fault.headers)
            return
        if fault is not None and fault.kind == "slow" and self.fake._stop.wait(fault.delay):
            return  # the server is shutting down

        problem = _invalid(body)
        if problem:
            self._send_error(400, "invalid_request_error", problem)
            return
        try:
            answer = self.fake._answer(body, truncate=fault is not None and fault.kind == "truncate")
        except Exception as err:  # a broken responder must fail the test visibly, not hang the client
            self._send_error(500, "api_error", f"fake responder raised {type(err).__name__}: {err}")
            return
        if body.get("stream"):
            self.fake.streamed += 1
            self._send_stream(answer, cut=fault is not None and fault.kind == "cut_stream")
            return
        self._send_json(200, answer)

    def _send_stream(self, message: dict[str, Any], *, cut: bool = False) -> None:
        """The answer as the real API streams it (server-sent events); `cut` drops the connection
        half-way through the content, as a network failure mid-answer would."""
        usage = dict(message["usage"])
        start = {**message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
        events: list[tuple[str, dict[str, Any]]] = [
            ("message_start", {"type": "message_start", "message": start})
        ]
        for index, block in enumerate(message["content"]):
            if block["type"] == "text":
                text = block["text"]
                events.append(
                    (
                        "content_block_start",
                        {
                            "type": "content_block_start",
                            "index": index,
                            "content_block": {"type": "text", "text": ""},
                        },
                    )
                )
                pieces = [text[i : i + 64] for i in range(0, len(text), 64)] or [""]
                for piece in pieces:
                    delta = {"type": "text_delta", "text": piece}
                    events.append(
                        (
                            "content_block_delta",
                            {"type": "content_block_delta", "index": index, "delta": delta},
                        )
                    )
            else:  # tool_use: its input arrives as partial JSON
                head = {**block, "input": {}}
                events.append(
                    (
                        "content_block_start",
                        {"type": "content_block_start", "index": index, "content_block": head},
                    )
                )
                raw = json.dumps(block["input"])
                for i in range(0, len(raw), 64):
                    delta = {"type": "input_json_delta", "partial_json": raw[i : i + 64]}
                    events.append(
                        (
                            "content_block_delta",
                            {"type": "content_block_delta", "index": index, "delta": delta},
                        )
                    )
            events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        events.append(
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                    "usage": {"output_tokens": usage["output_tokens"]},
                },
            )
        )
        events.append(("message_stop", {"type": "message_stop"}))
        if cut:
            events = events[: max(2, len(events) // 2)]
        try:
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("cache-control", "no-cache")
            self.send_header("connection", "close")
            self.send_header("request-id", f"req_fake_{next(self.fake._ids):06d}")
            self.end_headers()
            for name, data in events:
                self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
                self.wfile.flush()
            self.close_connection = True
            if cut:
                self.connection.shutdown(socket.SHUT_RDWR)
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass

    def _send_error(self, status: int, type: str, message: str) -> None:
        self._send_json(status, {"type": "error", "error": {"type": type, "message": message}})

    def _send_json(self, status: int, payload: Any) -> None:
        self._send(status, payload, {})

    def _send(self, status: int, payload: Any, headers: Mapping[str, str]) -> None:
        if isinstance(payload, bytes):
            data, ctype = payload, "application/octet-stream"
        elif isinstance(payload, str):
            data, ctype = payload.encode(), "text/plain"
        else:
            data, ctype = json.dumps(payload).encode(), "application/json"
        try:
            self.send_response(status)
            self.send_header("content-type", ctype)
            self.send_header("content-length", str(len(data)))
            self.send_header("request-id", f"req_fake_{next(self.fake._ids):06d}")
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (e.g. its timeout fired during a slow fault)


def _invalid(body: dict[str, Any]) -> str:
    """The checks the real API makes that a sampler bug could trip."""
    for key in ("model", "max_tokens", "messages"):
        if key not in body:
            return f"{key}: Field required"
    if not body["messages"] or body["messages"][0].get("role") != "user":
        return "messages: the first message must use the user role"
    for message in body["messages"]:
        content = message.get("content")
        blocks = [content] if isinstance(content, str) else content or []
        for block in blocks:
            if isinstance(block, dict) and block.get("type") == "document":
                if message.get("role") != "user":
                    return "messages: document blocks are only allowed in user messages"
                try:
                    _document(block)
                except ValueError as err:
                    return f"messages: {err}"
                continue
            text = block if isinstance(block, str) else block.get("text", None)
            if isinstance(text, str) and not text:
                return "messages: text content blocks must be non-empty"
    return ""


def _tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


def _segments(body: Mapping[str, Any]) -> list[tuple[str, bool, int]]:
    """The prompt in the order the API caches it (tools, system, messages): (text, cache_control, tokens).

    A document block's text is a digest of its bytes (what caching compares), billed per page."""
    out: list[tuple[str, bool, int]] = []
    fmt = (body.get("output_config") or {}).get("format")
    if fmt:
        out.append(_seg(json.dumps(fmt, sort_keys=True), False))
    for tool in body.get("tools") or []:
        out.append(_seg(json.dumps(tool, sort_keys=True), bool(tool.get("cache_control"))))
    system = body.get("system")
    if isinstance(system, str):
        out.append(_seg(system, False))
    elif isinstance(system, list):
        out.extend(_seg(b.get("text", ""), bool(b.get("cache_control"))) for b in system)
    for message in body.get("messages") or []:
        content = message.get("content")
        if isinstance(content, str):
            out.append(_seg(content, False))
            continue
        for block in content or []:
            if block.get("type") == "document":
                doc = _document(block)
                marker = f"[document {doc['media_type']} sha256={doc['sha256']} pages={doc['pages']}]"
                out.append((marker, bool(block.get("cache_control")), doc["pages"] * PDF_PAGE_TOKENS))
                continue
            text = block.get("text") if block.get("type") == "text" else json.dumps(block, sort_keys=True)
            out.append(_seg(text or "", bool(block.get("cache_control"))))
    return out


def _seg(text: str, breakpoint: bool) -> tuple[str, bool, int]:
    return text, breakpoint, _tokens(text)


def _document(block: Mapping[str, Any]) -> dict[str, Any]:
    """A document block's facts; ValueError with the API's kind of message when it is not a usable PDF."""
    import pymupdf

    source = block.get("source") or {}
    if source.get("type") != "base64":
        raise ValueError(f"document source type {source.get('type')!r} is not supported by the fake")
    if source.get("media_type") != "application/pdf":
        raise ValueError(f"document media_type {source.get('media_type')!r}: only application/pdf")
    try:
        data = base64.b64decode(source.get("data") or "", validate=True)
    except (ValueError, TypeError) as err:
        raise ValueError(f"document data is not valid base64: {err}") from err
    if not data.startswith(b"%PDF"):
        raise ValueError("The PDF specified was not valid.")
    try:
        with pymupdf.open(stream=data, filetype="pdf") as pdf:
            pages = pdf.page_count
    except (RuntimeError, ValueError) as err:
        raise ValueError(f"The PDF specified was not valid: {err}") from err
    return {
        "media_type": "application/pdf",
        "pages": pages,
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        "title": block.get("title", ""),
        "cache_control": block.get("cache_control"),
    }


# --- responders ---


def request_text(body: Mapping[str, Any]) -> str:
    """System prompt and every message's text, in order: what a responder usually matches on."""
    return "\n\n".join(
        text for text, _, _ in _segments({**body, "tools": None, "output_config": None}) if text
    )


def last_user_text(body: Mapping[str, Any]) -> str:
    """The text of the last user message: the per-call prompt, or the latest correction."""
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            return "\n\n".join(b.get("text", "") for b in content or [] if b.get("type") == "text")
    return ""


def echo_responder(body: dict[str, Any]) -> Any:
    """Answers text with an echo, and a schema-constrained request with an empty object."""
    if (body.get("output_config") or {}).get("format") or body.get("tools"):
        return {}
    return f"echo: {last_user_text(body)[-200:]}"


def text_responder(fn: Callable[[str], Any]) -> Responder:
    """A responder from a function of the request's whole text (system + messages)."""
    return lambda body: fn(request_text(body))


def routed_responder(routes: Mapping[str, Any], default: Any = _UNSET) -> Responder:
    """Answer by the first route whose pattern (a regex; plain words work) matches the last user message,
    else the system prompt, else the whole request. A route's value is a reply, or a callable
    `(text) -> reply` given the whole request text. Without a match: `default`, or an AssertionError
    (sent back as HTTP 500) so a test notices an unexpected stage."""
    compiled = [(re.compile(pattern), value) for pattern, value in routes.items()]

    def respond(body: dict[str, Any]) -> Any:
        system = body.get("system")
        system_text = system if isinstance(system, str) else " ".join(b.get("text", "") for b in system or [])
        whole = request_text(body)
        for haystack in (last_user_text(body), system_text, whole):
            for pattern, value in compiled:
                if pattern.search(haystack):
                    return value(whole) if callable(value) else value
        if default is _UNSET:
            raise AssertionError(f"no route matches the request: {last_user_text(body)[:200]!r}")
        return default(whole) if callable(default) else default

    return respond


def scripted_responder(*replies: Any) -> Responder:
    """Replies in order, one per request that gets an answer; an AssertionError once they run out."""
    queue = deque(replies)
    lock = threading.Lock()

    def respond(body: dict[str, Any]) -> Any:
        with lock:
            if not queue:
                raise AssertionError("scripted_responder ran out of replies")
            return queue.popleft()

    return respond


@pytest.fixture
def fake_anthropic() -> Iterator[FakeAnthropic]:
    """A running fake with the echo responder; set `.responder` in the test to change the answers."""
    with FakeAnthropic() as fake:
        yield fake

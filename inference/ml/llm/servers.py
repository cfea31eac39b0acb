"""Local OpenAI-compatible servers for tests, benches and a one-machine deployment.

    with FakeLLMServer(latency=0.2) as server:        # in-process, stdlib only
        backend = OpenAICompatBackend(server.url, "fake")

    server = LlamaServer(model_path, port=8081)       # llama-cpp-python's own server
    server.start(); server.wait_ready(); ...; server.stop()

    python -m inference.ml.llm.servers fake --port 8090 --latency 0.2
    python -m inference.ml.llm.servers llama --model var/models/llm/x.gguf --port 8081

`FakeLLMServer` answers `/v1/chat/completions` after a fixed latency, many requests
at once (one thread each), with a JSON answer derived only from the prompt and the
requested schema: the same request always gets the same answer, so a concurrent run
can be compared with a sequential one without model noise. It can refuse response
formats (HTTP 400, as servers that do not know `json_schema` do) and fail its first
requests (HTTP 503) to exercise the client's fallbacks and retries.

`LlamaServer` runs `python -m llama_cpp.server` (the `server` extra of
llama-cpp-python: fastapi, uvicorn, sse-starlette, starlette-context,
pydantic-settings) on a GGUF file as a child process. That server evaluates one
request at a time (it holds one `Llama` behind a lock; it has no parallel slots), so
concurrency helps only by overlapping each request's HTTP and JSON work with the
next one's evaluation. Plain Python, no Django.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

# -- the fake server ---------------------------------------------------------------------


def fake_answer(messages: Sequence[dict[str, Any]], schema: dict[str, Any] | None) -> Any:
    """The fake server's answer: an instance of `schema` built from the last user
    message (a property is present when its name occurs in the text; a status is
    "negated" after "no <name>"; evidence is the sentence naming it). `{}` without a
    schema."""
    if not schema:
        return {}
    text = str(messages[-1].get("content", "")) if messages else ""
    return _instance(schema, text, "")


def _mentions(text: str, name: str) -> bool:
    lowered = text.lower()
    return any(part.strip() and part.strip() in lowered for part in name.lower().split("/"))


def _sentence(text: str, name: str) -> str:
    for sentence in re.split(r"(?<=[.!?])\s+|\n+", text):
        if _mentions(sentence, name):
            return sentence.strip()
    return ""


def _instance(schema: dict[str, Any], text: str, name: str) -> Any:
    kind = schema.get("type")
    if kind == "object":
        out: dict[str, Any] = {}
        required = set(schema.get("required", ()))
        for prop, sub in (schema.get("properties") or {}).items():
            # The top object is keyed by finding names; a finding's own fields
            # ("s", "l", "e") speak of the finding, not of themselves.
            subject = name or prop
            if prop in required or (not name and _mentions(text, prop)):
                out[prop] = _instance(sub, text, subject)
        return out
    if kind == "array":
        prefix = schema.get("prefixItems")
        if prefix:
            return [_instance(item, text, name) for item in prefix]
        items = schema.get("items") or {}
        limit = int(schema.get("maxItems", 3))
        if "enum" in items:
            picked = [v for v in items["enum"] if _mentions(text, str(v))][:limit]
            if not picked and schema.get("minItems", 0):
                picked = [items["enum"][0]]
            return picked
        return []
    if kind == "string":
        if "enum" in schema:
            options = list(schema["enum"])
            if "present" in options:
                negated = re.search(rf"\bno\s+{re.escape(name.lower())}", text.lower())
                return "negated" if negated and "negated" in options else "present"
            return next((o for o in options if _mentions(text, str(o))), options[0])
        return _sentence(text, name)[: int(schema.get("maxLength", 200))]
    if kind == "boolean":
        return True
    if kind in ("integer", "number"):
        return 0
    return None


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default listen backlog is 5: a client opening 16 connections at
    # once while the accept loop waits for the interpreter lock overflowed it, and the
    # dropped handshakes came back as resets a second later (measured: 3 of 96 requests,
    # each then retried after its backoff). Real servers listen with 128-2048.
    request_queue_size = 128


class FakeLLMServer:
    """A threaded OpenAI-compatible server on 127.0.0.1 (see the module docstring).

    `latency`: seconds each completion takes. `refuse_formats`: response_format
    types answered with `refuse_status` (400; llama-cpp-python's server answers 500)
    ("none" refuses requests without one). `fail_first`:
    how many completions answer HTTP 503 first. Counters: `requests` (completions
    answered, refusals included), `peak_in_flight`, `formats` (what each request sent).
    """

    def __init__(
        self,
        *,
        latency: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
        refuse_formats: Sequence[str] = (),
        fail_first: int = 0,
        refuse_status: int = 400,
        model: str = "fake-llm",
    ) -> None:
        self.latency = latency
        self.refuse_status = refuse_status
        self.refuse_formats = set(refuse_formats)
        self.fail_left = fail_first
        self.model = model
        self.requests = 0
        self.in_flight = 0
        self.peak_in_flight = 0
        self.formats: list[str] = []
        self._lock = threading.Lock()
        self._httpd = _HTTPServer((host, port), _handler(self))
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def start(self) -> FakeLLMServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="fake-llm", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def complete(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """The status and JSON answer to one /chat/completions request body."""
        response_format = body.get("response_format") or {}
        form = str(response_format.get("type", "none"))
        with self._lock:
            self.requests += 1
            self.formats.append(form)
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            failing = self.fail_left > 0
            self.fail_left -= int(failing)
        try:
            if self.latency:
                time.sleep(self.latency)
            if failing:
                return 503, {"error": {"message": "fake server: busy, try again"}}
            if form in self.refuse_formats:
                return self.refuse_status, {
                    "error": {"message": f"fake server: response_format {form} is not supported"}
                }
            if form == "json_schema":
                schema = (response_format.get("json_schema") or {}).get("schema")
            else:
                schema = response_format.get("schema")
            messages = body.get("messages") or []
            content = json.dumps(fake_answer(messages, schema), ensure_ascii=False)
            prompt_words = sum(len(str(m.get("content", "")).split()) for m in messages)
            return 200, {
                "id": "fake",
                "object": "chat.completion",
                "model": self.model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": prompt_words, "completion_tokens": len(content.split())},
            }
        finally:
            with self._lock:
                self.in_flight -= 1


def _handler(server: FakeLLMServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # TCP_NODELAY, as real servers set (uvicorn through asyncio, llama.cpp's server):
        # the headers and the body are two writes, and on a kept-alive connection
        # Nagle's algorithm holds the body until the client's delayed ACK (40 ms).
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            if self.path.rstrip("/") in ("/health", "/v1/models"):
                self._send(200, {"status": "ok", "data": [{"id": server.model, "object": "model"}]})
            else:
                self._send(404, {"error": {"message": "not found"}})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except json.JSONDecodeError:
                self._send(400, {"error": {"message": "the body is not JSON"}})
                return
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._send(404, {"error": {"message": "not found"}})
                return
            self._send(*server.complete(body))

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return  # quiet: tests and benches send thousands of requests

    return Handler


# -- llama-cpp-python's server -------------------------------------------------------------


def llama_server_available() -> str | None:
    """None when `python -m llama_cpp.server` can start here, else what is missing."""
    import importlib.util

    missing = [
        name
        for name in (
            "llama_cpp",
            "fastapi",
            "uvicorn",
            "sse_starlette",
            "starlette_context",
            "pydantic_settings",
        )
        if importlib.util.find_spec(name) is None
    ]
    if missing:
        return "missing packages: " + ", ".join(missing) + " (pip install -r requirements.txt)"
    return None


class LlamaServer:
    """`python -m llama_cpp.server` on a GGUF file as a child process (see the module
    docstring). `url` is its OpenAI base URL; `model` the name it answers to."""

    def __init__(
        self,
        model_path: str | Path,
        *,
        host: str = "127.0.0.1",
        port: int = 8081,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        n_batch: int = 512,
        model_alias: str = "local",
        python: str = sys.executable,
        log_path: str | Path | None = None,
    ) -> None:
        self.model_path = Path(model_path)
        self.host, self.port = host, port
        self.n_ctx, self.n_batch = n_ctx, n_batch
        self.n_threads = n_threads or max(1, (os.cpu_count() or 1) - 1)
        self.model = model_alias
        self.python = python
        self.log_path = Path(log_path) if log_path else None
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def command(self) -> list[str]:
        return [
            self.python,
            "-m",
            "llama_cpp.server",
            "--model",
            str(self.model_path),
            "--model_alias",
            self.model,
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--n_ctx",
            str(self.n_ctx),
            "--n_threads",
            str(self.n_threads),
            "--n_threads_batch",
            str(os.cpu_count() or 1),
            "--n_batch",
            str(self.n_batch),
            "--seed",
            "0",
        ]

    def start(self) -> LlamaServer:
        if not self.model_path.is_file():
            raise FileNotFoundError(f"GGUF model file not found: {self.model_path}")
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            self.command(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        return self

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Wait until /v1/models answers; RuntimeError if the process died or time ran out."""
        wait_for_server(self.url, timeout=timeout, process=self.process)

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=timeout)

    def __enter__(self) -> LlamaServer:
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_for_server(
    base_url: str, *, timeout: float = 120.0, process: subprocess.Popen[bytes] | None = None
) -> None:
    """Wait until `base_url`/models answers 200."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the LLM server exited with status {process.returncode}")
        try:
            with urllib.request.urlopen(base_url.rstrip("/") + "/models", timeout=5) as response:  # noqa: S310
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as exc:
            last = str(exc)
        time.sleep(0.25)
    raise RuntimeError(f"the LLM server at {base_url} did not answer within {timeout:g}s ({last})")


# -- command line ----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m inference.ml.llm.servers", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="kind", required=True)
    fake = sub.add_parser("fake", help="the fake server (fixed latency, answers derived from the prompt)")
    fake.add_argument("--host", default="127.0.0.1")
    fake.add_argument("--port", type=int, default=8090)
    fake.add_argument("--latency", type=float, default=0.2)
    llama = sub.add_parser("llama", help="llama-cpp-python's server on a GGUF file")
    llama.add_argument("--model", required=True)
    llama.add_argument("--host", default="127.0.0.1")
    llama.add_argument("--port", type=int, default=8081)
    llama.add_argument("--n-ctx", type=int, default=4096)
    llama.add_argument("--n-threads", type=int, default=0)
    args = parser.parse_args(argv)
    if args.kind == "fake":
        server = FakeLLMServer(latency=args.latency, host=args.host, port=args.port)
        print(f"fake LLM server at {server.url} ({args.latency:g}s per request)", flush=True)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        with contextlib.suppress(KeyboardInterrupt, SystemExit):
            server.serve_forever()
        return 0
    llama_server = LlamaServer(
        args.model, host=args.host, port=args.port, n_ctx=args.n_ctx, n_threads=args.n_threads or None
    )
    os.execv(llama_server.python, llama_server.command())  # noqa: S606 (replace this process)


if __name__ == "__main__":
    sys.exit(main())

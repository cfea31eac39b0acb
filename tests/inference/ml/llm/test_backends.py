import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from inference.ml.llm.backends import (
    FakeBackend,
    LlamaCppBackend,
    LLMBackend,
    LLMConfigError,
    LLMError,
    LLMUnavailable,
    OpenAICompatBackend,
    backend_from_config,
)


def test_missing_gguf_path_says_what_to_run(tmp_path):
    missing = tmp_path / "nope.gguf"
    with pytest.raises(LLMConfigError) as info:
        LlamaCppBackend(missing)
    assert str(missing) in str(info.value)
    assert "manage.py llm_install" in str(info.value)


def test_unreachable_server_raises_llm_unavailable_quickly():
    backend = OpenAICompatBackend("http://127.0.0.1:9/v1", "any", timeout=2, retries=1, backoff=0.05)
    started = time.perf_counter()
    with pytest.raises(LLMUnavailable, match=r"http://127\.0\.0\.1:9/v1/chat/completions.*2 tries"):
        backend.complete_json([{"role": "user", "content": "x"}], {"type": "object"}, 10)
    assert time.perf_counter() - started < 5


def test_bad_url_and_bad_config_are_config_errors():
    with pytest.raises(LLMConfigError, match="http"):
        OpenAICompatBackend("file:///etc/passwd", "m")
    with pytest.raises(LLMConfigError, match="base_url"):
        backend_from_config({"backend": "openai_compat", "model": "m"})
    with pytest.raises(LLMConfigError, match="unknown LLM backend"):
        backend_from_config({"backend": "magic"})


class _Server:
    """A tiny OpenAI-compatible server: answers from a list of (status, body)."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.requests = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers["Content-Length"])
                outer.requests.append((self.path, json.loads(self.rfile.read(length)), dict(self.headers)))
                status, body = outer.answers.pop(0)
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.httpd = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()


def _completion(text):
    return {
        "choices": [{"message": {"content": text}}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 3},
    }


def test_openai_compat_retries_transient_errors_and_sends_the_schema():
    server = _Server([(503, {"error": "loading"}), (200, _completion('{"a": 1}'))])
    try:
        backend = OpenAICompatBackend(server.url, "qwen", api_key="k", backoff=0.01)
        reply = backend.complete_json([{"role": "user", "content": "hi"}], {"type": "object"}, 50)
    finally:
        server.close()
    assert reply.parsed == {"a": 1} and reply.prompt_tokens == 12 and reply.completion_tokens == 3
    path, body, headers = server.requests[-1]
    assert path == "/v1/chat/completions"
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": {"type": "object"}},
    }
    assert body["temperature"] == 0 and body["max_tokens"] == 50
    assert headers["Authorization"] == "Bearer k"
    assert backend.info() == {
        "name": "qwen",
        "backend": "openai_compat",
        "context_size": None,
        "url": server.url + "/chat/completions",
        "response_format": "auto",
    }


def test_openai_compat_does_not_retry_a_client_error():
    server = _Server([(400, {"error": "bad schema"})])
    try:
        with pytest.raises(LLMError, match="HTTP 400") as info:
            backend = OpenAICompatBackend(server.url, "m", response_format="json_schema")
            backend.complete_json([{"role": "user", "content": "x"}], {}, 5)
    finally:
        server.close()
    assert not isinstance(info.value, LLMUnavailable)
    assert len(server.requests) == 1


def test_non_json_reply_is_returned_not_raised():
    server = _Server([(200, _completion("I think it is a nodule"))])
    try:
        reply = OpenAICompatBackend(server.url, "m").complete_json([{"role": "user", "content": "x"}], {}, 5)
    finally:
        server.close()
    assert reply.parsed is None and reply.text == "I think it is a nodule"


def test_fake_backend_matches_substrings_and_records_calls():
    fake = FakeBackend({"nodule": {"nodule": {"s": "present"}}}, default="{}")
    assert isinstance(fake, LLMBackend)
    assert fake.complete_json([{"role": "user", "content": "a nodule"}], {}, 9).parsed == {
        "nodule": {"s": "present"}
    }
    assert fake.complete_json([{"role": "user", "content": "other"}], {}, 9).text == "{}"
    assert len(fake.calls) == 2 and fake.calls[0][2] == 9
    with pytest.raises(LLMError, match="no recorded output"):
        FakeBackend({}).complete_json([{"role": "user", "content": "x"}], {}, 1)

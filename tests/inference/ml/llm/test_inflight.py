"""Requests in flight: bounded, results with their input index, failures stop the run;
the OpenAI-compatible backend against the fake server: concurrency, retries, the
per-call deadline and the response_format fallback."""

import threading
import time

import pytest

from inference.ml.llm.backends import LLMError, LLMTimeout, OpenAICompatBackend
from inference.ml.llm.inflight import in_flight, in_order
from inference.ml.llm.servers import FakeLLMServer, fake_answer

SCHEMA = {
    "type": "object",
    "properties": {
        "nodule": {
            "type": "object",
            "properties": {"s": {"type": "string", "enum": ["present", "negated"]}, "e": {"type": "string"}},
            "required": ["s", "e"],
        },
        "effusion": {
            "type": "object",
            "properties": {"s": {"type": "string", "enum": ["present", "negated"]}, "e": {"type": "string"}},
            "required": ["s", "e"],
        },
    },
    "required": [],
}
USER = [{"role": "user", "content": "8 mm nodule in the RUL. No effusion."}]


def test_every_item_comes_back_once_with_its_index():
    def work(x: int) -> int:
        time.sleep(0.001 * (x % 3))
        return x * x

    seen = [pair for batch in in_flight(work, range(25), max_in_flight=4) for pair in batch]
    assert sorted(seen) == [(i, i * i) for i in range(25)]


def test_no_more_than_max_in_flight_calls_run_at_once():
    running, peak, lock = [0], [0], threading.Lock()

    def work(x: int) -> int:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.02)
        with lock:
            running[0] -= 1
        return x

    list(in_flight(work, range(20), max_in_flight=5))
    assert peak[0] == 5


def test_items_are_read_only_as_slots_free_up():
    pulled = []

    def items():
        for i in range(100):
            pulled.append(i)
            yield i

    batches = in_flight(lambda x: x, items(), max_in_flight=3)
    first = next(batches)
    # What was handed back plus the window (3 in flight, 3 read ahead), not the whole input.
    assert len(pulled) <= len(first) + 6
    batches.close()


def test_one_in_flight_runs_in_the_calling_thread_in_order():
    threads = []
    out = list(in_flight(lambda x: threads.append(threading.get_ident()) or x, range(4), max_in_flight=1))
    assert out == [[(0, 0)], [(1, 1)], [(2, 2)], [(3, 3)]]
    assert set(threads) == {threading.get_ident()}


def test_a_failing_call_stops_the_run_and_is_raised():
    started = []

    def work(x: int) -> int:
        started.append(x)
        if x == 2:
            raise ValueError("boom")
        time.sleep(0.01)
        return x

    with pytest.raises(ValueError, match="boom"):
        list(in_flight(work, range(50), max_in_flight=3))
    assert len(started) < 10


def test_in_order_holds_early_finishers_back():
    batches = [[(2, "c")], [(0, "a")], [(3, "d"), (1, "b")]]
    assert list(in_order(batches)) == [(0, "a"), (1, "b"), (2, "c"), (3, "d")]


def test_max_in_flight_below_one_is_refused():
    with pytest.raises(ValueError):
        list(in_flight(lambda x: x, [1], max_in_flight=0))


def test_fake_answer_is_derived_from_the_prompt_and_valid():
    assert fake_answer(USER, SCHEMA) == {
        "nodule": {"s": "present", "e": "8 mm nodule in the RUL."},
        "effusion": {"s": "negated", "e": "No effusion."},
    }
    assert fake_answer(USER, None) == {}


def test_concurrent_calls_overlap_on_the_fake_server():
    with FakeLLMServer(latency=0.2) as server:
        backend = OpenAICompatBackend(server.url, "fake")
        started = time.perf_counter()
        replies = [
            reply
            for batch in in_flight(
                lambda _: backend.complete_json(USER, SCHEMA, 50), range(8), max_in_flight=8
            )
            for _, reply in batch
        ]
        elapsed = time.perf_counter() - started
    assert len(replies) == 8 and all(r.parsed == fake_answer(USER, SCHEMA) for r in replies)
    assert server.peak_in_flight == 8
    assert elapsed < 0.2 * 8 / 2  # sequential would take 1.6 s


def test_a_busy_server_is_retried():
    with FakeLLMServer(fail_first=2) as server:
        backend = OpenAICompatBackend(server.url, "fake", retries=2, backoff=0.01)
        reply = backend.complete_json(USER, SCHEMA, 50)
    assert reply.parsed == fake_answer(USER, SCHEMA) and server.requests == 3


def test_a_call_past_its_deadline_times_out():
    with FakeLLMServer(latency=1.0) as server:
        backend = OpenAICompatBackend(server.url, "fake", retries=0)
        started = time.perf_counter()
        with pytest.raises(LLMTimeout):
            backend.complete_json(USER, SCHEMA, 50, deadline=time.monotonic() + 0.2)
    assert time.perf_counter() - started < 0.9


def test_auto_response_format_falls_back_on_400_and_remembers():
    with FakeLLMServer(refuse_formats=["json_schema"]) as server:
        backend = OpenAICompatBackend(server.url, "fake")
        first = backend.complete_json(USER, SCHEMA, 50)
        second = backend.complete_json(USER, SCHEMA, 50)
    assert first.parsed == second.parsed == fake_answer(USER, SCHEMA)
    assert server.formats == ["json_schema", "json_object", "json_object"]
    assert backend.sent_format == "json_object"


def test_auto_response_format_ends_with_no_format():
    with FakeLLMServer(refuse_formats=["json_schema", "json_object"]) as server:
        backend = OpenAICompatBackend(server.url, "fake")
        reply = backend.complete_json(USER, SCHEMA, 50)
    assert server.formats == ["json_schema", "json_object", "none"]
    assert reply.parsed == {}  # without a schema the fake server answers {}


def test_a_400_on_every_form_raises_and_forgets_nothing():
    with FakeLLMServer(refuse_formats=["json_schema", "json_object", "none"]) as server:
        backend = OpenAICompatBackend(server.url, "fake")
        with pytest.raises(LLMError, match="HTTP 400"):
            backend.complete_json(USER, SCHEMA, 50)
    assert backend.sent_format == "json_schema"


def test_a_fixed_response_format_never_falls_back():
    with FakeLLMServer(refuse_formats=["json_schema"]) as server:
        backend = OpenAICompatBackend(server.url, "fake", response_format="json_schema")
        with pytest.raises(LLMError, match="HTTP 400"):
            backend.complete_json(USER, SCHEMA, 50)
    assert server.formats == ["json_schema"]


def test_auto_response_format_falls_back_on_an_error_naming_it():
    # llama-cpp-python's server answers json_schema with a 500 naming response_format.
    with FakeLLMServer(refuse_formats=["json_schema"], refuse_status=500) as server:
        backend = OpenAICompatBackend(server.url, "fake", backoff=0.01)
        reply = backend.complete_json(USER, SCHEMA, 50)
    assert server.formats == ["json_schema", "json_object"]
    assert reply.parsed == fake_answer(USER, SCHEMA)

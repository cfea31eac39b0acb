"""The backend's keep-alive pool: one connection carries many requests, a connection
the server closed while idle is sent again on a fresh one, and errors stay the socket's."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from inference.ml.llm.httppool import ConnectionPool


class _Server:
    """HTTP/1.1 echo server recording each request's client port (one per connection).
    `drop_after`: close the connection after this many answers on it, without saying so
    (what a server's idle keep-alive timeout looks like to the client)."""

    def __init__(self, drop_after=None):
        self.ports = []
        self.paths = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True
            answered = 0

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.ports.append(self.client_address[1])
                outer.paths.append(self.path)
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                self.answered += 1
                if drop_after is not None and self.answered >= drop_after:
                    self.close_connection = True

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/v1/chat/completions"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    server = _Server()
    yield server
    server.close()


def test_consecutive_posts_share_one_connection(server):
    pool = ConnectionPool(server.url)
    answers = [pool.post(f"{i}".encode(), {}, timeout=5) for i in range(5)]
    pool.close()
    assert answers == [(200, f"{i}".encode()) for i in range(5)]
    assert len(server.ports) == 5 and len(set(server.ports)) == 1


def test_threads_in_flight_each_hold_a_connection_and_keep_it(server):
    pool = ConnectionPool(server.url)
    barrier = threading.Barrier(4)

    def post_twice():
        barrier.wait()
        for _ in range(2):
            assert pool.post(b"x", {}, timeout=5) == (200, b"x")

    threads = [threading.Thread(target=post_twice) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    pool.close()
    assert len(server.ports) == 8 and len(set(server.ports)) <= 4


def test_a_connection_the_server_dropped_while_idle_is_sent_again_once():
    server = _Server(drop_after=1)
    try:
        pool = ConnectionPool(server.url)
        first = pool.post(b"a", {}, timeout=5)
        second = pool.post(b"b", {}, timeout=5)  # on the dropped connection first, then a new one
    finally:
        server.close()
    assert (first, second) == ((200, b"a"), (200, b"b"))
    assert len(server.ports) == 2 and len(set(server.ports)) == 2


def test_a_refused_connection_raises_the_socket_error():
    pool = ConnectionPool("http://127.0.0.1:9/v1/chat/completions")
    with pytest.raises(ConnectionRefusedError):
        pool.post(b"x", {}, timeout=2)


def test_a_forked_process_does_not_use_the_parents_connections(server, monkeypatch):
    pool = ConnectionPool(server.url)
    pool.post(b"parent", {}, timeout=5)
    monkeypatch.setattr("inference.ml.llm.httppool.os.getpid", lambda: -1)
    pool.post(b"child", {}, timeout=5)
    pool.post(b"child", {}, timeout=5)
    assert len(set(server.ports)) == 2 and server.ports[1] == server.ports[2]


def test_an_environment_proxy_is_asked_for_the_whole_url_unless_bypassed(server, monkeypatch):
    target = "http://127.0.0.1:9/v1/chat/completions"  # nothing listens there
    monkeypatch.setenv("http_proxy", server.url.rsplit("/v1", 1)[0])
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    assert ConnectionPool(target).post(b"x", {}, timeout=5) == (200, b"x")
    assert server.paths == [target]  # the proxy forwards it
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    with pytest.raises(ConnectionRefusedError):  # asked directly, not through the proxy
        ConnectionPool(target).post(b"x", {}, timeout=2)

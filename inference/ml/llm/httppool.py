"""Keep-alive HTTP POSTs to one server, shared by every thread of a backend.

    pool = ConnectionPool("http://gpu-host:8080/v1/chat/completions")
    status, body = pool.post(payload, headers, timeout=120)   # any thread
    pool.close()

A new TCP connection per request cost the in-flight window more than its own CPU:
on the fake server with 16 requests in flight, `connect` averaged 64 ms of wall time
per request under load (the server's single accept loop behind a listen backlog of
5, then one new server thread per connection), and a TLS server would add a
handshake per report. The pool keeps idle connections (LIFO) and hands each call
one, so 16 threads hold at most 16 connections for the whole run.

A reused connection the server has closed meanwhile (an idle keep-alive timeout)
fails before any answer: the request is sent again at once on a fresh connection,
which does not count as a retry (a completion at temperature 0 has no side effect).
A forked child (a Celery prefork worker of a parent that had posted) never uses the
parent's sockets: the pool notices the new process and starts empty. Proxies from
the environment (http_proxy, https_proxy, no_proxy) are honoured as urllib does.
Errors are the socket's and http.client's (OSError, HTTPException); statuses, 4xx
and 5xx included, are returned, not raised. Plain Python.
"""

from __future__ import annotations

import http.client
import os
import threading
import urllib.parse
import urllib.request
from collections.abc import Mapping

# Idle connections kept beyond this are closed (more threads than this can still post).
MAX_IDLE = 64
# What a reused connection raises when the server closed it while it sat idle.
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, ConnectionAbortedError)


class ConnectionPool:
    """Thread-safe keep-alive connections to the host of `url` (see the module docstring)."""

    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.url = url
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._path = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
        self._proxy = _proxy_for(url, parts.scheme)
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def post(self, body: bytes, headers: Mapping[str, str], *, timeout: float) -> tuple[int, bytes]:
        """(status, response body) of one POST to the pool's URL."""
        conn, reused = self._take(timeout)
        try:
            try:
                status, data = self._exchange(conn, body, headers)
            except _STALE:
                if not reused:
                    raise
                conn.close()  # closed by the server while idle: once more, on a fresh socket
                conn = self._connection(timeout)
                status, data = self._exchange(conn, body, headers)
        except BaseException:
            conn.close()
            raise
        self._give(conn)
        return status, data

    def close(self) -> None:
        """Close the idle connections; a later post opens new ones."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def _exchange(
        self, conn: http.client.HTTPConnection, body: bytes, headers: Mapping[str, str]
    ) -> tuple[int, bytes]:
        path = self.url if self._proxy is not None and not self._https else self._path
        conn.request("POST", path, body=body, headers=dict(headers))
        response = conn.getresponse()
        data = response.read()  # read whole, so the connection can carry the next request
        if response.will_close:
            conn.close()  # HTTP/1.0 or "Connection: close": http.client reconnects on next use
        return response.status, data

    def _take(self, timeout: float) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            if self._pid != os.getpid():
                # Forked: the idle sockets are the parent's too; forgotten, left to it.
                self._idle, self._pid = [], os.getpid()
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            return self._connection(timeout), False
        conn.timeout = timeout
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        return conn, conn.sock is not None

    def _give(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < MAX_IDLE:
                self._idle.append(conn)
                return
        conn.close()

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        if self._proxy is None:
            return kind(self._host, self._port, timeout=timeout)
        proxy_host, proxy_port = self._proxy
        if not self._https:
            return http.client.HTTPConnection(proxy_host, proxy_port, timeout=timeout)
        conn = http.client.HTTPSConnection(proxy_host, proxy_port, timeout=timeout)
        conn.set_tunnel(self._host, self._port)
        return conn


def _proxy_for(url: str, scheme: str) -> tuple[str, int | None] | None:
    """(host, port) of the environment's proxy for `url`, or None (urllib's rules)."""
    proxy = urllib.request.getproxies().get(scheme)
    host = urllib.parse.urlsplit(url).hostname or ""
    if not proxy or urllib.request.proxy_bypass(host):
        return None
    parts = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    return (parts.hostname, parts.port) if parts.hostname else None

"""An HTTPS front with Basic authentication for a plain-HTTP service on loopback (the test registry).

Apicurio's own authentication needs an OpenID provider; a registry behind a TLS-terminating, authenticating
proxy is also how many deployments look. With this in front of the real registry, a test proves that every
registry client lakegate creates checks the server certificate against ``registry_ca_file`` and sends the
credentials of ``registry_url``: without them it gets 401, which the client treats as an outage.
"""

from __future__ import annotations

import base64
import hmac
import http.server
import ssl
import threading
import urllib.error
import urllib.request
from types import TracebackType

from lakegate.testing.tls import TLSFiles

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "authorization"}


class BasicAuthTLSProxy:
    """``https://127.0.0.1:<port>`` → ``upstream`` (``http://127.0.0.1:<port>``), for one user."""

    def __init__(self, upstream: str, port: int, tls: TLSFiles, user: str, password: str) -> None:
        expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        self.refused = 0  # requests without the right credentials

        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _forward(self) -> None:
                if not hmac.compare_digest(self.headers.get("Authorization", ""), expected):
                    proxy.refused += 1
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="registry"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                request = urllib.request.Request(  # noqa: S310
                    upstream + self.path,
                    data=body,
                    headers=headers,
                    method=self.command,
                )
                try:
                    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 (loopback upstream)
                        status, payload, kind = answer.status, answer.read(), answer.headers.get("Content-Type")
                except urllib.error.HTTPError as err:
                    status, payload, kind = err.code, err.read(), err.headers.get("Content-Type")
                self.send_response(status)
                self.send_header("Content-Type", kind or "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _forward  # noqa: N815 (http.server's naming)

            def log_message(self, format: str, *args: object) -> None:
                pass  # quiet: the test asserts on outcomes, not access logs

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(tls.cert), str(tls.key))
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, name="tls-proxy", daemon=True)

    def __enter__(self) -> BasicAuthTLSProxy:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()

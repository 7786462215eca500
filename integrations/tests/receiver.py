"""A real HTTP receiver for event webhooks that checks every request's signature with the README's own
verification snippet (read from README.md and run), as an integrator would."""

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_verifier():
    """The verify function of the README's "Event webhooks" section, as integrators copy it."""
    text = README.read_text()
    section = text[text.index("## Event webhooks for integrators") :]
    snippet = re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)
    namespace: dict = {}
    exec(snippet, namespace)
    return namespace["verify_smscampaigns_webhook"]


class SignedReceiver:
    """Records each request with whether its signature held; answers from a script of statuses, then 200."""

    def __init__(self, secret: str = ""):
        self.secret = secret
        self.verify = readme_verifier()
        self.requests: list[dict] = []
        self.statuses: list[int] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    signed = receiver.verify(receiver.secret, body, self.headers)
                    status = (receiver.statuses.pop(0) if receiver.statuses else 200) if signed else 401
                    receiver.requests.append(
                        {"headers": dict(self.headers), "body": json.loads(body), "signed": signed, "answered": status}
                    )
                answer = b"ok" if status < 300 else b"no thanks"
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def bodies(self, *, answered: int | None = None) -> list[dict]:
        return [r["body"] for r in self.requests if answered is None or r["answered"] == answered]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

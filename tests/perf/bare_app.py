"""The benchmark's baseline: a bare ASGI app that answers "ok", on the site's server stack.

Served exactly as `python -m webapp serve` serves the site: the same uvicorn configuration
(webapp/server.py's `uvicorn_config`: httptools and uvloop, one process,
`server_header=False`, uvicorn's access log off, the same timeouts), lifespan on, the same
root logging set-up. It writes no access line (the site writes its own, and pays for it):
it is the fastest this stack answers. Only the application differs, so "site req/s / bare
req/s" is the share of the server's capacity that the site's own work leaves.

    .venv/bin/python tests/perf/bare_app.py [--host 127.0.0.1] [--port 8001]
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import uvicorn
from starlette.datastructures import Secret

from webapp.server import uvicorn_config
from webapp.settings import Settings

BODY = b"ok"
HEADERS = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"2")]


async def app(scope, receive, send) -> None:
    """200 "ok" (text/plain) for every HTTP request; completes the lifespan protocol."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    # Drain the request body (wrk's GETs have none; a POST's must be read, as the site does).
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False) and message["type"] == "http.request"
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


def main() -> int:
    """Serve the bare app with the site's uvicorn settings."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    # As webapp.cli.main does before serving.
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # The site's defaults: no FORWARDED_ALLOW_IPS (trust no proxy); nothing else is read.
    settings = Settings(database_path=Path("unused.db"), secret_keys=(Secret("x" * 32),))
    config = uvicorn_config(app, settings, host=args.host, port=args.port)
    uvicorn.Server(config).run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

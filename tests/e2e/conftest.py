"""End-to-end checks that need root and Debian's nginx: run by `make e2e-proxy` (which sets
E2E_PROXY=1 and installs nginx when missing), not by `make test`."""

from __future__ import annotations

import os

if not os.environ.get("E2E_PROXY"):
    collect_ignore_glob = ["test_*.py"]

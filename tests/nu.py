"""The Nu HTML checker (the W3C validator's engine) for the tests: one command, one reading."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest

from webapp.settings import ROOT

JAR = ROOT / ".cache/vnu/node_modules/vnu-jar/build/dist/vnu.jar"


def vnu_command() -> list[str]:
    """java -jar vnu.jar ... (make test installs it; fails, never skips, without it)."""
    jar = Path(os.environ.get("VNU_JAR", JAR))
    java = shutil.which("java")
    if not jar.is_file() or java is None:
        pytest.fail(
            "the Nu HTML checker needs Java and vnu.jar: run the tests with `make test`, "
            "which installs it (npm install vnu-jar), or set VNU_JAR"
        )
    return [java, "-jar", str(jar), "--format", "json", "--also-check-css"]


def nu_problems(pages: Mapping[str, str], folder: Path, timeout: float = 180) -> list[str]:
    """Every error and warning the checker finds in the pages (name -> HTML), one line each."""
    files = []
    for name, text in pages.items():
        path = folder / f"{name}.html"
        path.write_text(text, encoding="utf-8")
        files.append(str(path))
    result = subprocess.run(
        [*vnu_command(), *files], capture_output=True, text=True, timeout=timeout, check=False
    )
    messages = json.loads(result.stderr or "{}").get("messages", [])
    return [
        f"{Path(m.get('url', '')).name}:{m.get('lastLine')}: {m.get('type')}: {m.get('message')}"
        for m in messages
        if m.get("type") in ("error", "non-document-error")
        or (m.get("type") == "info" and m.get("subType") == "warning")
    ]

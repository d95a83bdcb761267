"""Static files with content-hashed URLs and a year's cache."""

from __future__ import annotations

import hashlib
from pathlib import Path

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "public, max-age=0, must-revalidate"


def file_versions(directory: Path) -> dict[str, str]:
    """Map each file under directory (POSIX relative path) to a short hash of its bytes."""
    versions = {}
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
            versions[path.relative_to(directory).as_posix()] = digest
    return versions


class VersionedStaticFiles(StaticFiles):
    """Serves static/; a URL carrying the file's current hash may be cached for a year."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory=directory)
        self.versions = file_versions(directory)

    def url_path(self, path: str) -> str:
        """The versioned URL path for a file under static/ (KeyError if it does not exist)."""
        return f"/static/{path}?v={self.versions[path]}"

    async def get_response(self, path: str, scope: Scope) -> Response:
        """Serve the file; immutable caching only when the URL names the current version."""
        response = await super().get_response(path, scope)
        if response.status_code in (200, 304):
            query = scope.get("query_string", b"").decode("latin-1")
            current = self.versions.get(path.replace("\\", "/"))
            fresh = current is not None and query == f"v={current}"
            response.headers["cache-control"] = IMMUTABLE if fresh else REVALIDATE
        return response

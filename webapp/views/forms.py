"""The one reader of submitted forms, with the one same-origin check for unsafe requests."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from urllib.parse import parse_qsl

from starlette.exceptions import HTTPException
from starlette.requests import Request

from webapp.security import is_cross_origin

FORM_TYPE = "application/x-www-form-urlencoded"
CROSS_ORIGIN = "This form can only be sent from the clinic's own website."
NOT_FORM = "Please send the form from the page (it must be form-encoded)."
UNREADABLE = "The form could not be read: it has too many fields or text that is not valid UTF-8."
UNKNOWN = "The form has a field it does not expect."
TWICE = "The form has a field more than once."
_CACHE_KEY = "webapp.form"


class Fields(Mapping[str, str]):
    """A submitted form: one value per name, or a list for names read as lists."""

    def __init__(self, single: dict[str, str], lists: dict[str, list[str]]) -> None:
        self._single = single
        self._lists = lists

    def __getitem__(self, name: str) -> str:
        return self._single[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._single)

    def __len__(self) -> int:
        return len(self._single)

    def getlist(self, name: str) -> list[str]:
        """Every value of a field read as a list (empty when absent)."""
        return list(self._lists.get(name, ()))


def check_same_origin(request: Request, base_url: str) -> None:
    """Refuse (403) an unsafe request that a browser says comes from another site."""
    if is_cross_origin(request, base_url):
        raise HTTPException(403, CROSS_ORIGIN)


async def read_form(
    request: Request,
    base_url: str,
    *,
    allowed: Collection[str] | None = None,
    lists: Collection[str] = (),
    max_fields: int = 20,
) -> Fields:
    """The submitted fields, strictly: same origin, form-encoded UTF-8, each name once.

    `allowed` (when given) refuses any other name; names in `lists` may repeat. The result
    is kept on the request, so a guard and a handler read the body once.
    """
    cached = request.scope.get(_CACHE_KEY)
    if isinstance(cached, Fields):
        return cached
    check_same_origin(request, base_url)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM_TYPE:
        raise HTTPException(415, NOT_FORM)
    body = await request.body()
    try:
        pairs = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            errors="strict",
            max_num_fields=max_fields,
        )
    except (UnicodeDecodeError, ValueError):
        raise HTTPException(400, UNREADABLE) from None
    single: dict[str, str] = {}
    found_lists: dict[str, list[str]] = {}
    for name, value in pairs:
        if allowed is not None and name not in allowed:
            raise HTTPException(400, UNKNOWN)
        if name in lists:
            found_lists.setdefault(name, []).append(value)
            continue
        if name in single:
            raise HTTPException(400, TWICE)
        single[name] = value
    fields = Fields(single, found_lists)
    request.scope[_CACHE_KEY] = fields
    return fields

"""The error box and the address are written once (templates/_macros.html) and used
everywhere: no template spells them out by hand, so their markup cannot drift apart."""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest

from webapp.settings import ROOT

TEMPLATES = ROOT / "templates"
MACROS = TEMPLATES / "_macros.html"
ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined
)


def templates() -> list[Path]:
    return sorted(p for p in TEMPLATES.rglob("*.html") if p != MACROS)


@pytest.mark.parametrize(("what", "markup"), [("error box", 'class="error-summary"'),
                                              ("address", "<address")])  # fmt: skip
def test_no_template_writes_a_shared_piece_by_hand(what, markup):
    by_hand = [str(p.relative_to(TEMPLATES)) for p in templates() if markup in p.read_text()]
    assert by_hand == [], f"use the {what} macro of _macros.html in {by_hand}"


def render(source: str, **values: object) -> str:
    head = '{% from "_macros.html" import error_box, call_us %}'
    return ENV.from_string(head + source).render(**values)


def test_the_error_box_takes_the_focus_and_says_its_message():
    assert render("{{ error_box('Wrong code.') }}") == (
        '<div class="error-summary" role="alert" tabindex="-1" autofocus><p>Wrong code.</p></div>'
    )


def test_the_error_box_holds_more_markup_after_its_title():
    page = render(
        "{% call error_box(title='Not sent', title_id='t') %}<p>Again soon.</p>{% endcall %}"
    )
    assert page == (
        '<div class="error-summary" role="alert" tabindex="-1" autofocus aria-labelledby="t">'
        '<p class="error-summary__title" id="t">Not sent</p><p>Again soon.</p></div>'
    )


def test_a_box_that_must_not_move_the_focus():
    page = render("{% call error_box(focus=false) %}<ul><li>x</li></ul>{% endcall %}")
    assert page == '<div class="error-summary" role="alert"><ul><li>x</li></ul></div>'


@pytest.mark.parametrize(
    ("phone", "expected"),
    [
        ("", ""),
        ("(518) 555-0100", '<p>Or call us at <a href="tel:+15185550100">(518) 555-0100</a>'
                           " during opening hours.</p>"),
    ],
)  # fmt: skip
def test_call_us_only_when_the_clinic_has_a_phone(phone, expected):
    clinic = {"phone": phone, "phone_href": "tel:+15185550100"}
    assert render("{{ call_us(clinic) }}", clinic=clinic) == expected

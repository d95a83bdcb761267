"""Structured data (JSON-LD) and the sitemap's entries."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import time
from typing import Any

from webapp.clinic import Clinic
from webapp.content import Article
from webapp.hours import DAY_KEYS, Override


def _hhmm(value: time) -> str:
    return value.strftime("%H:%M")


def clinic_jsonld(clinic: Clinic, base_url: str, closures: Iterable[Override]) -> dict[str, Any]:
    """schema.org MedicalClinic with weekly hours and the dated closures ahead."""
    groups: dict[tuple[str, str], list[str]] = {}
    for index, hours in enumerate(clinic.schedule.weekly):
        if hours is not None:
            key = (_hhmm(hours[0]), _hhmm(hours[1]))
            groups.setdefault(key, []).append(DAY_KEYS[index].capitalize())
    special = []
    for closure in closures:
        day = closure.day.isoformat()
        opens, closes = (
            (_hhmm(closure.opens), _hhmm(closure.closes))
            if closure.opens and closure.closes
            else ("00:00", "00:00")  # schema.org's way to say "closed all day"
        )
        special.append(
            {
                "@type": "OpeningHoursSpecification",
                "validFrom": day,
                "validThrough": day,
                "opens": opens,
                "closes": closes,
                "description": closure.reason,
            }
        )
    data: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "MedicalClinic",
        "@id": f"{base_url}/#clinic",
        "name": clinic.name,
        "description": clinic.description,
        "url": f"{base_url}/",
        "address": {
            "@type": "PostalAddress",
            "streetAddress": clinic.street,
            "addressLocality": clinic.locality,
            "addressRegion": clinic.region,
            "postalCode": clinic.postal_code,
            "addressCountry": clinic.country,
        },
        "medicalSpecialty": "Psychiatric",
        "availableService": {
            "@type": "MedicalTherapy",
            "name": "Ketamine infusion therapy for depression",
        },
        "openingHoursSpecification": [
            {"@type": "OpeningHoursSpecification", "dayOfWeek": days, "opens": o, "closes": c}
            for (o, c), days in groups.items()
        ],
    }
    if special:
        data["specialOpeningHoursSpecification"] = special
    if clinic.phone:
        data["telephone"] = clinic.phone
    if clinic.email:
        data["email"] = clinic.email
    return data


def article_jsonld(article: Article, url: str, base_url: str) -> dict[str, Any]:
    """schema.org MedicalWebPage for an article, with its review date."""
    return {
        "@context": "https://schema.org",
        "@type": "MedicalWebPage",
        "headline": article.title,
        "name": article.title,
        "description": article.description,
        "url": url,
        "inLanguage": "en-US",
        "datePublished": article.published.isoformat(),
        "lastReviewed": article.reviewed.isoformat(),
        "author": {"@type": "Organization", "name": article.author},
        "publisher": {"@id": f"{base_url}/#clinic"},
        "about": {"@type": "MedicalCondition", "name": "Depression"},
        "audience": {"@type": "PeopleAudience", "audienceType": "Patients and families"},
    }

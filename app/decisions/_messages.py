"""Messages of a decision: the customer's locale, placeholder values, rendering (private, pure).

The locale is the customer's own if the campaign has it, else one in the customer's
language (``fr-CH`` → ``fr`` or ``fr-FR``), else the campaign's default locale. The message
is rendered with :func:`app.templates.render_message`, which never yields a broken message:
when the chosen locale cannot be rendered, the default locale is tried; when neither can,
the campaign is out with ``template_error``.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from app.templates import TemplateProblem, render_message

if TYPE_CHECKING:
    from app.decisions._state import Contender, Situation
    from app.decisions.inputs import CampaignFacts

__all__ = ["MOMENT_WORDS", "choose_locale", "moment_words", "render_for"]

MOMENT_WORDS: dict[str, dict[str, str]] = {
    "en": {
        "first_visit_after_delayed_delivery": "your first visit since your delivery was late",
        "return_after_absence": "your return after a long time",
        "first_visit_ever": "your first visit",
        "milestone_order": "a milestone order",
        "first_repeat_order": "your second order",
        "first_visit_to_store": "your first visit to this store",
        "first_order_in_category": "your first order in a new category",
    },
    "fr": {
        "first_visit_after_delayed_delivery": "votre première visite depuis le retard de livraison",
        "return_after_absence": "votre retour après une longue absence",
        "first_visit_ever": "votre première visite",
        "milestone_order": "une commande marquante",
        "first_repeat_order": "votre deuxième commande",
        "first_visit_to_store": "votre première visite dans ce magasin",
        "first_order_in_category": "votre première commande dans une nouvelle catégorie",
    },
    "de": {
        "first_visit_after_delayed_delivery": "Ihr erster Besuch seit der verspäteten Lieferung",
        "return_after_absence": "Ihre Rückkehr nach langer Zeit",
        "first_visit_ever": "Ihr erster Besuch",
        "milestone_order": "eine besondere Bestellung",
        "first_repeat_order": "Ihre zweite Bestellung",
        "first_visit_to_store": "Ihr erster Besuch in dieser Filiale",
        "first_order_in_category": "Ihre erste Bestellung in einer neuen Kategorie",
    },
}
"""The moment in words, by language; other languages get the English words."""


def _language(locale: str) -> str:
    return locale.split("-", 1)[0].lower()


def choose_locale(campaign: CampaignFacts, customer_locale: str) -> tuple[str, bool]:
    """(template locale, whether it is in the customer's language)."""
    templates = campaign.templates
    if customer_locale in templates:
        return customer_locale, True
    language = _language(customer_locale)
    if language in templates:
        return language, True
    for key in sorted(templates):
        if _language(key) == language:
            return key, True
    return campaign.default_locale, _language(campaign.default_locale) == language


def moment_words(code: str | None, locale: str) -> str | None:
    if code is None:
        return None
    words = MOMENT_WORDS.get(_language(locale), MOMENT_WORDS["en"])
    return words.get(code) or MOMENT_WORDS["en"].get(code)


def _clock(instant: dt.datetime | None) -> str | None:
    return None if instant is None else f"{instant.hour:02d}:{instant.minute:02d}"


class _Values:
    """Placeholder values, computed only when a template asks for them."""

    __slots__ = ("_closing", "_contender", "_locale", "_not_before", "_situation")

    def __init__(
        self,
        situation: Situation,
        contender: Contender,
        locale: str,
        not_before: dt.datetime,
        closing: dt.datetime | None,
    ) -> None:
        self._situation = situation
        self._contender = contender
        self._locale = locale
        self._not_before = not_before
        self._closing = closing

    def get(self, name: str) -> object | None:
        sit = self._situation
        if name == "first_name":
            return sit.customer.first_name
        if name == "store_name":
            return sit.store.name
        if name == "store_id":
            return sit.store.id
        if name == "campaign_name":
            return self._contender.campaign.name
        if name == "opens_at":
            deferred = self._contender.not_before
            opening = deferred if deferred is not None else sit.opens_at()
            return _clock(None if opening is None else sit.local(opening))
        if name == "closes_at":
            return _clock(None if self._closing is None else sit.local(self._closing))
        if name == "minutes_to_close":
            if self._closing is None:
                return None
            return int((self._closing - self._not_before).total_seconds() // 60)
        if name == "moment":
            matched = self._contender.matched_moments or sit.found_moments
            return moment_words(matched[0] if matched else None, self._locale)
        return None


def render_for(
    situation: Situation,
    contender: Contender,
    not_before: dt.datetime,
    closing: dt.datetime | None,
) -> tuple[str, str, str]:
    """(locale, title, body) of ``contender``'s message for this customer.

    Raises:
        TemplateProblem: Neither the chosen nor the default locale renders; the message of
            the last attempt says why.
    """
    campaign = contender.campaign
    if contender.locale is None:
        contender.locale = choose_locale(campaign, situation.customer.locale)[0]
    tried: list[str] = [contender.locale]
    if campaign.default_locale != contender.locale:
        tried.append(campaign.default_locale)
    problem: TemplateProblem | None = None
    for locale in tried:
        template = campaign.templates.get(locale)
        if template is None:
            problem = TemplateProblem(f"no template for locale {locale}")
            continue
        values = _Values(situation, contender, locale, not_before, closing)
        try:
            return (
                locale,
                render_message(template.title, values),
                render_message(template.body, values),
            )
        except TemplateProblem as exc:
            problem = exc
    assert problem is not None
    raise problem

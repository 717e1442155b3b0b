"""The one way the pages name a provider and a payer: "NAME (ID)", or the id alone when no 835 gave a name.

The names come from the remittances themselves (N1*PE N102 for the payee, N1*PR N102 for the payer): an
organisation's name is not patient data, so it is kept and shown. A payer or payee renamed shows the name of its
latest remittance. The ids stay in the label (two payers can share a name; a person searches by id).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from schemas import Takeback
from streams.domain.facts import RemittanceFacts


def label(name: str | None, ident: str | None) -> str:
    """`NAME (ID)`; the id alone without a name; the name alone without an id."""
    name, ident = (name or "").strip(), (ident or "").strip()
    if name and ident and name != ident:
        return f"{name} ({ident})"
    return name or ident


@dataclass(frozen=True)
class Names:
    providers: Mapping[str, str] = field(default_factory=dict)  # payee id (NPI or TIN) -> N1*PE N102
    payers: Mapping[str, str] = field(default_factory=dict)  # payer id -> N1*PR N102

    @classmethod
    def of(cls, remittances: Iterable[RemittanceFacts], takebacks: Iterable[Takeback] = ()) -> Names:
        """From remittances, oldest first so the latest name wins; a takeback's payer name fills a gap."""
        providers: dict[str, str] = {}
        payers: dict[str, str] = {t.payer_id: t.payer_name for t in takebacks if t.payer_name}
        for facts in sorted(remittances, key=lambda r: r.order_key()):
            if facts.payee_name:
                for payee in facts.payee_ids:
                    providers[payee] = facts.payee_name
            if facts.payer_name:
                payers[facts.payer_id] = facts.payer_name
        return cls(providers, payers)

    def provider(self, provider_id: str | None) -> str:
        return label(self.providers.get(provider_id or ""), provider_id)

    def payer(self, payer_id: str | None) -> str:
        return label(self.payers.get(payer_id or ""), payer_id)

    def provider_name(self, provider_id: str | None) -> str | None:
        return self.providers.get(provider_id or "")

    def payer_name(self, payer_id: str | None) -> str | None:
        return self.payers.get(payer_id or "")


NO_NAMES = Names()

"""The absolute links an answer carries: its base URL, and who signs its embed links.

Wire functions (``orders.wire``, ``routes.wire``, ``planning.wire``) are pure: they turn
loaded rows into dictionaries and are handed a ``Links`` for the links in them. An endpoint
serving an account builds one whose ``sign`` adds that account's embed token
(``views.tokens.embed_links``); work outside a request passes plain ``Links(public_url)``,
and the embed page then asks for the account's credentials instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# (url, route handle) -> the url with a token that opens that route's embed view.
Signer = Callable[[str, str], str]


@dataclass(frozen=True)
class Links:
    """The base of absolute links, and the signer of route embed links (None: unsigned)."""

    public_url: str
    sign: Signer | None = None

    @property
    def base(self) -> str:
        """The base URL without a trailing slash."""
        return self.public_url.rstrip("/")

    def route_embed(self, route_handle: str) -> str:
        """The ops view of a route (``embed_url``), signed when there is a signer."""
        url = f"{self.base}/embed/routes/{route_handle}"
        return url if self.sign is None else self.sign(url, route_handle)

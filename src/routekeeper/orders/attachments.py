"""Attachments a client sends with an order (``PATCH /orders/{h}``, custom events).

HyperTrack names three kinds: an image (``url``, optional ``caption``), a note (``data``) and
a signature (``url``). Its schema and examples disagree on the wrapping, so both are taken:
flat with a ``type`` (``{"type": "image", "url": ...}``) or keyed by the kind
(``{"image": {"url": ...}}``). Each is stored once, with a server-made ``attachment_id`` and
the time it was received, and returned in both forms (docs/compatibility.md).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from routekeeper.core.fields import Text
from routekeeper.core.ids import new_id
from routekeeper.core.timefmt import format_ts

MAX_ATTACHMENTS = 10
# Attachments an order keeps in all: each PATCH or event may add up to MAX_ATTACHMENTS.
MAX_ORDER_ATTACHMENTS = 100
URL_MAX = 2048
NOTE_MAX = 10_000


AttachmentType = StrEnum("AttachmentType", "IMAGE NOTE SIGNATURE")


# What each kind carries besides its type.
_FIELDS: dict[AttachmentType, tuple[str, ...]] = {
    AttachmentType.IMAGE: ("url", "caption"),
    AttachmentType.NOTE: ("data",),
    AttachmentType.SIGNATURE: ("url",),
}
_REQUIRED: dict[AttachmentType, str] = {
    AttachmentType.IMAGE: "url", AttachmentType.NOTE: "data", AttachmentType.SIGNATURE: "url",
}


class AttachmentBody(BaseModel):
    """The kind-specific part of an attachment (``{"url": ..., "caption": ...}``)."""

    model_config = ConfigDict(extra="ignore")

    url: Text | None = Field(default=None, min_length=1, max_length=URL_MAX)
    caption: Text | None = Field(default=None, max_length=1000)
    data: Text | None = Field(default=None, min_length=1, max_length=NOTE_MAX)


class AttachmentIn(BaseModel):
    """One attachment as sent, flat (``type`` + fields) or keyed by its kind."""

    model_config = ConfigDict(extra="ignore")

    type: AttachmentType | None = None
    url: Text | None = Field(default=None, min_length=1, max_length=URL_MAX)
    caption: Text | None = Field(default=None, max_length=1000)
    data: Text | None = Field(default=None, min_length=1, max_length=NOTE_MAX)
    image: AttachmentBody | None = None
    note: AttachmentBody | None = None
    signature: AttachmentBody | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> AttachmentIn:
        keyed = [kind for kind in AttachmentType if getattr(self, kind.value) is not None]
        if len(keyed) > 1 or (keyed and self.type is not None and self.type != keyed[0]):
            raise ValueError("An attachment is one of image, note or signature.")
        if self.type is None and not keyed:
            raise ValueError("Send type (image, note or signature) or an image, note or "
                             "signature object.")
        kind = self.kind
        if not self.fields().get(_REQUIRED[kind]):
            raise ValueError(f"A {kind.value} attachment needs {_REQUIRED[kind]}.")
        return self

    @property
    def kind(self) -> AttachmentType:
        """Image, note or signature."""
        if self.type is not None:
            return self.type
        return next(kind for kind in AttachmentType if getattr(self, kind.value) is not None)

    def fields(self) -> dict[str, str]:
        """The kind's fields that were sent (keyed form first, then the flat ones)."""
        body = getattr(self, self.kind.value)
        found: dict[str, str] = {}
        for name in _FIELDS[self.kind]:
            value = getattr(body, name) if body is not None else None
            if value is None:
                value = getattr(self, name)
            if value is not None:
                found[name] = value
        return found


def stored_attachments(
    items: list[AttachmentIn], *, recorded_at: datetime, source: str,
) -> list[dict[str, Any]]:
    """Attachments as stored and returned: an id, the kind, its fields flat and keyed."""
    out = []
    for item in items:
        fields = item.fields()
        out.append({
            "attachment_id": new_id(), "type": item.kind.value, **fields,
            item.kind.value: dict(fields), "recorded_at": format_ts(recorded_at),
            "source": source,
        })
    return out


def image_urls(attachments: list[dict[str, Any]] | None) -> list[str]:
    """The URLs of an order's image attachments (the detail's ``images``)."""
    return [str(a["url"]) for a in attachments or []
            if a.get("type") == AttachmentType.IMAGE.value and a.get("url")]

"""The replacement's key: the operator's tag, else the old key's kind; which endpoints could not serve it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from certrotate.model import Endpoint, KeyKind, KeySpec
from certrotate.model.keys import KEY_TYPES, KEYS_ACCEPTED
from certrotate.names import KEY_TYPE_TAG


def replacement_key(old: KeySpec) -> KeySpec:
    """A key of the same kind that every endpoint kind accepts: RSA 2048 unless the old one was larger;
    ECDSA P-256."""
    if old.kind is KeyKind.EC:
        return KeySpec(KeyKind.EC, 256)
    return KeySpec(KeyKind.RSA, 4096 if old.size > 2048 else 2048)


def requested_key(tags: Mapping[str, str], old: KeySpec) -> KeySpec | None:
    """The replacement's key: the tag certrotate:key-type's, else the old key's kind (replacement_key).
    None when the tag holds a value not in KEY_TYPES."""
    value = tags.get(KEY_TYPE_TAG, "").strip().lower()
    if not value:
        return replacement_key(old)
    return KEY_TYPES.get(value)


def endpoints_refusing(key: KeySpec, endpoints: Iterable[Endpoint]) -> list[Endpoint]:
    """The endpoints that cannot serve a certificate with this key."""
    return [e for e in endpoints if key not in KEYS_ACCEPTED[e.kind]]

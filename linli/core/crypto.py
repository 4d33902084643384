"""Encryption of personal data at rest, and a keyed blind index for look-ups."""

from __future__ import annotations

import hashlib
import hmac
from functools import cache

from cryptography.fernet import Fernet, MultiFernet
from django.conf import settings

from linli.core.validators import normalise_mobile


@cache
def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(k.strip().encode()) for k in settings.FIELD_ENCRYPTION_KEYS])


def encrypt_text(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt_text(token: str) -> str:
    return _fernet().decrypt(token.encode()).decode()


def blind_index(value: str, *, purpose: str) -> str:
    """A stable keyed hash to find or de-duplicate encrypted values without decrypting.

    Keyed with the first field key so it cannot be brute-forced from a database dump
    alone (an ID number has little entropy).
    """
    key = hashlib.sha256(("linli-blind-index:" + settings.FIELD_ENCRYPTION_KEYS[0]).encode())
    return hmac.new(key.digest(), f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()


def mobile_index(mobile: str) -> str:
    """The blind index of a mainland mobile number (normalised first): how an encrypted
    number is found (sign-in, search, imports) without decrypting every row."""
    mobile = normalise_mobile(mobile)
    return blind_index(mobile, purpose="mobile") if mobile else ""

from __future__ import annotations

from django.db import models

from linli.core.crypto import decrypt_text, encrypt_text
from linli.core.validators import mask_mobile


class EncryptedTextField(models.TextField):
    """Stores a Fernet token; reads give back the plaintext. Not searchable by value:
    pair it with a blind-index column when look-ups are needed."""

    # The audit log records that such a field changed, never its value.
    audit_secret = True

    def from_db_value(self, value, expression, connection):
        if value in (None, ""):
            return value
        return decrypt_text(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value in (None, ""):
            return value
        return encrypt_text(value)


class EncryptedMobileField(EncryptedTextField):
    """An encrypted mobile number. The audit log records it masked (138****5678): staff
    reading the log see which number changed without the number itself."""

    audit_secret = False

    @staticmethod
    def audit_mask(value: str) -> str:
        return mask_mobile(value) if value else ""

import pytest

from linli.owners import sms


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    """Passwords are checked through the real code; hashing need not be slow here."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def outbox(settings):
    """Codes sent during the test (the memory SMS backend)."""
    settings.LINLI_SMS_BACKEND = "linli.owners.sms.MemoryBackend"
    sms.outbox.clear()
    yield sms.outbox
    sms.outbox.clear()

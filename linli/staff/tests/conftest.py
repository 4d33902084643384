import pytest


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    """Staff logins are made through the real service; hashing need not be slow here."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

import pytest


@pytest.fixture(autouse=True)
def _postgres_only(request):
    """Tests marked ``postgres`` test what only PostgreSQL does (triggers, row locks)."""
    if request.node.get_closest_marker("postgres"):
        from django.db import connection

        if connection.vendor != "postgresql":
            pytest.skip("needs PostgreSQL (set DATABASE_URL=postgres://…)")


@pytest.fixture
def post():
    """post_entry with the dull arguments filled in."""
    from linli.ledger.services import post_entry

    def _post(community, key, lines, kind="test", **kwargs):
        return post_entry(
            community_id=community.pk, business_key=key, kind=kind, lines=lines, **kwargs
        )

    return _post

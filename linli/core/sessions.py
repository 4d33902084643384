"""Django's database sessions (``SESSION_ENGINE = "linli.core.sessions"``), read with one
plain query.

Every signed-in request reads its session; the ORM builds and compiles that one-row
SELECT in several times the CPU the database takes to answer it. Everything else —
creating, saving, rotating, deleting, expiry, and "sign out everywhere" (which deletes
the rows) — is Django's ``db`` backend unchanged, on the same table, so a deleted or
expired session stops working on the next request in every worker.
"""

from __future__ import annotations

from django.contrib.sessions.backends import db
from django.db import connections, router
from django.utils import timezone


class SessionStore(db.SessionStore):
    def _get_session_from_db(self):
        model = self.model
        connection = connections[router.db_for_read(model)]
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT session_data FROM {model._meta.db_table}"  # noqa: S608 — our table
                " WHERE session_key = %s AND expire_date > %s",
                [self.session_key, connection.ops.adapt_datetimefield_value(timezone.now())],
            )
            row = cursor.fetchone()
        if row is None:
            self._session_key = None  # as Django's: an unknown or expired key is dropped
            return None
        return model(session_key=self.session_key, session_data=row[0])

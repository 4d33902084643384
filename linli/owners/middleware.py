"""Keeps "last seen" of owner sessions for the profile's session list.

Cheap by design: only sessions started by an owner sign-in carry ``SEEN_KEY``, and the
database is written at most once every ``TOUCH_EVERY_S`` per session, so an ordinary
page costs nothing extra.
"""

from __future__ import annotations

import time

from linli.owners.services import owner_session_touch

SEEN_KEY = "owners_seen"
TOUCH_EVERY_S = 300


class OwnerSessionMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        session = getattr(request, "session", None)
        if session is not None and session.session_key:
            seen = session.get(SEEN_KEY)
            now_s = int(time.time())
            if seen is not None and now_s - int(seen) >= TOUCH_EVERY_S:
                session[SEEN_KEY] = now_s
                owner_session_touch(session_key=session.session_key)
        return self.get_response(request)

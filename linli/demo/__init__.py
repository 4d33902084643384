"""The demo installation that ``linli demo`` loads and serves (see ``data`` and ``serve``)."""

"""What the ``linli bench`` benchmarks share: synthetic data written in bulk
(``data``) and a real server on a free port (``server``). Each benchmark is its own
module (``notify``, ``portal``); ``linli bench billing`` lives with its command."""

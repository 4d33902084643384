"""Who may use the owner portal: the owners app's rule (``linli.owners.access``).

Kept for ``linli.refunds.views``, which still imports ``owner_required`` from here
(TODO(issue 15): import it from ``linli.owners.access`` and delete this module)."""

from linli.owners.access import is_owner, owner_required

__all__ = ["is_owner", "owner_required"]

"""A person's own music: import their listening history, show the profile, forget it.

See :mod:`musicgraph.me.profiles`; recommendations for the person go through the ordinary
``user=`` parameter with the profile's key (``musicgraph.recommend(user="me:alice")``).
"""

from __future__ import annotations

from musicgraph.me.profiles import DEFAULT_NAME, ImportResult, forget, import_history, resolve_profile, show

__all__ = ["DEFAULT_NAME", "ImportResult", "forget", "import_history", "resolve_profile", "show"]

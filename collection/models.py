"""Models arrive with the collection work (see the issues)."""

"""Models arrive with the risk work (see the issues)."""

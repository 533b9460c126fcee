"""RuntimeConfig and its resolution across levels."""

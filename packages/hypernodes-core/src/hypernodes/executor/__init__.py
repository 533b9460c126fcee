"""Core's executor layer: the Executor ABC and in-process execution (HOW)."""

"""The execution engine: plans, node calls, run contexts (WHAT)."""

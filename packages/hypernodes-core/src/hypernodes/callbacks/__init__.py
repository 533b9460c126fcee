"""Observing runs: the PipelineCallback hooks, their dispatch, progress bars and tracing."""

"""The graph layer: nodes, pipelines and nested pipeline nodes."""

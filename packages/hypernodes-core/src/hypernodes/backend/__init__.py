"""The backend layer: the Backend ABC and LocalBackend (WHERE)."""

"""Resources: values a node needs that are expensive to build (a model, a tokenizer, a client).

A :class:`Resource` declares how to build one (:func:`resource`); a :class:`ResourcePool`
builds each declared resource once and keeps it until the pool is closed. Every executor owns
a pool (``Executor.resource_pool``), so a resource is built once per executor and per worker
process. See ``docs/advanced/resources.md``.
"""

from __future__ import annotations

from hypernodes.resources.pool import ResourcePool
from hypernodes.resources.resource import Resource, resource

__all__ = ["Resource", "ResourcePool", "resource"]

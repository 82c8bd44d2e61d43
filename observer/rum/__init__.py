"""Real-user monitoring: beacon formats, validation, the ingest queue, the snippet."""

from .model import BeaconError, Context, Item

__all__ = ["BeaconError", "Context", "Item"]

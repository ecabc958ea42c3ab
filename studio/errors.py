"""Exceptions whose messages a user can act on."""


class CheckpointError(Exception):
    """A checkpoint could not be found, read, trusted or matched to a model."""


class DataError(ValueError):
    """A dataset could not be found or read."""

"""Exceptions that carry a message meant for a person.

Command-line tools print ``str(error)`` as one line and exit with a status
code; Odoo turns them into ``UserError``. Messages name the rows, columns or
series concerned and what was expected.
"""

__all__ = ["InputError", "ArtifactError"]


class InputError(ValueError):
    """The input data or arguments cannot be used as given."""


class ArtifactError(ValueError):
    """A model artifact is missing, unsigned, tampered with or foreign."""

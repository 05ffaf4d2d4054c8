"""dynafile: an embedded, file-backed database with DynamoDB's data model."""
from .errors import *  # noqa: F401,F403
from .errors import __all__ as _errors_all

__all__ = list(_errors_all)
__version__ = "0.2.0"

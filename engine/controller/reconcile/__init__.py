"""The reconciler, one module per concern (see docs/architecture.md)."""

from .driver import Operator as Operator
from .model import Decision as Decision
from .retries import retry_index as retry_index

__all__ = ["Decision", "Operator", "retry_index"]

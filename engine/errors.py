"""Every exception Exitflow raises on purpose.

    ExitflowError
    ├── InputError                 bad input from the user: exit code 2
    │   ├── SpecError              the workflow file (YAML, types, references, cycles)
    │   │   └── ExpressionError    an expression that does not parse or cannot be evaluated
    │   ├── ParameterError         `-p` parameters: undeclared, malformed, missing
    │   └── BundleError            an export bundle that is truncated, foreign or too new
    ├── StoreError                 the event log: missing, a directory, read-only, full (exit 2)
    │   ├── ConflictError          (workflow, seq) already taken: another writer got there first
    │   ├── CorruptLogError        unreadable, damaged or foreign database file (exit 2)
    │   ├── ReadOnlyStoreError     a write asked of a store opened (or only openable) read-only
    │   ├── FencedError            this controller was replaced; it may not append any more (1)
    │   ├── ControllerBusyError    another controller holds the database
    │   ├── StoreUnavailableError  the database server cannot be reached or refuses us (exit 2)
    │   └── TamperedLogError       the hash chain does not verify (exit 1, like `verify`)
    ├── ExecutorError              running work
    │   ├── ExecutorUnavailableError   e.g. no Docker daemon
    │   └── ImageNotFoundError     the image is not present and cannot be pulled
    ├── WorkflowNotFoundError      no workflow by that name or uid
    └── ReplayError                replaying a log failed
        └── DivergenceError        the current engine derives a different state

Exit codes: 2 for every input or store problem; 1 is a Failed workflow (and the two verdicts
that the run or log is not what it should be: fenced, tampered); 3 a workflow in Error.
A step that exits non-zero is an event, not an exception. `CancelledError` is never wrapped.
"""

from __future__ import annotations


class ExitflowError(Exception):
    """Base of every error Exitflow raises on purpose."""

    exit_code: int = 1


class InputError(ExitflowError):
    """The user's input is wrong; the CLI exits 2."""

    exit_code = 2


class SpecError(InputError):
    """A workflow file is invalid. `path` is a JSON path like `$.spec.templates[2]`."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        source: str | None = None,
    ) -> None:
        self.message = message
        self.path = path
        self.line = line
        self.source = source
        super().__init__(self.render())

    def render(self) -> str:
        where = []
        if self.source:
            where.append(self.source + (f":{self.line}" if self.line else ""))
        elif self.line:
            where.append(f"line {self.line}")
        if self.path:
            where.append(f"at {self.path}")
        prefix = " ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


class ExpressionError(SpecError):
    """An expression (`when`, `depends`, hook `expression`, `{{= }}`) is invalid."""


class ParameterError(InputError):
    """A workflow parameter is undeclared, malformed or missing."""


class BundleError(InputError):
    """An export bundle cannot be read."""


class StoreError(ExitflowError):
    """The event store failed (the file is missing, a directory, read-only, the disk full...)."""

    exit_code = 2


class ConflictError(StoreError):
    """The (workflow, seq) key is already taken."""


class CorruptLogError(StoreError):
    """The database is damaged, not ours, or from a newer schema."""

    exit_code = 2


class ReadOnlyStoreError(StoreError):
    """A write was asked of a store that is (or could only be) opened read-only."""


class FencedError(StoreError):
    """A newer controller generation holds the database; this one may not append."""

    exit_code = 1


class ControllerBusyError(StoreError):
    """Another controller holds the database."""


class StoreUnavailableError(StoreError):
    """The database server is unreachable, refuses the credentials, or has no such database."""

    exit_code = 2


class TamperedLogError(StoreError):
    """The hash chain does not verify."""

    exit_code = 1


class ExecutorError(ExitflowError):
    """An executor could not run work."""


class ExecutorUnavailableError(ExecutorError):
    """The executor's backend (e.g. the Docker daemon) cannot be reached."""

    exit_code = 2


class ImageNotFoundError(ExecutorError):
    """The image is not present locally and no registry can be reached."""


class WorkflowNotFoundError(ExitflowError):
    """No workflow by that name or uid."""

    exit_code = 2


class ReplayError(ExitflowError):
    """Replaying a log failed."""


class DivergenceError(ReplayError):
    """The current engine derives a different state from the log."""

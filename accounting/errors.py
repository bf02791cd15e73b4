"""Typed errors of the accounting stage.

Every error that stops the work names where the fault is: the file, the place in
it (a key path, a line, a row) and the reason, so the command line can print one
clear line and exit 2.
"""

from __future__ import annotations


class AccountingError(Exception):
    """Base class: an input the accounting stage cannot use at all."""


def _where(source: str, line: int | None) -> str:
    return f"{source}:{line}" if line is not None else source


class CatalogError(AccountingError):
    """A catalog file that does not load or does not validate."""

    def __init__(self, source: str, key: str, reason: str, line: int | None = None) -> None:
        self.source, self.key, self.reason, self.line = source, key, reason, line
        super().__init__(f"{_where(source, line)}: {key or '(top)'}: {reason}")


class InventoryError(AccountingError):
    """An inventory that cannot be read (bad YAML, missing or malformed field)."""

    def __init__(self, source: str, field: str, reason: str, line: int | None = None) -> None:
        self.source, self.field, self.reason, self.line = source, field, reason, line
        super().__init__(f"{_where(source, line)}: {field or '(top)'}: {reason}")


class UsageError(AccountingError):
    """A usage file that cannot be read (missing, unparsable, a required column missing)."""

    def __init__(self, source: str, reason: str) -> None:
        self.source, self.reason = source, reason
        super().__init__(f"{source}: {reason}")


class FileChanged(UsageError):
    """A usage file that changed while it was being read (written to, cut short, replaced or
    removed): the rows read may come from two versions of it, so nothing rated from it stands."""

    def __init__(self, path: object, what: str) -> None:
        super().__init__(
            str(path),
            f"changed while it was being read ({what}): nothing was rated; rate it once it is complete",
        )


class FolderChanged(UsageError):
    """A folder of usage files (a run's `usage/`, a run folder) that is not the one it was when its
    files were listed: another run put in its place (`m2msim run --force` into the same folder
    swaps its new folder in), or its files added or removed.  The files read may be part of one
    run's, or of two; nothing read from it stands.  `again`: what to do (`rate it again`)."""

    def __init__(self, folder: object, again: str = "rate it again") -> None:
        from m2msim.rundir import folder_changed  # (the run folder's plumbing, imported when said)

        super().__init__(str(folder), folder_changed(again))

"""An output folder for bundle runs that appears whole or not at all.

A MONAI bundle runs as a list of expressions, so a ``with`` block cannot span it; :class:`StagedOutputDir`
opens :func:`~monai_lipinr.utils.output.atomic_output_dir` when created and closes it with :meth:`commit`
(rename into place) or :meth:`abort` (remove). A run that fails before ``commit`` — an exception escaping
``python -m monai.bundle run`` — leaves nothing behind: an ``atexit`` hook aborts an uncommitted folder.
"""

from __future__ import annotations

import atexit
import os
from pathlib import Path

from monai_lipinr.utils.output import atomic_output_dir

__all__ = ["StagedOutputDir"]


class StagedOutputDir:
    """A temporary sibling of ``path`` to write into, renamed to ``path`` by :meth:`commit`.

    Args:
        path: final output folder.
        overwrite: replace an existing non-empty ``path`` (otherwise refused at creation).

    Raises:
        FileExistsError: when ``path`` exists, is not empty and ``overwrite`` is false.
        ValueError: when ``path`` is a file.

    Example (bundle config)::

        "staging": {"_target_": "monai_lipinr.bundles.StagedOutputDir", "path": "@output_dir"},
        "run": ["$...write into @staging.path...", "$@staging.commit()"]
    """

    def __init__(self, path: str | os.PathLike, overwrite: bool = False) -> None:
        self.final = Path(path)
        self._cm = atomic_output_dir(self.final, overwrite=overwrite)
        self.path: Path = self._cm.__enter__()
        self.done = False
        atexit.register(self.abort)

    def commit(self) -> Path:
        """Move the staged folder to its final place; returns the final path."""
        if not self.done:
            self.done = True
            atexit.unregister(self.abort)
            self._cm.__exit__(None, None, None)
        return self.final

    def abort(self) -> None:
        """Remove the staged folder (no-op after :meth:`commit`)."""
        if not self.done:
            self.done = True
            atexit.unregister(self.abort)
            err = RuntimeError("bundle run aborted")
            self._cm.__exit__(RuntimeError, err, None)

    def __str__(self) -> str:
        return str(self.path)

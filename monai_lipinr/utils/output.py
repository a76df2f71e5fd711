"""Output folders that appear whole or not at all."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_output_dir"]


@contextlib.contextmanager
def atomic_output_dir(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Write a command's outputs into a temporary sibling folder, renamed to ``path`` on success.

    A command that fails inside the ``with`` block leaves no partial output: the temporary folder is
    removed and an existing ``path`` is untouched.

    Args:
        path: final output folder.
        overwrite: replace an existing ``path``; otherwise an existing non-empty folder is an error.

    Yields:
        the temporary folder to write into.

    Raises:
        FileExistsError: when ``path`` exists (and is not an empty folder) and ``overwrite`` is false.
        ValueError: when ``path`` exists and is a file.
    """
    final = Path(path)
    if final.exists():
        if not final.is_dir():
            raise ValueError(f"output={str(final)!r} exists and is not a folder.")
        if any(final.iterdir()) and not overwrite:
            raise FileExistsError(
                f"output folder {str(final)!r} already exists and is not empty; pass --overwrite "
                "(overwrite=True) to replace it."
            )
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.partial-", dir=final.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp creates 0700; give the folder the user's usual permissions
    if final.exists():
        backup = final.parent / f".{final.name}.old-{os.getpid()}"
        final.rename(backup)
        tmp.rename(final)
        shutil.rmtree(backup, ignore_errors=True)
    else:
        tmp.rename(final)

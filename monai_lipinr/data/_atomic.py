"""Write files that appear whole or not at all (temporary folder, then rename)."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_write"]


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path with the same file name as ``path``; move the result(s) in place on success.

    The caller writes to the yielded path (possibly producing companion files, e.g. the ``.raw`` of a
    ``.mhd`` header, in the same temporary folder). On success every file of the temporary folder is
    moved next to ``path`` with :func:`os.replace` (companions first, ``path`` last), so a reader never
    sees a half-written ``path``. On failure nothing is left behind and existing files are untouched.

    Args:
        path: final file path. Its parent folder is created when missing.
        overwrite: replace existing files; otherwise an existing ``path`` (or companion) is an error.

    Yields:
        the temporary file path to write to.

    Raises:
        FileExistsError: when ``path`` (or a companion file produced by the writer) exists and
            ``overwrite`` is false.
        IsADirectoryError: when ``path`` is an existing folder.
    """
    final = Path(path)
    if final.is_dir():
        raise IsADirectoryError(f"path={str(final)!r} is a folder; expected a file path.")
    if final.exists() and not overwrite:
        raise FileExistsError(f"{str(final)!r} already exists; pass overwrite=True to replace it.")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{final.name}.partial-", dir=final.parent))
    try:
        yield tmp_dir / final.name
        produced = sorted(tmp_dir.iterdir(), key=lambda p: p.name == final.name)  # main file last
        if not produced or produced[-1].name != final.name:
            raise RuntimeError(f"the writer did not produce {final.name!r}.")
        if not overwrite:
            clash = [p.name for p in produced if (final.parent / p.name).exists()]
            if clash:
                raise FileExistsError(
                    f"{clash} already exist in {str(final.parent)!r}; pass overwrite=True to replace them."
                )
        for p in produced:
            os.replace(p, final.parent / p.name)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)

"""Griffe extension used by ``mkdocs.yml``: render this package's docstrings faithfully with mkdocstrings.

The package writes Google-style docstrings with two Sphinx habits that mkdocstrings does not understand:

* cross-reference roles — ``:class:`X```, ``:func:`~pkg.f```, ``:meth:``, ``:attr:``, ``:mod:``,
  ``:data:``, ``:exc:``, ``:obj:`` — become code spans (```X```, ```f```);
* grouped entries in ``Args`` / ``Attributes`` sections (``hidden_features, num_layers: network size.``)
  are split into one entry per name (each with the shared description), so that every parameter or
  attribute is listed and matched against the signature.

Only the text handed to the docstring parser changes; the source files are untouched.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

__all__ = ["SphinxFlavouredGoogle", "rewrite_docstring"]

_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|attr|mod|data|obj|exc|const|ref):`(~?)([^`<]+?)(?:\s*<[^>]*>)?`")
_SECTION = re.compile(r"^(\s*)(Args|Arguments|Parameters|Params|Attributes|Keyword Args|Keyword Arguments|"
                      r"Other Parameters):\s*$")
_GROUPED = re.compile(r"^(\s+)([A-Za-z_]\w*(?:,\s*[A-Za-z_]\w*)+):(\s.*)?$")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _split_grouped(lines: list[str]) -> list[str]:
    out: list[str] = []
    i, section_indent = 0, None
    while i < len(lines):
        line = lines[i]
        header = _SECTION.match(line)
        if header:
            section_indent = len(header.group(1))
            out.append(line)
            i += 1
            continue
        if section_indent is not None and line.strip() and _indent(line) <= section_indent:
            section_indent = None
        grouped = _GROUPED.match(line) if section_indent is not None else None
        if grouped and len(grouped.group(1)) > section_indent:
            indent, names, desc = grouped.group(1), grouped.group(2), grouped.group(3) or ""
            j = i + 1
            while j < len(lines) and (not lines[j].strip() or _indent(lines[j]) > len(indent)):
                if not lines[j].strip() and (j + 1 >= len(lines) or _indent(lines[j + 1]) <= len(indent)):
                    break
                j += 1
            continuation = lines[i + 1:j]
            for name in re.split(r",\s*", names):
                out.append(f"{indent}{name}:{desc}")
                out.extend(continuation)
            i = j
            continue
        out.append(line)
        i += 1
    return out


def rewrite_docstring(text: str) -> str:
    """The docstring text with Sphinx roles as code spans and grouped entries split."""
    def code(match: re.Match) -> str:  # ``:func:`~a.b.f``` shows ``f``, as in Sphinx
        target = match.group(2).strip()
        return f"`{target.rsplit('.', 1)[-1] if match.group(1) else target}`"

    return "\n".join(_split_grouped(_ROLE.sub(code, text).split("\n")))


class SphinxFlavouredGoogle(griffe.Extension):
    """Rewrite every docstring of the loaded objects (see the module docstring)."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:  # noqa: D102
        if obj.docstring is not None:
            obj.docstring.value = rewrite_docstring(obj.docstring.value)

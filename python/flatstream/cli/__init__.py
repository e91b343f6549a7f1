"""The ``flatstream`` command (``flatstream --help``; also ``python -m flatstream``).

Modules: :mod:`.common` (exit codes, options, errors, progress, inputs),
:mod:`.checks` (info, verify, count, dump, recover, salvage), :mod:`.reading`
(cat, head, tail, tail -f), :mod:`.stats`, :mod:`.convert`; :mod:`.app`
assembles the group.
"""

from .app import main

__all__ = ["main"]

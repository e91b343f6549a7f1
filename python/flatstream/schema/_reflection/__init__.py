"""FlatBuffers' reflection schema (``reflection.fbs``) as flatc-generated
Python classes, used to read binary schemas (``.bfbs``).

``reflection_generated.py`` is generated, not written: regenerate it with
``scripts/gen_reflection.py`` (which checks that the ``reflection.fbs`` it is
given is the one the pinned ``flatc`` was built with).
"""

from . import reflection_generated as reflection

__all__ = ["reflection"]

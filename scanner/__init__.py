"""poolscan: find cryptocurrency mining pools by scanning for them.

Stages: sweep -> probe -> classify -> enrich -> store -> export (see ``../shared/design.md``).
"""

__version__ = "0.1.0"
USER_AGENT = f"poolscan/{__version__}"

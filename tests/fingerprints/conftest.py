"""Make the shared test data module (fpdata.py) importable from this directory's tests."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

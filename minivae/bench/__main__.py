"""``python -m minivae.bench [nll|variants|faults|gpu-check] ...``: the same as ``python -m minivae bench ...``."""
import sys

from ..cli import main

raise SystemExit(main(["bench", *sys.argv[1:]]))

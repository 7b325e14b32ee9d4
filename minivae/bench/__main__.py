"""``python -m minivae.bench``: the same as ``python -m minivae bench``."""
from . import main

raise SystemExit(main())

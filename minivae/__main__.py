"""``python -m minivae train|evaluate|bench ...``."""
from .cli import main

raise SystemExit(main())

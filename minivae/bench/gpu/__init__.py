"""The GPU benchmark and the one command that checks everything needing a GPU."""

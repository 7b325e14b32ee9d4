"""``python -m minivae.assignments ...``: the old spelling of ``python -m minivae assignments ...`` (it runs that)."""
import runpy
import sys

if __name__ == "__main__":
    print("note: `python -m minivae.assignments` is now spelled `python -m minivae assignments`", file=sys.stderr)
    sys.argv[1:1] = ["assignments"]
    runpy.run_module("minivae", run_name="__main__", alter_sys=True)

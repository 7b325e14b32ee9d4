"""The one error and interrupt wrapper of every command.

    a library error (MiniVAEError)      ``error: <message>`` (config field names written as the flags), exit 2
    a training run stopped by a signal  what stopped it, where it is saved, how to resume it; exit 128 + signal
    Ctrl-C in any other command         one line, exit 130; no traceback
"""
from __future__ import annotations

import sys

from ..errors import MiniVAEError, TrainingInterrupted
from .parser import flag_names


def run_guarded(module, args, parser):
    """``module.run(args)``'s exit status, with the errors and interrupts above turned into one line each.

    ``parser``: the command's parser (its flags name the options in messages);
    a module with ``TRAINS = True`` is a training command, resumed with
    ``python -m minivae <command> --resume <folder>``.
    """
    try:
        return module.run(args)
    except MiniVAEError as exc:
        print(f"error: {flag_names(parser, str(exc))}", file=sys.stderr)
        return 2
    except TrainingInterrupted as exc:
        hint = (f" Resume it with:\n    python -m minivae {args.command} --resume {exc.out_dir}"
                if getattr(module, "TRAINS", False) and exc.out_dir else "")
        print(f"\n{exc}.{hint}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"\n{args.command}: interrupted (Ctrl-C); stopped before it finished", file=sys.stderr)
        return 130

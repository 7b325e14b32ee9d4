"""The command line: ``python -m minivae COMMAND ...``, one parser, one table of commands.

Each command is a module with ``add_parser(subparsers)`` (returns its parser)
and ``run(args) -> int`` (the exit status); :data:`COMMANDS` registers them.
:func:`main` parses once, then runs the command inside the one error and
interrupt wrapper (:mod:`minivae.cli.guard`). The old spellings
``train --model vqvae ...`` and ``train --feature-loss GAN ...`` run
``vqvae ...`` and ``vaegan --feature-loss GAN ...``, with a note of the new
spelling on stderr.
"""
from __future__ import annotations

import sys

from . import ae, assignments, bench, book, classifier, compare, evaluate, gan, train, vaegan, vqvae
from .guard import run_guarded
from .parser import Parser, Respelled

#: ``python -m minivae NAME ...`` -> the module of the command NAME
COMMANDS = {"train": train, "vqvae": vqvae, "ae": ae, "gan": gan, "vaegan": vaegan, "evaluate": evaluate, "compare": compare,
            "classifier": classifier, "bench": bench, "assignments": assignments, "book": book}
EXAMPLES = """examples:
  python -m minivae train --epochs 10 --out runs/vae
  python -m minivae evaluate runs/vae --k 5000"""


def build_parser():
    """The parser of every command; ``parser.commands`` maps each command's name to its own parser."""
    from ..version import __version__
    p = Parser(prog="python -m minivae", description="minivae: VAEs, GANs, VAE-GANs and VQ-VAEs in NumPy, every "
               "backward pass by hand", epilog=EXAMPLES)
    p.add_argument("--version", action="version", version=f"minivae {__version__}", help="print the version")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND",
                           title="commands (python -m minivae COMMAND --help)")
    p.commands = {name: module.add_parser(sub) for name, module in COMMANDS.items()}
    return p


def main(argv=None):
    """Run ``python -m minivae`` on ``argv`` (default: the process's); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        try:
            args = parser.parse_args(argv)
        except Respelled as old:
            new = old.argv(argv)
            said = f"{argv[0]} {old.option}" + (f" {old.value}" if old.drop else "")
            print(f"note: `{said} ...` is now spelled `python -m minivae {' '.join(new)}`", file=sys.stderr)
            args = parser.parse_args(new)
    except SystemExit as exc:                       # --help, --version (0) or a usage error (2), already printed
        return exc.code if isinstance(exc.code, int) else 2
    return run_guarded(COMMANDS[args.command], args, parser.commands[args.command])

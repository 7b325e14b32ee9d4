"""The parser every command uses: no prefix matching, defaults in the help, a suggestion for a wrong flag.

:class:`Parser` is an ``argparse.ArgumentParser`` that

* never takes ``--epoch`` for ``--epochs`` (``allow_abbrev=False``, also for
  the sub-parsers it makes);
* shows every option's default and keeps the example lines of an epilog as
  written;
* rejects an unknown flag with the usage of the command it was given to
  (``python -m minivae train``, not the top-level one) and the nearest
  known flag ("did you mean --latent-dim?");
* records which options the command line gave (:func:`given`), so a resumed
  run can tell an option given now from one left at its default.

:func:`flag_names` turns a library message about config fields
(``{'iwae_k': 5}``, ``latent='categorical'``) into one about flags.
"""
from __future__ import annotations

import argparse
import difflib
import re

GIVEN = "_given"        # the namespace attribute that holds the destinations given on the command line


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults after every option's text; the description and the examples as written."""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser as described in the module docstring."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)
        self._seen = set()

    def add_subparsers(self, **kwargs):
        kwargs.setdefault("parser_class", Parser)
        return super().add_subparsers(**kwargs)

    def _get_values(self, action, arg_strings):
        self._seen.add(action.dest)                    # called only for the options the command line gave
        return super()._get_values(action, arg_strings)

    def parse_known_args(self, args=None, namespace=None):
        self._seen, self._args = set(), list(args) if args is not None else None
        namespace, extras = super().parse_known_args(args, namespace)
        setattr(namespace, GIVEN, set(getattr(namespace, GIVEN, ())) | self._seen)
        if extras:                                     # here, so the usage is this command's
            flags = [t for t in extras if t.startswith("--")]
            self.error(f"unrecognized arguments: {' '.join(extras)}{self.suggestion(flags[0]) if flags else ''}")
        return namespace, extras

    def error(self, message):
        """Exit 2 with the error under the command's usage, shortened to one line where the full one is long."""
        message = self._unknown_flag_before(message)
        usage = self.format_usage()
        if usage.count("\n") > 6:                      # train's 45 lines would bury the one that matters
            fmt = self._get_formatter()
            positionals = " ".join(fmt._format_args(a, a.dest) for a in self._get_positional_actions())
            usage = f"usage: {self.prog} [options] {positionals}".rstrip() + f"  (`{self.prog} --help` lists them)\n"
        self.exit(2, f"{usage}{self.prog}: error: {message}\n")

    def _unknown_flag_before(self, message):
        """"invalid choice: '1'" after an unknown flag (``bench --epoch 1``) is about the flag: say so."""
        m = re.match(r"argument \S+: invalid choice: '([^']*)'", message)
        args = getattr(self, "_args", None) or []
        if m and m.group(1) in args:
            before = args[args.index(m.group(1)) - 1] if args.index(m.group(1)) else ""
            known = {s for a in self._actions for s in a.option_strings}
            if before.startswith("--") and before.split("=", 1)[0] not in known:
                return f"unrecognized arguments: {before}{self.suggestion(before)}"
        return message

    def suggestion(self, token):
        """" (did you mean --flag?)" for the known flag nearest to ``token``, or ""."""
        flags = [s for a in self._actions for s in a.option_strings if s.startswith("--")]
        near = difflib.get_close_matches(token.split("=", 1)[0], flags, n=1, cutoff=0.6)
        return f" (did you mean {near[0]}?)" if near else ""


def given(args):
    """The destinations of the options the command line gave (not those left at their defaults)."""
    return set(getattr(args, GIVEN, ()))


def flag_of(parser, dest):
    """The long flag of destination ``dest`` in ``parser`` or its sub-commands' (``iwae_k`` -> ``--iwae-k``), or None."""
    for a in parser._actions:
        if a.dest == dest and a.option_strings:
            return next((s for s in a.option_strings if s.startswith("--")), a.option_strings[0])
    subs = [p for a in parser._actions if isinstance(a, argparse._SubParsersAction) for p in a.choices.values()]
    return next((f for f in (flag_of(p, dest) for p in subs) if f), None)      # bench nll's flags, for bench


def flag_names(parser, message):
    """``message`` with the config field names of ``parser``'s options written as its flags.

    ``{'iwae_k': 5}`` -> ``--iwae-k 5``; ``latent='categorical'`` -> ``--latent categorical``;
    ``iwae_k`` -> ``--iwae-k``; a message that starts with a field name (``n_critic must be ...``) gets
    its flag in front (``--n-critic: n_critic must be ...``).
    """
    def flag(name):
        return flag_of(parser, name) or name

    text = message[len("each of "):] if message.startswith("each of ") else message
    lead = next((d for d in sorted({a.dest for a in parser._actions if a.option_strings}, key=len, reverse=True)
                 if text.startswith(d) and text[len(d):len(d) + 1] in ("", " ", "(", ":")), None)
    out = re.sub(r"'(\w+)': ", lambda m: f"{flag(m.group(1))} " if flag_of(parser, m.group(1)) else m.group(0),
                 message)
    out = re.sub(r"\{(--[^{}]*)\}", r"\1", out)
    out = re.sub(r"\b(\w+)=('?)([^\s,')]*)\2",
                 lambda m: (m.group(0) if not flag_of(parser, m.group(1)) else flag(m.group(1))
                            + ("" if m.group(3) == "True" else f" {m.group(3)}")), out)
    out = re.sub(r"(?<![\w-])([a-z0-9]+(?:_[a-z0-9]+)+)\b",
                 lambda m: flag(m.group(1)) if flag_of(parser, m.group(1)) else m.group(0), out)
    if lead is not None and flag(lead) not in out:
        out = f"{flag(lead)}: {out}"
    return out


class Respelled(Exception):
    """An old spelling met while parsing: run ``command`` instead, without the option that asked for it if ``drop``."""

    def __init__(self, command, option, value, drop):
        super().__init__(command)
        self.command, self.option, self.value, self.drop = command, option, value, drop

    def argv(self, argv):
        """The new command line of the old one ``argv`` (its command first)."""
        rest = list(argv[1:])
        if self.drop:
            for i, t in enumerate(rest):
                if t == f"{self.option}={self.value}":
                    del rest[i]
                    break
                if t == self.option and i + 1 < len(rest) and rest[i + 1] == self.value:
                    del rest[i:i + 2]
                    break
        return [self.command, *rest]


def respelling(values_to_command, drop):
    """An argparse action for an option that, for some values, now names another command.

    ``values_to_command``: {value: new command} (``None``: any value); for the values it names, parsing stops
    with :class:`Respelled`; ``drop``: the new command line leaves the option out (it named the command).
    """
    class Respell(argparse.Action):
        def __call__(self, parser, namespace, values, option_string=None):
            command = values_to_command.get(values, values_to_command.get(None))
            if command is None:
                setattr(namespace, self.dest, values)
                return
            raise Respelled(command, option_string, values, drop)
    return Respell

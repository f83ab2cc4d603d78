"""User errors and the one-line, exit-code-2 convention every command line follows.

A mistake a user can fix (a missing path, a wrong value, an incomplete run given as input) raises
`UsageError` (or a subclass) with a message that names the value. `cli_main` turns it into one
line on stderr and exit code 2, never a traceback; `OneLineParser` does the same for argparse's
own errors. Depends on nothing but the standard library, so curation and training share it.
"""

import argparse
import functools
import sys

USAGE_EXIT = 2


class UsageError(ValueError):
    """A mistake in what the user asked for; its message names the value or path."""


class IncompleteRun(UsageError):
    """An input run without its manifest, or whose files do not match it."""


def one_line(message: object) -> str:
    return " ".join(str(message).split())


def report_usage_error(exc: BaseException, prog: str | None = None) -> int:
    prefix = f"{prog}: " if prog else ""
    print(f"{prefix}error: {one_line(exc)}", file=sys.stderr)
    return USAGE_EXIT


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (`prog: error: ...`) and exit code 2, without the
    usage block; --help is unchanged."""

    def error(self, message):
        self.exit(USAGE_EXIT, f"{self.prog}: error: {one_line(message)}\n")


def cli_main(*user_errors: type[BaseException]):
    """Decorate a `main(argv) -> int`: UsageError and the listed exception types become one line
    on stderr and exit code 2."""
    caught = (UsageError, *user_errors)

    def wrap(main):
        @functools.wraps(main)
        def wrapped(argv=None):
            try:
                return main(argv)
            except caught as exc:
                return report_usage_error(exc)
        return wrapped
    return wrap

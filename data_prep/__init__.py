"""Corpus preparers that write Kaldi data dirs: synthesised speech (default), LibriSpeech, Common Voice,
folders."""

import argparse
import sys


class OneLineErrorParser(argparse.ArgumentParser):
    """Argument errors as one line and exit code 1, like every other error of the preparers."""

    def error(self, message: str) -> None:
        print(f"error: {message} (see --help)", file=sys.stderr)
        sys.exit(1)


class PrepError(RuntimeError):
    """A user-facing failure; the message names the file at fault."""

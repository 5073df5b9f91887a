"""Command line of the practitioner tools: ``labsupport COMMAND ...`` (the console script installed with the
package), or ``python -m labsupport COMMAND ...`` (the same, without the script on PATH).

    labsupport --version
    labsupport rm-report --help

Commands:
    rm-report FILE [--json OUT] [--no-length-norm] [--ties drop|keep]
        score your own reward model: Acc, Acc-W, HAcc, HAcc-W on pairs and one-vs-many groups
        (see :mod:`labsupport.rmreport` for the input format)

``main(argv)`` returns the exit status: 0 on success, 2 on any error, which is printed to stderr as one line
("rm-report: error: ...") and never as a traceback; 141, silently, when the reader of the output stops early.
The command line starts without PyTorch: ``rm-report`` needs numpy only, and the package imports its other modules
on first use.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
from typing import Optional, Sequence

from . import __version__, rmreport  # rmreport needs numpy only; nothing here imports PyTorch

__all__ = ["main"]

#: the program name in usage lines: the console script's; ``python -m labsupport`` passes its own
PROG = "labsupport"
#: the exit status when the reader of stdout closes it early (``... | head -1``): 128 + SIGPIPE, what a shell
#: reports for a program the signal stopped, with nothing on stderr
BROKEN_PIPE = 141


class _UsageError(Exception):
    """A command-line mistake caught by argparse; reported as one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse would print the usage too and exit; one line is enough
        raise _UsageError(f"{self.prog}: error: {message} (see --help)")


def _unknown_options(prog: str, argv: Sequence[str]) -> Optional[str]:
    """The message naming the unknown options in argv, if any. argparse reports a missing COMMAND or FILE before
    them (``labsupport --frob`` says only that COMMAND is required), so they are looked for with both optional."""
    try:
        _, extra = _parser(prog, lenient=True).parse_known_args(argv)
    except (_UsageError, SystemExit):
        return None
    unknown = [a for a in extra if a.startswith("-") and a != "-"]
    return f"{prog}: error: unrecognized arguments: {' '.join(unknown)} (see --help)" if unknown else None


def _parser(prog: str = PROG, lenient: bool = False) -> argparse.ArgumentParser:
    """The command line's parser; ``lenient``: COMMAND and FILE optional (to find unknown options, see above)."""
    parser = _Parser(
        prog=prog,
        description="Practitioner tools of the book 'Imperfect Rewards'.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = not lenient
    rm = commands.add_parser(
        "rm-report",
        help="score your own reward model (Acc, Acc-W, HAcc, HAcc-W)",
        description=textwrap.fill(
            "Score a reward model on your responses: Acc, Acc-W, HAcc and HAcc-W on all preference pairs and on "
            "one-vs-many groups, with the counts behind them (pairs, ground-truth ties, mis-rankings forgiven). "
            "Prints a table; --json writes the same numbers as JSON.",
            width=116,
        ),
        epilog=rmreport.INPUT_FORMAT + f"\nExample: {prog} rm-report {rmreport.EXAMPLE}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rm.add_argument("file", metavar="FILE", nargs="?" if lenient else None,
                    help="JSON Lines file of response, pair and v_hat records (format below)")
    rm.add_argument(
        "--json",
        metavar="OUT",
        dest="json_out",
        help="also write the report as JSON to OUT; '-' writes only the JSON to stdout (no table)",
    )
    rm.add_argument(
        "--no-length-norm",
        dest="length_norm",
        action="store_false",
        help="report acc_w / hacc_w with un-normalised weights log pi_0(y) (both weightings are always shown)",
    )
    rm.add_argument(
        "--ties",
        choices=rmreport.metrics.TIE_CONVENTIONS,
        default="drop",
        help="two scored responses of a prompt with equal scores: drop the pair (default), or keep it with the "
        "response on the earlier line chosen (the official evaluation's on-policy pairs)",
    )
    return parser


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return os.path.abspath(a) == os.path.abspath(b)


def _rm_report(args: argparse.Namespace) -> int:
    if args.json_out not in (None, "-") and _same_file(args.file, args.json_out):
        raise rmreport.RMReportError(f"--json {args.json_out!r} is the input FILE; the report would overwrite the "
                                     "records (choose another OUT)", names_source=True)
    report = rmreport.rm_report(args.file, length_norm=args.length_norm, ties=args.ties)
    if args.json_out == "-":
        json.dump(report.to_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    if args.json_out is not None:
        try:
            with open(args.json_out, "w", encoding="utf-8") as out:
                json.dump(report.to_dict(), out, indent=2)
                out.write("\n")
        except OSError as exc:
            raise rmreport.RMReportError(f"cannot write {args.json_out!r}: {exc.strerror or exc}",
                                         names_source=True) from None
    print(report.format_table())
    if args.json_out is not None:
        print(f"\n  JSON written to {args.json_out}")
    return 0


def main(argv: Optional[Sequence[str]] = None, prog: str = PROG) -> int:
    """Run one command; ``argv`` defaults to ``sys.argv[1:]``, ``prog`` names the program in usage and help.
    Returns 0, or 2 after a one-line error on stderr."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = _parser(prog).parse_args(argv)
    except _UsageError as exc:
        print(_unknown_options(prog, argv) or exc, file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help, --version
        return exc.code if isinstance(exc.code, int) else 0
    try:
        status = _rm_report(args)
        sys.stdout.flush()  # a reader that went away (| head) is found here, not at the interpreter's exit
        return status
    except BrokenPipeError:  # the reader of stdout stopped early: not an error of the input, nothing to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the exit's flush writes nowhere
        return BROKEN_PIPE
    except (rmreport.RMReportError, OSError) as exc:
        # "data.jsonl: line 7: ...", "data.jsonl: no records: ..."; "cannot read 'data.jsonl': ..." names it already
        where = "" if getattr(exc, "names_source", True) else f"{args.file}: "
        print(f"{args.command}: error: {where}{exc}", file=sys.stderr)
        return 2


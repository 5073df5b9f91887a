"""Score your own reward model: Acc, Acc-W, HAcc and HAcc-W of a reward model on your own responses.

    from labsupport.rmreport import EXAMPLE, rm_report
    report = rm_report(EXAMPLE)                 # a path to a JSON Lines file, or a list of dicts
    print(report.format_table())
    report.acc, report.hacc, report.acc_w, report.hacc_w, report.n_pairs, report.n_ties
    report.to_dict()                            # every number and count, ready for json.dump
    rm_report(EXAMPLE, ties="keep")             # ground-truth ties kept, as the official on-policy evaluation

On the command line: ``python -m labsupport rm-report FILE [--json OUT] [--no-length-norm] [--ties drop|keep]``.

The metrics are the functions of :mod:`labsupport.metrics` (the definitions of section 4 of the paper); this module
only reads and checks the records, builds the preference pairs (with :func:`labsupport.metrics.preference_pairs`), the
one-vs-many groups and V_hat, and hands the arrays to those functions. Every input problem raises
:class:`RMReportError` (a ``ValueError``) with a one-line message that names the line (``record`` for a list of dicts)
and the field; nothing is dropped silently: the report counts ties, responses in no pair and where each V_hat came
from.
"""

from __future__ import annotations

import importlib.resources
import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Optional, Union

import numpy as np

from . import metrics

INPUT_FORMAT = """\
Input: JSON Lines, one JSON object per line (blank lines are skipped). Three kinds of record, told apart by their keys:

  response  {"prompt": P, "response": R, "proxy": float, "logp": float, "length": int,
             "score": float (optional), "policy_sample": bool (optional, default false)}
      prompt, response: a string or an integer; a response id is unique within its prompt.
      proxy: the reward model's reward r_P(y). logp: log pi_0(y), the initial policy's log-probability of the whole
      response (<= 0). length: the response's length in tokens (> 0). score: the ground-truth reward r_G(y).
      policy_sample: true when the response was sampled from the initial policy. score and policy_sample may be null.
  pair      {"prompt": P, "chosen": R, "rejected": R}
      an explicit preference: response chosen is better than response rejected (both responses of prompt P).
      A prompt with pair records takes its pairs from them, not from scores; two responses form at most one pair.
  v_hat     {"prompt": P, "v_hat": float}
      V_hat(x): the initial policy's expected proxy reward on prompt P (at most one per prompt).

Pairs: a prompt without pair records gets one pair for every two of its scored responses, the higher score chosen;
two equal scores are a tie, counted, and by default (--ties drop) dropped; with --ties keep it is kept as a pair whose
chosen response is the one on the earlier line (the official evaluation keeps on-policy ties, oriented arbitrarily).
Responses in no pair (no score, a dropped tie only, or named by no pair record) are counted.
V_hat(x): the prompt's v_hat record if it has one, else the mean proxy reward of its responses with
"policy_sample": true. A prompt with pairs but neither is an error (HAcc needs V_hat).
One-vs-many groups: a prompt with scores gives its highest-scored response against every strictly lower one (each
response sharing the top score gives a group; --ties does not change the groups); a prompt with pair records gives
its pairs grouped by chosen response.
Weights (Acc-W, HAcc-W): w proportional to pi_0(y+) pi_0(y-) (one-vs-many: pi_0(y+) prod_k pi_0(y_k-)), normalised
over all pairs (groups); length-normalised by default (log pi_0(y) / length); the un-normalised ones are reported too.
Any other field, a duplicate key, a non-finite number (NaN, Infinity, 1e400, an integer beyond the float range), a
length above 2^53 or a wrong type is an error naming the line and the field; a line that is not JSON (or nests too
deeply to read) is an error naming the line. A prompt may give at most 10^9 pairs from its scores.
A CSV file or a spreadsheet is refused as such; with one column per field, pandas converts it:
pd.read_csv("responses.csv").to_json("responses.jsonl", orient="records", lines=True).
Output: the metrics are finite and lie in [0, 1] for any accepted input; a value that cannot be finite (V_hat, the
mean proxy reward of policy samples near the float limit, can overflow) is written as null in --json, so the JSON
is always valid.
"""
__doc__ += "\n" + INPUT_FORMAT

__all__ = ["EXAMPLE", "INPUT_FORMAT", "PromptSummary", "RMReport", "RMReportError", "Scores", "rm_report"]

EXAMPLE = importlib.resources.files("labsupport") / "data" / "rm_example.jsonl"
"""The example input shipped with the package (4 prompts, 17 responses, policy samples, ties, explicit pairs)."""

Id = Union[str, int]

_RESPONSE_FIELDS = ("prompt", "response", "proxy", "logp", "length", "score", "policy_sample")
_RESPONSE_REQUIRED = ("prompt", "response", "proxy", "logp", "length")
_PAIR_FIELDS = ("prompt", "chosen", "rejected")
_V_HAT_FIELDS = ("prompt", "v_hat")
#: the largest response length accepted (tokens): lengths are used as floats, exact up to 2^53
MAX_LENGTH = 2**53
#: the most preference pairs one prompt may give from its scores (about 44,700 scored responses): the pairs are
#: counted in bounded memory, but their time grows with their number (about 10^8 pairs per second here)
MAX_PAIRS_PER_PROMPT = 10**9


class RMReportError(ValueError):
    """A problem with the input of :func:`rm_report`; ``line`` (1-based) and ``field`` say where, when known.
    ``names_source``: the message names the file itself ("cannot read 'x.jsonl': ..."), so a caller that prefixes
    messages with the file's name leaves this one as it is."""

    def __init__(self, message: str, line: Optional[int] = None, field: Optional[str] = None, where: str = "line",
                 names_source: bool = False):
        super().__init__(message if line is None else f"{where} {line}: {message}")
        self.line = line
        self.field = field
        self.names_source = names_source


# ----------------------------------------------------------------------------------------------------------------------
# Report objects
# ----------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scores:
    """The four metrics on one set of comparisons (all pairs, or all one-vs-many groups), with both weightings.

    ``n``: number of pairs (groups). ``mis_ranked``: comparisons with r_P(y+) <= r_P(y-) (for a group, the best
    rejected reward), ``proxy_ties`` of them with equality; ``forgiven``: mis-ranked ones with r_P(y-) < V_hat(x),
    which HAcc counts as right. So acc = 1 - mis_ranked / n and hacc = acc + forgiven / n.
    """

    n: int
    acc: float
    hacc: float
    acc_w_length_normalised: float
    hacc_w_length_normalised: float
    acc_w_unnormalised: float
    hacc_w_unnormalised: float
    mis_ranked: int
    proxy_ties: int
    forgiven: int


@dataclass(frozen=True)
class PromptSummary:
    """One prompt: its counts and its V_hat (``v_hat_from``: "v_hat record", "policy samples" or None)."""

    prompt: Id
    line: int
    responses: int
    policy_samples: int
    pairs_from: str
    pairs: int
    ties: int
    groups: int
    v_hat: Optional[float]
    v_hat_from: Optional[str]


@dataclass(frozen=True)
class RMReport:
    """The report of :func:`rm_report`: counts, the metrics on pairs and on one-vs-many groups, per-prompt rows.

    ``acc``, ``hacc``, ``acc_w``, ``hacc_w`` are the pairwise metrics; ``acc_w`` and ``hacc_w`` use the weighting
    chosen by ``length_norm`` (both weightings are in ``pairwise`` and ``one_vs_many``). ``ties``: the convention for
    pairs of equal scores ("drop" or "keep", see :func:`labsupport.metrics.preference_pairs`); ``n_ties`` counts those
    pairs, which are among ``n_pairs`` with "keep".
    """

    source: str
    length_norm: bool
    ties: str
    n_prompts: int
    n_responses: int
    n_policy_samples: int
    n_pairs: int
    n_pairs_from_scores: int
    n_pairs_from_records: int
    n_ties: int
    n_prompts_with_pair_records: int
    n_prompts_without_pairs: int
    n_responses_in_no_pair: int
    n_v_hat_given: int
    n_v_hat_estimated: int
    n_groups: int
    n_groups_several: int
    pairwise: Scores
    one_vs_many: Scores
    prompts: tuple[PromptSummary, ...] = field(repr=False)

    @property
    def acc(self) -> float:
        return self.pairwise.acc

    @property
    def hacc(self) -> float:
        return self.pairwise.hacc

    @property
    def acc_w(self) -> float:
        return _headline(self.pairwise, self.length_norm)[0]

    @property
    def hacc_w(self) -> float:
        return _headline(self.pairwise, self.length_norm)[1]

    def to_dict(self) -> dict[str, Any]:
        """Every number of the report as plain JSON-ready Python values; a non-finite float becomes None (null)."""

        def scores(s: Scores) -> dict[str, Any]:
            acc_w, hacc_w = _headline(s, self.length_norm)
            d = asdict(s)
            return {"n": d.pop("n"), "acc": d.pop("acc"), "hacc": d.pop("hacc"), "acc_w": acc_w, "hacc_w": hacc_w, **d}

        return {
            "source": self.source,
            "length_norm": self.length_norm,
            "ties": self.ties,
            "counts": {
                "prompts": self.n_prompts,
                "responses": self.n_responses,
                "policy_samples": self.n_policy_samples,
                "pairs": self.n_pairs,
                "pairs_from_scores": self.n_pairs_from_scores,
                "pairs_from_records": self.n_pairs_from_records,
                "ties_dropped": self.n_ties if self.ties == "drop" else 0,
                "ties_kept": self.n_ties if self.ties == "keep" else 0,
                "prompts_with_pair_records": self.n_prompts_with_pair_records,
                "prompts_without_pairs": self.n_prompts_without_pairs,
                "responses_in_no_pair": self.n_responses_in_no_pair,
                "v_hat_given": self.n_v_hat_given,
                "v_hat_estimated": self.n_v_hat_estimated,
                "groups": self.n_groups,
                "groups_with_several_rejected": self.n_groups_several,
            },
            "pairwise": scores(self.pairwise),
            "one_vs_many": scores(self.one_vs_many),
            "prompts": [_finite_or_none(asdict(p)) for p in self.prompts],
        }

    def format_table(self) -> str:
        """The report as a plain-text table (what ``python -m labsupport rm-report`` prints)."""
        p, g = self.pairwise, self.one_vs_many
        mark_norm, mark_raw = ("*", " ") if self.length_norm else (" ", "*")
        lines = [
            f"Reward-model report: {self.source}",
            "",
            f"  prompts                          {self.n_prompts:6d}   ({self.n_prompts_with_pair_records} with pair "
            f"records, {self.n_prompts_without_pairs} without any pair)",
            f"  responses                        {self.n_responses:6d}   ({self.n_policy_samples} policy samples, "
            f"{self.n_responses_in_no_pair} in no pair)",
            f"  preference pairs                 {self.n_pairs:6d}   ({self.n_pairs_from_scores} from scores, "
            f"{self.n_pairs_from_records} from pair records)",
            f"  {'tied ground-truth pairs ' + ('dropped' if self.ties == 'drop' else 'kept'):<33}{self.n_ties:6d}"
            + ("   (--ties keep: among the pairs, the earlier response chosen)" if self.ties == "keep" else ""),
            f"  one-vs-many groups               {self.n_groups:6d}   ({self.n_groups_several} with several rejected)",
            f"  V_hat(x)                                  {self.n_v_hat_given} from v_hat records, "
            f"{self.n_v_hat_estimated} mean proxy reward of policy samples",
            "",
            f"  {'metric':<36}{'pairs':>8}{'one-vs-many':>14}",
            f"  {'Acc':<36}{p.acc:8.4f}{g.acc:14.4f}",
            f"  {'HAcc':<36}{p.hacc:8.4f}{g.hacc:14.4f}",
            f"  {'Acc-W   length-normalised ' + mark_norm:<36}{p.acc_w_length_normalised:8.4f}"
            f"{g.acc_w_length_normalised:14.4f}",
            f"  {'HAcc-W  length-normalised ' + mark_norm:<36}{p.hacc_w_length_normalised:8.4f}"
            f"{g.hacc_w_length_normalised:14.4f}",
            f"  {'Acc-W   un-normalised ' + mark_raw:<36}{p.acc_w_unnormalised:8.4f}{g.acc_w_unnormalised:14.4f}",
            f"  {'HAcc-W  un-normalised ' + mark_raw:<36}{p.hacc_w_unnormalised:8.4f}{g.hacc_w_unnormalised:14.4f}",
            "",
            f"  {'mis-ranked: r_P(y+) <= r_P(y-)':<36}{p.mis_ranked:8d}{g.mis_ranked:14d}",
            f"  {'  of which proxy ties':<36}{p.proxy_ties:8d}{g.proxy_ties:14d}",
            f"  {'forgiven: also r_P(y-) < V_hat(x)':<36}{p.forgiven:8d}{g.forgiven:14d}",
            "",
            "  * the weighting reported as acc_w / hacc_w"
            + (" (--no-length-norm selects the un-normalised one)" if self.length_norm else ""),
            "  one-vs-many: r_P(y-) is the best rejected reward of the group; weights use all its responses",
        ]
        return "\n".join(lines)


def _finite_or_none(row: dict[str, Any]) -> dict[str, Any]:
    return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in row.items()}


def _headline(s: Scores, length_norm: bool) -> tuple[float, float]:
    if length_norm:
        return s.acc_w_length_normalised, s.hacc_w_length_normalised
    return s.acc_w_unnormalised, s.hacc_w_unnormalised


# ----------------------------------------------------------------------------------------------------------------------
# Reading and checking records
# ----------------------------------------------------------------------------------------------------------------------


def _show(value: Any) -> str:
    try:
        text = repr(value)
    except ValueError:  # an int too long to print (Python's limit of 4,300 digits)
        text = _BigInt.describe(value.bit_length() * math.log10(2))
    return text if len(text) <= 60 else text[:57] + "..."


class _BigInt:
    """An integer literal longer than Python converts (4,300 digits): kept as text, refused by the field checks."""

    def __init__(self, digits: str):
        self.digits = digits

    @staticmethod
    def describe(n_digits: float) -> str:
        return f"<an integer of {n_digits:.0f} digits>"

    def __repr__(self) -> str:
        return self.describe(len(self.digits.lstrip("-")))


def _parse_int(text: str) -> Union[int, _BigInt]:
    return int(text) if len(text) <= 4000 else _BigInt(text)


@dataclass
class _Prompt:
    key: Id
    line: int
    responses: dict = field(default_factory=dict)  # response id -> (index into the response arrays, line)
    pairs: list = field(default_factory=list)  # (chosen id, rejected id, line)
    pair_lines: dict = field(default_factory=dict)  # frozenset of the two ids -> line
    v_hat: Optional[float] = None
    v_hat_line: Optional[int] = None


class _Reader:
    """Collects the records one by one, checking each; ``finish`` runs the checks that need all of them."""

    def __init__(self, where: str):
        self.where = where
        self.prompts: dict[Id, _Prompt] = {}  # in order of first appearance
        self.position: dict[Id, int] = {}  # prompt -> its index in self.prompts
        self.prompt_index: list[int] = []
        self.proxy: list[float] = []
        self.logp: list[float] = []
        self.length: list[int] = []
        self.score: list[float] = []
        self.policy: list[bool] = []
        self.response_id: list[Id] = []
        self.records = 0  # every record read (responses, pairs, v_hat)

    def error(self, message: str, line: int, field_name: Optional[str] = None) -> RMReportError:
        return RMReportError(message, line, field_name, self.where)

    # values ------------------------------------------------------------------------------------------------------

    def number(self, rec: Mapping, name: str, line: int) -> float:
        value = rec[name]
        x = math.nan
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                x = float(value)
            except OverflowError:  # an integer beyond the float range
                pass
        if not math.isfinite(x):
            raise self.error(f"field {name!r} must be a finite number; got {_show(value)}", line, name)
        return x

    def ident(self, rec: Mapping, name: str, line: int) -> Id:
        value = rec[name]
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise self.error(f"field {name!r} must be a string or an integer; got {_show(value)}", line, name)
        return value

    def check_fields(self, rec: Mapping, kind: str, allowed: tuple, required: tuple, line: int) -> None:
        for name in rec:
            if name not in allowed:
                raise self.error(
                    f"unknown field {_show(name)} in a {kind} record (its fields: {', '.join(allowed)})", line, name
                )
        for name in required:
            if name not in rec:
                raise self.error(f"field {name!r} is missing (a {kind} record needs {', '.join(required)})", line, name)

    def prompt(self, rec: Mapping, line: int) -> _Prompt:
        key = self.ident(rec, "prompt", line)
        if key not in self.prompts:
            self.position[key] = len(self.prompts)
            self.prompts[key] = _Prompt(key, line)
        return self.prompts[key]

    # records -----------------------------------------------------------------------------------------------------

    def add(self, rec: Any, line: int) -> None:
        if not isinstance(rec, Mapping):
            kind = type(rec).__name__
            raise self.error(f"expected a JSON object (one record per line); got {kind} {_show(rec)}", line)
        self.records += 1
        if "response" in rec:
            self.add_response(rec, line)
        elif "chosen" in rec or "rejected" in rec:
            self.add_pair(rec, line)
        elif "v_hat" in rec:
            self.add_v_hat(rec, line)
        else:
            keys = ", ".join(_show(k) for k in rec) or "none"
            raise self.error(
                "unknown record kind: a record needs 'response' (a response), 'chosen' and 'rejected' (a pair) or "
                f"'v_hat'; got fields {keys}",
                line,
            )

    def add_response(self, rec: Mapping, line: int) -> None:
        self.check_fields(rec, "response", _RESPONSE_FIELDS, _RESPONSE_REQUIRED, line)
        p = self.prompt(rec, line)
        rid = self.ident(rec, "response", line)
        proxy = self.number(rec, "proxy", line)
        logp = self.number(rec, "logp", line)
        if logp > 0:
            raise self.error(f"field 'logp' must be a log-probability (<= 0); got {_show(rec['logp'])}", line, "logp")
        length = rec["length"]
        if isinstance(length, bool) or not isinstance(length, int) or not 0 < length <= MAX_LENGTH:
            raise self.error(f"field 'length' must be a positive integer (tokens, at most 2^53); got {_show(length)}",
                             line, "length")
        score = math.nan
        if rec.get("score") is not None:
            score = self.number(rec, "score", line)
        policy = rec.get("policy_sample")
        if policy is None:
            policy = False
        elif not isinstance(policy, bool):
            raise self.error(f"field 'policy_sample' must be true or false; got {_show(policy)}", line, "policy_sample")
        if rid in p.responses:
            raise self.error(
                f"field 'response': prompt {_show(p.key)} already has a response {_show(rid)} "
                f"({self.where} {p.responses[rid][1]})",
                line,
                "response",
            )
        p.responses[rid] = (len(self.proxy), line)
        self.prompt_index.append(self.position[p.key])
        self.response_id.append(rid)
        self.proxy.append(proxy)
        self.logp.append(logp)
        self.length.append(length)
        self.score.append(score)
        self.policy.append(policy)

    def add_pair(self, rec: Mapping, line: int) -> None:
        self.check_fields(rec, "pair", _PAIR_FIELDS, _PAIR_FIELDS, line)
        p = self.prompt(rec, line)
        chosen = self.ident(rec, "chosen", line)
        rejected = self.ident(rec, "rejected", line)
        if chosen == rejected:
            raise self.error(
                f"field 'rejected' equals field 'chosen' ({_show(chosen)}); a pair needs two different responses",
                line,
                "rejected",
            )
        both = frozenset((chosen, rejected))
        if both in p.pair_lines:
            raise self.error(
                f"fields 'chosen', 'rejected': prompt {_show(p.key)} already has a pair of {_show(chosen)} and "
                f"{_show(rejected)} ({self.where} {p.pair_lines[both]})",
                line,
                "chosen",
            )
        p.pair_lines[both] = line
        p.pairs.append((chosen, rejected, line))

    def add_v_hat(self, rec: Mapping, line: int) -> None:
        self.check_fields(rec, "v_hat", _V_HAT_FIELDS, _V_HAT_FIELDS, line)
        p = self.prompt(rec, line)
        value = self.number(rec, "v_hat", line)
        if p.v_hat_line is not None:
            raise self.error(
                f"field 'v_hat': prompt {_show(p.key)} already has one ({self.where} {p.v_hat_line})", line, "v_hat"
            )
        p.v_hat, p.v_hat_line = value, line

    # checks across records ---------------------------------------------------------------------------------------

    def finish(self) -> None:
        if not self.proxy:
            if not self.records:
                what = "the file is empty (or holds only blank lines)" if self.where == "line" else "no records given"
                raise RMReportError(f"no records: {what}; nothing to score (see the input format with --help)")
            raise RMReportError(f"no response records among the {_plural(self.records, 'record')} (pair and v_hat "
                                "records only); nothing to score (see the input format with --help)")
        problems: list[RMReportError] = []
        for p in self.prompts.values():
            for chosen, rejected, line in p.pairs:
                for name, rid in (("chosen", chosen), ("rejected", rejected)):
                    if rid not in p.responses:
                        problems.append(
                            self.error(
                                f"field {name!r} names response {_show(rid)}, which prompt {_show(p.key)} does "
                                "not have",
                                line,
                                name,
                            )
                        )
                        break
            if p.v_hat_line is not None and not p.responses:
                problems.append(
                    self.error(f"field 'prompt': prompt {_show(p.key)} has no response records", p.v_hat_line, "prompt")
                )
        if problems:
            raise min(problems, key=lambda e: e.line or 0)  # each made by self.error, with its line


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


#: how files that are not JSON Lines text begin (first bytes -> what the file is), for the message that refuses them
_NOT_TEXT = {
    b"PK\x03\x04": "a ZIP archive (an Excel .xlsx workbook?)",
    b"\xd0\xcf\x11\xe0": "an Excel .xls workbook (or another Office document)",
    b"\x1f\x8b": "gzip-compressed (decompress it first)",
    b"PAR1": "a Parquet file",
    b"\xff\xfe": "UTF-16 text (it starts with a UTF-16 byte-order mark; save it as UTF-8)",
    b"\xfe\xff": "UTF-16 text (it starts with a UTF-16 byte-order mark; save it as UTF-8)",
}


def _not_utf8(raw: bytes, number: int, exc: UnicodeDecodeError) -> str:
    """The message for a line that is not UTF-8: what the file is when its first bytes say so, else the bad byte."""
    if number == 1:
        for magic, what in _NOT_TEXT.items():
            if raw.startswith(magic):
                return f"not valid UTF-8 text: the file is {what}; rm-report reads JSON Lines text (see --help)"
    return (f"not valid UTF-8 text: byte 0x{raw[exc.start]:02x} at byte {exc.start + 1} of the line (save the file "
            "as UTF-8)")


def _not_json(text: str) -> str:
    """What a line that is not JSON looks like instead, when that is clear: CSV, UTF-16, a multi-line document."""
    stripped = text.strip()
    if "\x00" in text:
        return "; the line holds NUL bytes (UTF-16 text? save the file as UTF-8)"
    if stripped in ("[", "{"):
        return ("; a JSON document spread over several lines? rm-report reads JSON Lines: one whole JSON object "
                "per line")
    if not stripped.startswith(("{", "[")):
        for sep, name in (("\t", "tab"), (";", "semicolon"), (",", "comma")):
            if sep in stripped:
                return (f"; the line looks like {name}-separated values (CSV): rm-report reads JSON Lines, one JSON "
                        "object per line (see --help)")
        return "; rm-report reads JSON Lines, one JSON object per line (see --help)"
    return ""


def _read_lines(source: Any, reader: _Reader) -> None:
    if isinstance(source, (str, os.PathLike)) and not str(source):
        raise RMReportError("the path of the input file is empty ('')", names_source=True)
    try:
        handle = open(source, "rb") if isinstance(source, (str, os.PathLike)) else source.open("rb")
    except OSError as exc:
        stdin = " (FILE is a path: standard input is not read)" if str(source) == "-" else ""
        raise RMReportError(f"cannot read {str(source)!r}: {exc.strerror or exc}{stdin}", names_source=True) from None
    with handle:
        for number, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise reader.error(_not_utf8(raw, number, exc), number) from None
            if not text.strip():
                continue
            try:
                # without the line break, an error at the end of the line is at its last column, not "column 1"
                record = json.loads(text.rstrip("\r\n"), object_pairs_hook=_no_duplicate_keys, parse_int=_parse_int)
            except _DuplicateKey as dup:
                raise reader.error(f"field {_show(dup.args[0])} appears twice in the record", number,
                                   dup.args[0]) from None
            except json.JSONDecodeError as exc:
                raise reader.error(f"invalid JSON: {exc.msg} (column {exc.colno}){_not_json(text)}", number) from None
            except RecursionError:
                raise reader.error("invalid record: JSON nested too deeply", number) from None
            reader.add(record, number)


class _DuplicateKey(Exception):
    pass


def _no_duplicate_keys(items: list) -> dict:
    out: dict = {}
    for key, value in items:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


# ----------------------------------------------------------------------------------------------------------------------
# The report
# ----------------------------------------------------------------------------------------------------------------------


class _Tally:
    """The counts and the four metrics of :mod:`labsupport.metrics` over comparisons added in blocks (pairs, or
    one-vs-many groups given by their best rejected reward), in memory bounded by one block.

    Per comparison: r+ (``rc``), the best rejected reward (``r_worst``), V_hat of its prompt, and the weight scores
    divided by ``scale`` (a power of two; see :class:`labsupport.metrics.LogMass`) with both weightings.
    """

    def __init__(self, scale: int):
        self.n = self.mis_ranked = self.proxy_ties = self.forgiven = 0
        self.mass = {"norm": metrics.LogMass(scale, 2), "raw": metrics.LogMass(scale, 2)}

    def add(self, rc: np.ndarray, r_worst: np.ndarray, v: np.ndarray, t_norm: np.ndarray, t_raw: np.ndarray) -> None:
        right = rc > r_worst
        harm_free = metrics.harm_free(rc, r_worst, v)
        self.n += int(rc.size)
        self.mis_ranked += int((~right).sum())
        self.proxy_ties += int((rc == r_worst).sum())
        self.forgiven += int((harm_free & ~right).sum())
        self.mass["norm"].add(t_norm, [right, harm_free])
        self.mass["raw"].add(t_raw, [right, harm_free])

    def scores(self) -> Scores:
        (acc_w_n, hacc_w_n), (acc_w_r, hacc_w_r) = (self.mass[k].shares().tolist() for k in ("norm", "raw"))
        right = self.n - self.mis_ranked
        return Scores(
            n=self.n, acc=right / self.n, hacc=(right + self.forgiven) / self.n,
            acc_w_length_normalised=acc_w_n, hacc_w_length_normalised=hacc_w_n,
            acc_w_unnormalised=acc_w_r, hacc_w_unnormalised=hacc_w_r,
            mis_ranked=self.mis_ranked, proxy_ties=self.proxy_ties, forgiven=self.forgiven,
        )  # fmt: skip


def rm_report(path_or_records: Union[str, os.PathLike, Iterable[Mapping]], length_norm: bool = True,
              ties: str = "drop") -> RMReport:
    """Read responses (and optional pair and v_hat records), build the pairs and groups, compute every metric.

    ``path_or_records``: a path to a JSON Lines file (str, ``os.PathLike`` or an ``importlib.resources`` file such as
    :data:`EXAMPLE`), or an iterable of dicts with the same fields (errors then name ``record N``, 1-based).
    ``length_norm``: which weighting ``acc_w`` / ``hacc_w`` report (both are always computed). ``ties``: what
    happens to two scored responses of a prompt with equal scores: "drop" (the default, and the book's convention: a
    tie carries no preference) or "keep" (a pair, the response on the earlier line or record chosen: the official
    evaluation's treatment of on-policy ties, made deterministic). The input format is in the module docstring
    (:data:`INPUT_FORMAT`). Raises :class:`RMReportError` with a one-line message.
    """
    if not isinstance(length_norm, bool):
        raise ValueError(f"length_norm must be True or False; got {length_norm!r}")
    if not isinstance(ties, str) or ties not in metrics.TIE_CONVENTIONS:
        raise ValueError(f"ties must be one of {', '.join(map(repr, metrics.TIE_CONVENTIONS))}; got {ties!r}")
    if isinstance(path_or_records, (str, os.PathLike)) or hasattr(path_or_records, "is_file"):
        reader = _Reader("line")
        _read_lines(path_or_records, reader)
        source = str(path_or_records)
    elif isinstance(path_or_records, Mapping) or not isinstance(path_or_records, Iterable):
        raise ValueError(
            f"path_or_records must be a path or an iterable of dicts; got {type(path_or_records).__name__}"
        )
    else:
        reader = _Reader("record")
        for number, record in enumerate(path_or_records, start=1):
            reader.add(record, number)
        source = "<records>"
    reader.finish()
    return _report(reader, source, length_norm, ties)


def _report(rd: _Reader, source: str, length_norm: bool, ties: str) -> RMReport:
    prompts = list(rd.prompts.values())
    n_prompts = len(prompts)
    pidx = np.asarray(rd.prompt_index, dtype=np.intp)
    proxy = np.asarray(rd.proxy, dtype=float)
    length = np.asarray(rd.length, dtype=float)
    l_raw = np.asarray(rd.logp, dtype=float)  # l(y) = log pi_0(y), or log pi_0(y) / |y|
    l_norm = l_raw / length
    score = np.asarray(rd.score, dtype=float)
    policy = np.asarray(rd.policy, dtype=bool)
    explicit = np.array([bool(p.pairs) for p in prompts])

    # pairs per prompt, counted without building them: C(k, 2), minus the pairs of equal scores if they are dropped
    scored = np.flatnonzero(~np.isnan(score) & ~explicit[pidx])
    scored_per_prompt = np.bincount(pidx[scored], minlength=n_prompts)
    by_value = np.lexsort((score[scored], pidx[scored]))
    key_p, key_s = pidx[scored][by_value], score[scored][by_value]
    new_run = np.r_[True, (key_p[1:] != key_p[:-1]) | (key_s[1:] != key_s[:-1])] if scored.size else np.zeros(0, bool)
    run_sizes = np.diff(np.r_[np.flatnonzero(new_run), scored.size])
    ties_per_prompt = np.bincount(key_p[new_run], weights=run_sizes * (run_sizes - 1) // 2, minlength=n_prompts)
    ties_per_prompt = ties_per_prompt.astype(np.int64)
    pairs_per_prompt = scored_per_prompt * (scored_per_prompt - 1) // 2 - (ties_per_prompt if ties == "drop" else 0)
    for big in np.flatnonzero(pairs_per_prompt > MAX_PAIRS_PER_PROMPT):
        raise RMReportError(
            f"prompt {_show(prompts[big].key)} gives {int(pairs_per_prompt[big]):,} preference pairs from "
            f"{int(scored_per_prompt[big]):,} scored responses, more than the {MAX_PAIRS_PER_PROMPT:,} one prompt may "
            "give (the time grows with the pairs); split its responses over several prompts or give pair records",
            prompts[big].line, "prompt", rd.where,
        )  # fmt: skip
    n_from_scores = int(pairs_per_prompt.sum())
    for i, p in enumerate(prompts):
        pairs_per_prompt[i] += len(p.pairs)
    n_pairs = int(pairs_per_prompt.sum())
    n_ties = int(ties_per_prompt.sum())
    if n_pairs == 0:
        raise RMReportError(
            f"no preference pairs: {_plural(len(proxy), 'response')} in {_plural(n_prompts, 'prompt')}, "
            f"{_plural(n_ties, 'tied pair')} dropped; give a prompt two or more responses with different scores, "
            "or pair records"
        )

    # V_hat: the v_hat record, else the mean proxy reward of the prompt's policy samples
    samples_per_prompt = np.bincount(pidx[policy], minlength=n_prompts)
    sample_mean = np.bincount(pidx[policy], weights=proxy[policy], minlength=n_prompts) / np.maximum(
        samples_per_prompt, 1
    )
    v_hat: list[Optional[float]] = []
    v_from: list[Optional[str]] = []
    for i, p in enumerate(prompts):
        if p.v_hat_line is not None:
            v_hat.append(p.v_hat)
            v_from.append("v_hat record")
        elif samples_per_prompt[i]:
            v_hat.append(float(sample_mean[i]))
            v_from.append("policy samples")
        else:
            v_hat.append(None)
            v_from.append(None)
            if pairs_per_prompt[i]:
                n = int(pairs_per_prompt[i])
                raise RMReportError(
                    f"prompt {_show(p.key)} has {n} pair{'' if n == 1 else 's'} but no "
                    "V_hat(x), which HAcc needs: no 'v_hat' record and no response with 'policy_sample' true (add "
                    '{"prompt": ..., "v_hat": ...} or mark its initial-policy samples "policy_sample": true)',
                    p.line,
                    "v_hat",
                    rd.where,
                )
    v_prompt = np.array([np.nan if x is None else x for x in v_hat])

    # pairwise: pairs from scores streamed in blocks (bounded memory), then the pairs of pair records
    pairwise = _Tally(scale=2)
    in_pair = np.zeros(proxy.size, dtype=bool)

    def add_pairs(c: np.ndarray, r: np.ndarray) -> None:
        pairwise.add(proxy[c], proxy[r], v_prompt[pidx[c]], l_norm[c] / 2 + l_norm[r] / 2, l_raw[c] / 2 + l_raw[r] / 2)
        in_pair[c] = in_pair[r] = True

    if scored.size:
        for block in metrics.pair_blocks(pidx[scored], score[scored], block=metrics.PAIR_BLOCK, tie=ties):
            add_pairs(scored[block.chosen], scored[block.rejected])
    explicit_pairs = [(p.responses[c][0], p.responses[r][0]) for p in prompts for c, r, _ in p.pairs]
    g_chosen = np.array([c for c, _ in explicit_pairs], dtype=np.intp)
    g_rejected = np.array([r for _, r in explicit_pairs], dtype=np.intp)
    if g_chosen.size:
        add_pairs(g_chosen, g_rejected)

    # one-vs-many groups. Pair-record prompts: their pairs grouped by chosen response. Score prompts: each
    # top-scored response against all strictly lower ones, the same set for every top response of a prompt.
    top = np.full(n_prompts, -np.inf)
    np.maximum.at(top, pidx[scored], score[scored])
    lower = scored[score[scored] < top[pidx[scored]]]
    firsts = scored[(score[scored] == top[pidx[scored]]) & (np.bincount(pidx[lower], minlength=n_prompts)
                                                             > 0)[pidx[scored]]]
    group_of_pair = np.unique(g_chosen, return_inverse=True)[1] if g_chosen.size else np.zeros(0, np.intp)
    explicit_groups = np.unique(g_chosen)
    n_rec = explicit_groups.size
    # a rejected set per group id: explicit groups 0..n_rec-1, then one per score prompt (n_rec + prompt index)
    members = np.r_[g_rejected, lower]
    member_group = np.r_[group_of_pair, n_rec + pidx[lower]]
    n_sets = n_rec + n_prompts
    set_size = np.bincount(member_group, minlength=n_sets)
    scale = metrics.weight_scale(int(set_size.max(initial=0)) + 1)
    set_worst = np.full(n_sets, -np.inf)
    np.maximum.at(set_worst, member_group, proxy[members])
    set_t_norm = np.bincount(member_group, weights=l_norm[members] / scale, minlength=n_sets)
    set_t_raw = np.bincount(member_group, weights=l_raw[members] / scale, minlength=n_sets)
    chooser = np.r_[explicit_groups, firsts]
    chooser_set = np.r_[np.arange(n_rec), n_rec + pidx[firsts]]
    one_vs_many = _Tally(scale)
    if chooser.size:
        one_vs_many.add(proxy[chooser], set_worst[chooser_set], v_prompt[pidx[chooser]],
                        l_norm[chooser] / scale + set_t_norm[chooser_set],
                        l_raw[chooser] / scale + set_t_raw[chooser_set])
    groups_per_prompt = np.bincount(pidx[chooser], minlength=n_prompts)

    responses_per_prompt = np.bincount(pidx, minlength=n_prompts)
    summaries = tuple(
        PromptSummary(
            prompt=p.key,
            line=p.line,
            responses=int(responses_per_prompt[i]),
            policy_samples=int(samples_per_prompt[i]),
            pairs_from="pair records" if explicit[i] else "scores",
            pairs=int(pairs_per_prompt[i]),
            ties=0 if explicit[i] else int(ties_per_prompt[i]),
            groups=int(groups_per_prompt[i]),
            v_hat=v_hat[i],
            v_hat_from=v_from[i],
        )
        for i, p in enumerate(prompts)
    )
    return RMReport(
        source=source,
        length_norm=length_norm,
        ties=ties,
        n_prompts=n_prompts,
        n_responses=int(proxy.size),
        n_policy_samples=int(policy.sum()),
        n_pairs=n_pairs,
        n_pairs_from_scores=n_from_scores,
        n_pairs_from_records=n_pairs - n_from_scores,
        n_ties=n_ties,
        n_prompts_with_pair_records=int(explicit.sum()),
        n_prompts_without_pairs=int((pairs_per_prompt == 0).sum()),
        n_responses_in_no_pair=int((~in_pair).sum()),
        n_v_hat_given=sum(f == "v_hat record" for f in v_from),
        n_v_hat_estimated=sum(f == "policy samples" for f in v_from),
        n_groups=int(chooser.size),
        n_groups_several=int((set_size[chooser_set] >= 2).sum()),
        pairwise=pairwise.scores(),
        one_vs_many=one_vs_many.scores(),
        prompts=summaries,
    )

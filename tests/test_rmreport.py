"""Tests of labsupport.rmreport and the ``rm-report`` command: numbers of the example against hand computation,
the command line end to end, and one-line errors for every kind of malformed input."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from labsupport import cli, metrics
from labsupport.rmreport import EXAMPLE, INPUT_FORMAT, RMReportError, rm_report

ROOT = Path(__file__).resolve().parents[1]

# The example file by hand: response -> (proxy, logp, length); pairs listed one by one with the reason.
RESPONSES = {
    "s1": (1.2, -41.3, 52), "s2": (0.4, -30.1, 38), "s3": (0.9, -47.6, 61), "s4": (0.5, -22.8, 27),
    "ref": (2.1, -96.4, 58), "b": (2.4, -33.5, 44), "c": (0.3, -29.0, 35), "d": (1.5, -24.0, 26), "e": (0.6, -40.7, 49),
    "h1": (0.2, -58.9, 22), "h2": (0.5, -61.0, 24), "h3": (-1.0, -31.0, 19), "h4": (-0.3, -27.5, 20),
    "e1": (0.1, -52.3, 40), "e2": (0.4, -47.5, 33), "e3": (-0.2, -60.2, 45), "e4": (0.0, -25.9, 18),
}  # fmt: skip
# V_hat: summarise-article mean(1.2, .4, .9, .5); python-sort-dict mean(2.4, .3, 1.5, .6) (e: a policy sample without
# score); haiku-autumn mean(-1, -.3); decline-invitation its v_hat record
V_HAT = {"s": 0.75, "py": 1.2, "h": -0.65, "e": 0.8}
PAIRS = [  # (chosen, rejected, prompt); (s2, s3) and (e2, e3) are ground-truth ties, dropped
    ("s1", "s2", "s"), ("s1", "s3", "s"), ("s1", "s4", "s"),
    ("s2", "s4", "s"),  # wrong (.4 <= .5), forgiven: .5 < .75
    ("s3", "s4", "s"),
    ("ref", "b", "py"),  # wrong (2.1 <= 2.4), not forgiven: 2.4 >= 1.2
    ("ref", "c", "py"), ("ref", "d", "py"), ("b", "c", "py"), ("b", "d", "py"),
    ("c", "d", "py"),  # wrong (.3 <= 1.5), not forgiven: 1.5 >= 1.2
    ("h1", "h2", "h"),  # wrong (.2 <= .5), not forgiven (explicit pair records from here)
    ("h1", "h3", "h"), ("h2", "h3", "h"), ("h4", "h3", "h"),
    ("e1", "e2", "e"),  # wrong (.1 <= .4), forgiven: .4 < .8
    ("e1", "e3", "e"), ("e1", "e4", "e"), ("e2", "e4", "e"),
    ("e3", "e4", "e"),  # wrong (-.2 <= 0), forgiven: 0 < .8
]  # fmt: skip
GROUPS = [  # (chosen, rejected, prompt) for one-vs-many
    ("s1", ["s2", "s3", "s4"], "s"),  # right
    ("ref", ["b", "c", "d"], "py"),  # wrong: max 2.4, not forgiven
    ("h1", ["h2", "h3"], "h"),  # wrong: max .5, not forgiven
    ("h2", ["h3"], "h"), ("h4", ["h3"], "h"),  # right
    ("e1", ["e2", "e3", "e4"], "e"),  # wrong: max .4 < .8, forgiven
]  # fmt: skip


def _column(names, k):
    return np.array([RESPONSES[n][k] for n in names], dtype=float)


def _example_lines() -> list[str]:
    return EXAMPLE.read_text(encoding="utf-8").splitlines()


def test_hand_table_matches_the_example_file():
    responses = [json.loads(line) for line in _example_lines() if "response" in json.loads(line)]
    assert {r["response"]: (r["proxy"], r["logp"], r["length"]) for r in responses} == RESPONSES


# ----------------------------------------------------------------------------------------------------------------------
# The example by hand
# ----------------------------------------------------------------------------------------------------------------------


def test_example_counts():
    r = rm_report(EXAMPLE)
    assert (r.n_prompts, r.n_responses, r.n_policy_samples) == (4, 17, 10)
    assert (r.n_pairs, r.n_pairs_from_scores, r.n_pairs_from_records) == (len(PAIRS), 16, 4)
    assert r.n_ties == 2  # (s2, s3) and (e2, e3)
    assert r.n_responses_in_no_pair == 1  # e: a policy sample without a score
    assert (r.n_prompts_with_pair_records, r.n_prompts_without_pairs) == (1, 0)
    assert (r.n_v_hat_given, r.n_v_hat_estimated) == (1, 3)
    assert (r.n_groups, r.n_groups_several) == (len(GROUPS), 4)
    assert [(p.prompt, p.pairs, p.ties, p.groups) for p in r.prompts] == [
        ("summarise-article", 5, 1, 1), ("python-sort-dict", 6, 0, 1), ("haiku-autumn", 4, 0, 3),
        ("decline-invitation", 5, 1, 1),
    ]  # fmt: skip
    assert [p.v_hat for p in r.prompts] == pytest.approx(list(V_HAT.values()))
    assert sum(p.ties for p in r.prompts) == r.n_ties and sum(p.pairs for p in r.prompts) == r.n_pairs


def test_example_acc_and_hacc_exactly_by_hand():
    r = rm_report(EXAMPLE)
    assert r.acc == 14 / 20  # 6 of the 20 pairs mis-ranked (marked in PAIRS)
    assert r.hacc == 17 / 20  # 3 of them forgiven
    assert (r.pairwise.mis_ranked, r.pairwise.proxy_ties, r.pairwise.forgiven) == (6, 0, 3)
    assert r.one_vs_many.acc == 3 / 6 and r.one_vs_many.hacc == 4 / 6
    assert (r.one_vs_many.mis_ranked, r.one_vs_many.forgiven) == (3, 1)


def test_example_weighted_metrics_by_hand():
    r = rm_report(EXAMPLE)
    c, rej = [p[0] for p in PAIRS], [p[1] for p in PAIRS]
    rc, rr = _column(c, 0), _column(rej, 0)
    lc, lr, nc, nr = _column(c, 1), _column(rej, 1), _column(c, 2), _column(rej, 2)
    v = np.array([V_HAT[p[2]] for p in PAIRS])
    right = rc > rr
    harmless = right | (rr < v)
    # w proportional to exp(logp+/len+ + logp-/len-), normalised over all 20 pairs
    w = np.array([math.exp(a / m + b / n) for a, b, m, n in zip(lc, lr, nc, nr)])
    assert r.pairwise.acc_w_length_normalised == pytest.approx(w[right].sum() / w.sum(), rel=1e-12)
    assert r.pairwise.hacc_w_length_normalised == pytest.approx(w[harmless].sum() / w.sum(), rel=1e-12)
    w_raw = np.exp(lc + lr)
    assert r.pairwise.acc_w_unnormalised == pytest.approx(w_raw[right].sum() / w_raw.sum(), rel=1e-9)
    assert r.pairwise.hacc_w_unnormalised == pytest.approx(w_raw[harmless].sum() / w_raw.sum(), rel=1e-9)
    # the same through labsupport.metrics on the hand-built arrays
    assert r.acc_w == pytest.approx(metrics.acc_w(rc, rr, lc, lr, nc, nr), rel=1e-12)  # streamed sums: another order
    assert r.hacc_w == pytest.approx(metrics.hacc_w(rc, rr, v, lc, lr, nc, nr), rel=1e-12)
    # the un-normalised weights favour the two short mis-ranked pairs (s2, s4) and (c, d): HAcc-W >> Acc-W
    assert r.pairwise.acc_w_unnormalised < 0.05 < 0.5 < r.pairwise.hacc_w_unnormalised


def test_example_one_vs_many_weighted_by_hand():
    r = rm_report(EXAMPLE)
    rc = _column([g[0] for g in GROUPS], 0)
    rr = [_column(g[1], 0) for g in GROUPS]
    lc, lr = _column([g[0] for g in GROUPS], 1), [_column(g[1], 1) for g in GROUPS]
    nc, nr = _column([g[0] for g in GROUPS], 2), [_column(g[1], 2) for g in GROUPS]
    v = np.array([V_HAT[g[2]] for g in GROUPS])
    s = np.array([a / m + sum(b / nr[i]) for i, (a, m, b) in enumerate(zip(lc, nc, lr))])
    w = np.exp(s - s.max()) / np.exp(s - s.max()).sum()
    right = rc > np.array([x.max() for x in rr])
    assert r.one_vs_many.acc_w_length_normalised == pytest.approx(w[right].sum(), rel=1e-12)
    assert r.one_vs_many.acc_w_length_normalised == pytest.approx(metrics.acc_w_1vk(rc, rr, lc, lr, nc, nr), rel=1e-12)
    assert r.one_vs_many.hacc_w_length_normalised == pytest.approx(
        metrics.hacc_w_1vk(rc, rr, v, lc, lr, nc, nr), rel=1e-12
    )
    assert r.one_vs_many.hacc_w_unnormalised == pytest.approx(metrics.hacc_w_1vk(rc, rr, v, lc, lr), rel=1e-12)


def test_length_norm_selects_the_headline_weighting_and_keeps_both():
    on, off = rm_report(EXAMPLE), rm_report(EXAMPLE, length_norm=False)
    assert on.acc_w == on.pairwise.acc_w_length_normalised and on.hacc_w == on.pairwise.hacc_w_length_normalised
    assert off.acc_w == off.pairwise.acc_w_unnormalised and off.hacc_w == off.pairwise.hacc_w_unnormalised
    assert on.acc_w != off.acc_w and on.pairwise == off.pairwise
    assert off.to_dict()["one_vs_many"]["acc_w"] == off.one_vs_many.acc_w_unnormalised


def test_table_shows_every_count_and_both_weightings():
    r = rm_report(EXAMPLE)
    table = r.format_table()
    rows = {}
    for line in table.splitlines():
        for label in ("prompts", "responses", "preference pairs", "tied ground-truth pairs dropped",
                      "one-vs-many groups", "Acc", "HAcc", "Acc-W   length-normalised *", "Acc-W   un-normalised",
                      "HAcc-W  un-normalised", "forgiven: also r_P(y-) < V_hat(x)"):  # fmt: skip
            rest = line.strip()[len(label):]
            if line.strip().startswith(label) and rest[:2] in ("  ", ""):
                rows[label] = rest.split()[:2]
    assert rows["prompts"][0] == "4" and rows["responses"][0] == "17" and rows["preference pairs"][0] == "20"
    assert rows["tied ground-truth pairs dropped"] == ["2"] and rows["one-vs-many groups"][0] == "6"
    assert rows["Acc"] == ["0.7000", "0.5000"] and rows["HAcc"] == ["0.8500", "0.6667"]
    p, g = r.pairwise, r.one_vs_many
    expected = [f"{p.acc_w_length_normalised:.4f}", f"{g.acc_w_length_normalised:.4f}"]
    assert rows["Acc-W   length-normalised *"] == expected
    assert rows["Acc-W   un-normalised"] == [f"{p.acc_w_unnormalised:.4f}", f"{g.acc_w_unnormalised:.4f}"]
    assert rows["HAcc-W  un-normalised"] == [f"{p.hacc_w_unnormalised:.4f}", f"{g.hacc_w_unnormalised:.4f}"]
    assert rows["forgiven: also r_P(y-) < V_hat(x)"] == ["3", "1"]
    assert "1 in no pair" in table and "1 from v_hat records, 3 mean proxy reward" in table


# ----------------------------------------------------------------------------------------------------------------------
# Records: lists of dicts, ties, V_hat, groups
# ----------------------------------------------------------------------------------------------------------------------


def resp(prompt, rid, proxy, score=None, policy=False, logp=-10.0, length=10):
    rec = {"prompt": prompt, "response": rid, "proxy": proxy, "logp": logp, "length": length}
    if score is not None:
        rec["score"] = score
    if policy:
        rec["policy_sample"] = True
    return rec


def test_list_of_dicts_gives_the_same_report_as_the_file():
    records = [json.loads(line) for line in _example_lines()]
    from_list, from_file = rm_report(records).to_dict(), rm_report(EXAMPLE).to_dict()
    assert from_list.pop("source") == "<records>"
    from_file.pop("source")
    assert from_list == from_file
    assert rm_report(iter(records)).acc == 0.7  # any iterable


def test_ties_are_dropped_and_counted():
    proxy_score = [(1.0, 2.0), (2.0, 2.0), (0.0, 2.0), (0.5, 1.0)]
    records = [resp("x", i, p, score=s, policy=True) for i, (p, s) in enumerate(proxy_score)]
    r = rm_report(records)
    # three responses share score 2: three tied pairs; each of them beats response 3
    assert (r.n_ties, r.n_pairs, r.n_responses_in_no_pair) == (3, 3, 0)
    assert r.prompts[0].ties == 3 and r.to_dict()["counts"]["ties_dropped"] == 3
    # the proxy ranks 1.0 and 2.0 above 0.5 but 0.0 below it; V_hat = 3.5 / 4 = 0.875 > 0.5 forgives that one
    assert (r.acc, r.hacc, r.pairwise.forgiven) == (2 / 3, 1.0, 1)
    # the three top-scored responses each give a one-vs-many group against response 3
    assert (r.n_groups, r.n_groups_several) == (3, 0)


# one prompt, four policy samples in file order: (proxy, score); three share score 2, and samples 0 and 2 share proxy 1
TIED = [(1.0, 2.0), (2.0, 2.0), (1.0, 2.0), (0.5, 1.0)]  # V_hat = 4.5 / 4 = 1.125


def test_ties_keep_by_hand():
    records = [resp("x", i, p, score=s, policy=True) for i, (p, s) in enumerate(TIED)]
    drop, keep = rm_report(records), rm_report(records, ties="keep")
    # drop: only (0,3), (1,3), (2,3), all ranked right
    assert (drop.ties, drop.n_pairs, drop.n_ties, drop.acc, drop.hacc) == ("drop", 3, 3, 1.0, 1.0)
    # keep: all 6 pairs; the three ties keep the earlier line as chosen: (0,1) wrong (1 < 2, and 2 >= 1.125: not
    # forgiven), (0,2) a proxy tie (1 = 1: wrong, forgiven as 1 < 1.125), (1,2) right; (0,3), (1,3), (2,3) right
    assert (keep.ties, keep.n_pairs, keep.n_ties, keep.n_responses_in_no_pair) == ("keep", 6, 3, 0)
    assert (keep.pairwise.mis_ranked, keep.pairwise.proxy_ties, keep.pairwise.forgiven) == (2, 1, 1)
    assert (keep.acc, keep.hacc) == (4 / 6, 5 / 6)
    assert (keep.acc_w, keep.hacc_w) == (pytest.approx(4 / 6), pytest.approx(5 / 6))  # equal weights
    assert keep.prompts[0].pairs == 6 and keep.prompts[0].ties == 3
    assert keep.one_vs_many == drop.one_vs_many  # the groups do not depend on the convention
    counts = keep.to_dict()["counts"]
    assert (counts["pairs"], counts["ties_kept"], counts["ties_dropped"]) == (6, 3, 0)
    assert drop.to_dict()["counts"]["ties_kept"] == 0
    with pytest.raises(ValueError, match=r"^ties must be one of 'drop', 'keep'; got 'yes'$"):
        rm_report(records, ties="yes")


def test_cli_ties_keep_end_to_end(tmp_path):
    path = tmp_path / "tied.jsonl"
    path.write_text("".join(json.dumps(resp("x", i, p, score=s, policy=True)) + "\n" for i, (p, s) in enumerate(TIED)))
    out = tmp_path / "report.json"
    done = _run("rm-report", str(path), "--ties", "keep", "--json", str(out))
    assert done.returncode == 0, done.stderr
    rows = {line[:35].strip(): line[35:].split() for line in done.stdout.splitlines() if line.startswith("  ")}
    assert rows["preference pairs"][0] == "6" and rows["tied ground-truth pairs kept"][0] == "3"
    assert rows["Acc"] == ["0.6667", "1.0000"] and rows["HAcc"] == ["0.8333", "1.0000"]
    data = json.loads(out.read_text())
    assert data["ties"] == "keep" and data["counts"]["ties_kept"] == 3
    assert (data["pairwise"]["acc"], data["pairwise"]["hacc"]) == (4 / 6, 5 / 6)
    assert _run("rm-report", str(path), "--ties", "some").returncode == 2


def test_tie_only_responses_are_counted_in_no_pair():
    records = [resp("a", 0, 1.0, score=1.0, policy=True), resp("a", 1, 0.0, score=0.0, policy=True)]
    records += [resp("b", 0, 1.0, score=5.0, policy=True), resp("b", 1, 2.0, score=5.0, policy=True)]
    r = rm_report(records)
    assert (r.n_pairs, r.n_ties, r.n_responses_in_no_pair, r.n_prompts_without_pairs) == (1, 1, 2, 1)


def test_v_hat_from_policy_samples_versus_a_v_hat_record():
    # one mis-ranked pair (y- has proxy 0.5); policy samples average (0.5 + 1.5) / 2 = 1.0 > 0.5: forgiven
    records = [
        resp("x", "good", 0.0, score=1.0),
        resp("x", "bad", 0.5, score=0.0, policy=True),
        resp("x", "sample", 1.5, policy=True),
    ]
    estimated = rm_report(records)
    assert estimated.prompts[0].v_hat == 1.0 and estimated.prompts[0].v_hat_from == "policy samples"
    assert (estimated.acc, estimated.hacc, estimated.pairwise.forgiven) == (0.0, 1.0, 1)
    assert (estimated.n_v_hat_estimated, estimated.n_v_hat_given) == (1, 0)
    # a v_hat record wins over the samples; at V_hat = r_P(y-) the mis-ranking is not forgiven (strict rule)
    given = rm_report(records + [{"prompt": "x", "v_hat": 0.5}])
    assert given.prompts[0].v_hat == 0.5 and given.prompts[0].v_hat_from == "v_hat record"
    assert (given.hacc, given.pairwise.forgiven) == (0.0, 0)
    assert (given.n_v_hat_estimated, given.n_v_hat_given) == (0, 1)


def test_pair_records_replace_scores_and_group_by_chosen():
    records = [resp("x", r, p, score=s, policy=True) for r, p, s in [("a", 3.0, 0.0), ("b", 2.0, 1.0), ("c", 1.0, 2.0)]]
    by_scores = rm_report(records)
    assert (by_scores.n_pairs, by_scores.acc) == (3, 0.0)  # c > b > a in score, reversed by the proxy
    explicit = rm_report(records + [{"prompt": "x", "chosen": "a", "rejected": "b"},
                                    {"prompt": "x", "chosen": "a", "rejected": "c"},
                                    {"prompt": "x", "chosen": "c", "rejected": "b"}])  # fmt: skip
    assert (explicit.n_pairs, explicit.n_pairs_from_records, explicit.n_ties) == (3, 3, 0)
    assert explicit.acc == 2 / 3  # a > b right, a > c right, c > b wrong
    assert (explicit.n_groups, explicit.n_groups_several) == (2, 1)  # a: {b, c}; c: {b}
    assert explicit.one_vs_many.acc == 1 / 2


def test_pair_record_may_come_before_its_responses_and_ids_are_per_prompt():
    records = [{"prompt": 7, "chosen": 1, "rejected": 2}, resp(7, 1, 1.0, policy=True), resp(7, 2, 0.0, policy=True)]
    records += [resp("other", 1, 0.0, score=1.0, policy=True), resp("other", 2, 1.0, score=0.0, policy=True)]
    r = rm_report(records)
    assert (r.n_prompts, r.n_pairs, r.acc) == (2, 2, 0.5)


def test_null_optional_fields_mean_absent_and_blank_lines_are_skipped(tmp_path):
    lines = [json.dumps(resp("x", 0, 1.0, score=1.0, policy=True)), "", "   ",
             json.dumps({**resp("x", 1, 0.0, score=0.0), "policy_sample": None}),
             json.dumps({**resp("x", 2, 0.5), "score": None})]  # fmt: skip
    path = tmp_path / "r.jsonl"
    path.write_text("\n".join(lines) + "\n")
    r = rm_report(path)
    assert (r.n_responses, r.n_policy_samples, r.n_pairs, r.n_responses_in_no_pair) == (3, 1, 1, 1)
    bad = lines + ['{"prompt": "x", "response": 3, "proxy": 1, "logp": -1, "length": 0}']
    path.write_text("\n".join(bad) + "\n")
    with pytest.raises(RMReportError) as info:
        rm_report(path)
    assert (info.value.line, info.value.field) == (6, "length")  # physical line numbers, blank lines included


def test_errors_in_a_list_name_the_record():
    with pytest.raises(RMReportError, match=r"^record 2: field 'proxy' must be a finite number; got nan$"):
        rm_report([resp("x", 0, 1.0, score=1.0), resp("x", 1, float("nan"), score=0.0)])
    with pytest.raises(ValueError, match="path_or_records"):
        rm_report({"prompt": "x"})


# ----------------------------------------------------------------------------------------------------------------------
# Malformed input: exit 2 and one line naming the line and the field
# ----------------------------------------------------------------------------------------------------------------------

OK1 = '{"prompt": "p", "response": "a", "proxy": 1.0, "logp": -5.0, "length": 4, "score": 1.0, "policy_sample": true}'
OK2 = '{"prompt": "p", "response": "b", "proxy": 0.0, "logp": -6.0, "length": 5, "score": 0.0, "policy_sample": true}'

MALFORMED = [  # (lines, line number, field or None, words of the message)
    ([OK1, '{"prompt": "p", "response": "b", "proxy": 0.0'], 2, None, "invalid JSON"),
    ([OK1, "[1, 2]"], 2, None, "expected a JSON object"),
    ([OK1, OK2, '{"prompt": "p", "text": "hello"}'], 3, None, "unknown record kind"),
    ([OK1, OK2.replace('"proxy"', '"prxy"')], 2, "prxy", "unknown field"),
    ([OK1, OK2.replace(', "logp": -6.0', "")], 2, "logp", "is missing"),
    ([OK1, OK2.replace("0.0, \"logp\"", '"abc", "logp"')], 2, "proxy", "must be a finite number; got 'abc'"),
    ([OK1, OK2.replace("0.0, \"logp\"", 'NaN, "logp"')], 2, "proxy", "must be a finite number; got nan"),
    ([OK1, OK2.replace('"score": 0.0', '"score": Infinity')], 2, "score", "must be a finite number; got inf"),
    ([OK1, OK2.replace('"score": 0.0', '"score": true')], 2, "score", "must be a finite number; got True"),
    ([OK1, OK2, '{"prompt": "p", "v_hat": -Infinity}'], 3, "v_hat", "must be a finite number"),
    ([OK1, OK2.replace('"length": 5', '"length": 0')], 2, "length", "positive integer"),
    ([OK1.replace('"length": 4', '"length": -3'), OK2], 1, "length", "positive integer"),
    ([OK1, OK2.replace('"length": 5', '"length": 5.5')], 2, "length", "positive integer"),
    ([OK1, OK2.replace('"logp": -6.0', '"logp": 0.5')], 2, "logp", "log-probability"),
    ([OK1, OK2.replace('"policy_sample": true', '"policy_sample": "yes"')], 2, "policy_sample", "true or false"),
    ([OK1, OK2.replace('"prompt": "p"', '"prompt": 1.5')], 2, "prompt", "string or an integer"),
    ([OK1, OK2, OK1.replace('"proxy": 1.0', '"proxy": 2.0')], 3, "response", "already has a response 'a' (line 1)"),
    ([OK1, OK2.replace('"proxy": 0.0', '"proxy": 0.0, "proxy": 1.0')], 2, "proxy", "appears twice"),
    ([OK1, OK2, '{"prompt": "p", "chosen": "a", "rejected": "z"}'], 3, "rejected", "'z', which prompt 'p' does not"),
    (['{"prompt": "p", "chosen": "q", "rejected": "a"}', OK1, OK2], 1, "chosen", "names response 'q'"),
    ([OK1, OK2, '{"prompt": "other", "chosen": "a", "rejected": "b"}'], 3, "chosen", "prompt 'other' does not"),
    ([OK1, OK2, '{"prompt": "p", "chosen": "a", "rejected": "a"}'], 3, "rejected", "equals field 'chosen'"),
    ([OK1, OK2, '{"prompt": "p", "chosen": "a", "rejected": "b"}', '{"prompt": "p", "chosen": "b", "rejected": "a"}'],
     4, "chosen", "already has a pair"),
    ([OK1, OK2, '{"prompt": "p", "chosen": "a"}'], 3, "rejected", "is missing"),
    ([OK1, OK2, '{"prompt": "p", "v_hat": 1}', '{"prompt": "p", "v_hat": 2}'], 4, "v_hat", "already has one (line 3)"),
    ([OK1, OK2, '{"prompt": "q", "v_hat": 1}'], 3, "prompt", "prompt 'q' has no response records"),
    ([OK1.replace(', "policy_sample": true', ""), OK2.replace(', "policy_sample": true', "")], 1, "v_hat",
     "prompt 'p' has 1 pair but no V_hat(x)"),
]  # fmt: skip


@pytest.mark.parametrize("lines, line, field, words", MALFORMED)
def test_malformed_input_exits_2_with_one_line_naming_line_and_field(tmp_path, capsys, lines, line, field, words):
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert cli.main(["rm-report", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith(f"rm-report: error: {path}: line {line}: "), err
    if field is not None:
        assert f"field {field!r}" in err or f"'{field}'" in err, err
    assert words in err, err
    with pytest.raises(RMReportError) as info:
        rm_report(path)
    assert (info.value.line, info.value.field) == (line, field)


def test_the_missing_v_hat_message_names_the_prompt(tmp_path, capsys):
    path = tmp_path / "bad.jsonl"
    no_samples = [line.replace(', "policy_sample": true', "") for line in (OK1, OK2)]
    path.write_text("\n".join(no_samples) + "\n")
    assert cli.main(["rm-report", str(path)]) == 2
    err = capsys.readouterr().err
    assert "prompt 'p'" in err and "'v_hat' record" in err and '"policy_sample": true' in err


@pytest.mark.parametrize(
    "content, words",
    [
        (b"", "no records: the file is empty"),
        (b"\n\n", "no records: the file is empty (or holds only blank lines)"),
        (b'{"prompt": "p", "v_hat": 0.5}\n', "no response records among the 1 record (pair and v_hat records only)"),
        (b"\xff\xfe{}\n", "line 1: not valid UTF-8 text: the file is UTF-16 text"),
        ("{}\n".encode("utf-16-le"), "line 1: invalid JSON: Expecting property name enclosed in double quotes "
                                      "(column 2); the line holds NUL bytes (UTF-16 text?"),
        (b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00\xb7", "line 1: not valid UTF-8 text: the file is a ZIP "
                                                           "archive (an Excel .xlsx workbook?)"),
        ((OK1 + "\n" + OK2.replace('"p"', '"caf\xe9"')).encode("latin-1"),
         "line 2: not valid UTF-8 text: byte 0xe9 at byte 16 of the line"),
        (b"prompt,response,proxy,logp,length\np,a,1.0,-5.0,4\n", "line 1: invalid JSON: Expecting value (column 1); "
                                                               "the line looks like comma-separated values (CSV)"),
        (b"prompt;response;proxy\np;a;1,0\n", "line 1: invalid JSON: Expecting value (column 1); the line looks "
                                             "like semicolon-separated values (CSV)"),
        (b"prompt\tresponse\tproxy\n", "the line looks like tab-separated values (CSV)"),
        (f"[\n  {OK1},\n  {OK2}\n]\n".encode(), "line 1: invalid JSON: Expecting value (column 2); a JSON document "
                                                "spread over several lines?"),
        ((OK1 + "\n" + OK2.replace('"score": 0.0', '"score": 1.0') + "\n").encode(), "no preference pairs"),
        (OK1.encode(), "no preference pairs: 1 response in 1 prompt, 0 tied pairs dropped; give a prompt two or more "
                       "responses with different scores"),
    ],
)
def test_whole_file_problems_exit_2_with_one_line(tmp_path, capsys, content, words):
    """One line that names the file and says what is wrong with it: empty, not UTF-8 (UTF-16, a workbook, a
    Latin-1 character), CSV instead of JSON Lines, a JSON document over several lines, no pairs."""
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    assert cli.main(["rm-report", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"rm-report: error: {path}: ") and words in err, err


def test_json_out_that_is_the_input_file_is_refused_and_the_file_kept(tmp_path, capsys):
    path = tmp_path / "records.jsonl"
    path.write_bytes(EXAMPLE.read_bytes())
    for out in (str(path), str(tmp_path / "." / "records.jsonl")):
        assert cli.main(["rm-report", str(path), "--json", out]) == 2
        out_text, err = capsys.readouterr()
        assert out_text == "" and err == (f"rm-report: error: --json {out!r} is the input FILE; the report would "
                                          "overwrite the records (choose another OUT)\n")
        assert path.read_bytes() == EXAMPLE.read_bytes()


@pytest.mark.parametrize("argv, words", [
    (["--frob"], "python -m labsupport: error: unrecognized arguments: --frob (see --help)"),
    (["rm-report", "--frob"], "python -m labsupport: error: unrecognized arguments: --frob (see --help)"),
    (["rm-report", "--vers"], "python -m labsupport: error: unrecognized arguments: --vers (see --help)"),
    (["rm-report", "-"], "rm-report: error: cannot read '-': No such file or directory (FILE is a path: standard "
                         "input is not read)"),
    (["rm-report", ""], "rm-report: error: the path of the input file is empty ('')"),
])
def test_unknown_options_and_odd_paths_are_named(tmp_path, monkeypatch, capsys, argv, words):
    """argparse says only that COMMAND or FILE is missing when an unknown option comes first; the option is named."""
    monkeypatch.chdir(tmp_path)
    assert cli.main(argv, prog="python -m labsupport") == 2
    assert capsys.readouterr().err == words + "\n"


def test_usage_errors_exit_2_with_one_line(tmp_path, capsys):
    for argv in ([], ["rm-report"], ["rm-report", str(EXAMPLE), "--frobnicate"], ["score"]):
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "error:" in err and "Traceback" not in err, (argv, err)
    assert cli.main(["rm-report", str(tmp_path / "missing.jsonl")]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert cli.main(["rm-report", str(EXAMPLE), "--json", str(tmp_path / "no" / "dir.json")]) == 2
    assert "cannot write" in capsys.readouterr().err


def test_help_documents_the_input_format(capsys):
    assert cli.main(["rm-report", "--help"]) == 0
    out = capsys.readouterr().out
    assert INPUT_FORMAT.splitlines()[2].strip() in out  # the response record line
    assert '{"prompt": P, "chosen": R, "rejected": R}' in out and '{"prompt": P, "v_hat": float}' in out
    assert "--no-length-norm" in out and "--json OUT" in out and "--ties {drop,keep}" in out
    import labsupport.rmreport as module

    assert INPUT_FORMAT in module.__doc__


# ----------------------------------------------------------------------------------------------------------------------
# The command line end to end
# ----------------------------------------------------------------------------------------------------------------------


def _run(*args):
    return subprocess.run(
        [sys.executable, "-m", "labsupport", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_cli_json_to_stdout_end_to_end():
    done = _run("rm-report", "labsupport/data/rm_example.jsonl", "--json", "-")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)  # nothing but the JSON on stdout
    assert data["source"] == "labsupport/data/rm_example.jsonl" and data["length_norm"] is True
    assert data["counts"]["pairs"] == 20 and data["counts"]["ties_dropped"] == 2
    assert data["pairwise"]["acc"] == 0.7 and data["pairwise"]["hacc"] == 0.85
    assert data["pairwise"]["forgiven"] == 3 and data["one_vs_many"]["acc"] == 0.5
    expected = rm_report(EXAMPLE).to_dict()
    expected.pop("source"), data.pop("source")
    assert data == expected


def test_cli_table_and_json_file_end_to_end(tmp_path):
    out = tmp_path / "report.json"
    done = _run("rm-report", str(EXAMPLE), "--json", str(out), "--no-length-norm")
    assert done.returncode == 0, done.stderr
    assert rm_report(EXAMPLE, length_norm=False).format_table() in done.stdout
    data = json.loads(out.read_text())
    assert data["length_norm"] is False
    assert data["pairwise"]["acc_w"] == data["pairwise"]["acc_w_unnormalised"]


def test_cli_error_is_one_line_without_traceback(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(OK1 + "\n" + OK2.replace("0.0, \"logp\"", '"abc", "logp"') + "\n")
    done = _run("rm-report", str(path))
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == f"rm-report: error: {path}: line 2: field 'proxy' must be a finite number; got 'abc'\n"


def test_cli_output_to_a_closed_pipe_exits_quietly():
    """``rm-report FILE | head -1``: the reader goes away; no "error: [Errno 32] Broken pipe" and no traceback."""
    import os

    read, write = os.pipe()
    os.close(read)  # the reader is gone before the command writes a byte
    try:
        done = subprocess.run([sys.executable, "-m", "labsupport", "rm-report", str(EXAMPLE)], cwd=ROOT, stdout=write,
                              stderr=subprocess.PIPE, text=True, timeout=300)
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (cli.BROKEN_PIPE, "")


def _random_records(seed: int, prompts: int, per_prompt: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for p in range(prompts):
        out.append({"prompt": p, "v_hat": float(rng.normal())})
        for i in range(per_prompt):
            out.append({"prompt": p, "response": i, "proxy": float(rng.normal()), "logp": float(-rng.exponential(30)),
                        "length": int(rng.integers(1, 50)), "score": float(rng.integers(0, 6))})
    return out


def test_streamed_pairs_agree_with_the_metrics_on_all_pairs(monkeypatch):
    """Pairs streamed in blocks of 7 give the report of one block, and both equal labsupport.metrics on the arrays of
    all pairs (preference_pairs), ties, proxy ties and one-vs-many groups included."""
    records = _random_records(0, 4, 60)
    whole = rm_report(records)
    monkeypatch.setattr(metrics, "PAIR_BLOCK", 7)
    streamed = rm_report(records)
    assert streamed.to_dict()["counts"] == whole.to_dict()["counts"] and streamed.prompts == whole.prompts
    for a, b in ((whole.pairwise, streamed.pairwise), (whole.one_vs_many, streamed.one_vs_many)):
        for name, value in vars(a).items():
            assert getattr(b, name) == pytest.approx(value, rel=1e-12), name
    assert (whole.n_pairs, whole.n_ties) == (streamed.n_pairs, streamed.n_ties)
    resp = [r for r in records if "response" in r]
    ids, score = [r["prompt"] for r in resp], np.array([r["score"] for r in resp])
    proxy, logp = np.array([r["proxy"] for r in resp]), np.array([r["logp"] for r in resp])
    length = np.array([r["length"] for r in resp], dtype=float)
    v = np.array([next(x["v_hat"] for x in records if x.get("prompt") == i and "v_hat" in x) for i in ids])
    pp = metrics.preference_pairs(ids, score)
    c, j = pp.chosen, pp.rejected
    assert streamed.n_pairs == c.size and streamed.n_ties == pp.n_ties
    assert streamed.acc == metrics.acc(proxy[c], proxy[j])
    assert streamed.hacc == metrics.hacc(proxy[c], proxy[j], v[c])
    assert streamed.acc_w == pytest.approx(metrics.acc_w(proxy[c], proxy[j], logp[c], logp[j], length[c], length[j]),
                                           rel=1e-12)
    assert streamed.pairwise.hacc_w_unnormalised == pytest.approx(
        metrics.hacc_w(proxy[c], proxy[j], v[c], logp[c], logp[j]), rel=1e-12)


def test_a_prompt_beyond_the_pair_limit_is_named(monkeypatch):
    monkeypatch.setattr("labsupport.rmreport.MAX_PAIRS_PER_PROMPT", 10)
    records = _random_records(1, 2, 4) + [{"prompt": "big", "response": i, "proxy": 0.0, "logp": -1.0, "length": 1,
                                           "score": float(i)} for i in range(6)]
    with pytest.raises(RMReportError, match=r"prompt 'big' gives 15 preference pairs from 6 scored responses"):
        rm_report(records)


def test_extreme_values_give_valid_json_with_metrics_in_unit_interval(tmp_path):
    """log-probabilities of -1e16 and -1.7e308 (Acc-W was 2.0 and NaN) and proxy rewards whose policy-sample mean
    overflows: exit 0, strict JSON (V_hat written as null), every metric in [0, 1]."""
    rows = [{"prompt": "a", "response": i, "proxy": p, "logp": lp, "length": 1, "score": s, "policy_sample": True}
            for i, (p, lp, s) in enumerate([(1.5e308, -1e16, 2.0), (1.6e308, -1e16, 1.0), (1.7e308, -1.7e308, 0.0)])]
    rows += [{"prompt": "b", "response": i, "proxy": float(i), "logp": -1.7e308, "length": 1, "score": float(i)}
             for i in range(3)] + [{"prompt": "b", "v_hat": 0.5}]
    path = tmp_path / "extreme.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    done = subprocess.run([sys.executable, "-m", "labsupport", "rm-report", str(path), "--json", "-"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr

    def refuse(name):
        raise AssertionError(f"non-standard JSON constant {name}")

    out = json.loads(done.stdout, parse_constant=refuse)
    assert out["prompts"][0]["v_hat"] is None and out["prompts"][1]["v_hat"] == 0.5
    for part in ("pairwise", "one_vs_many"):
        for key in ("acc", "hacc", "acc_w", "hacc_w", "acc_w_unnormalised", "hacc_w_unnormalised"):
            assert 0.0 <= out[part][key] <= 1.0, (part, key)
    # prompt a ranks all 3 pairs wrong, prompt b all 3 right; b's log-probabilities of -1.7e308 weigh exactly 0
    assert out["counts"]["pairs"] == 6 and out["pairwise"]["acc"] == 0.5 and out["pairwise"]["acc_w"] == 0.0

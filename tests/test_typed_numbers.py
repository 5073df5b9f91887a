"""Numbers that cannot drift: every number typed in the book's prose is on its page's list of setup constants.

A result of the book (a number a simulation or the committed data produces) is glued from code executed at build
time (``{glue:text}`` from its lab) or computed from the committed data; it is never typed. Setup constants (the toy's
rewards, learning rates, sizes), closed forms worked out by hand from them, and numbers the paper reports (attributed
to it in the same sentence) may be typed. This test scans the MyST sources of the preface, the chapters, the
appendices and the teaching guide, and fails on every typed number that is not on its page's list,
``tests/setup_numbers/<page path, "/" -> "-">.txt`` (one number per line exactly as typed, without a sign, then ``#``
and what it is; an empty file for a page without any). A page without its list fails too. So a new hand-typed result
fails the build, and the lists say, page by page, what each typed number is.

What counts as a typed number: every number token (``0.8``, ``50,000``, ``2707``; a leading sign is not part of it)
in the page's Markdown, including inside ``$...$`` math and tables, except inside glue roles and directives, code
spans and fences, the targets of roles (``{ref}`text <target>```: the text counts, the target does not) and links,
labels (``(eq-x)=``), equation labels after ``$$``, directive option lines (``:width: 100%``), front matter and HTML
comments; and except structural numbers: chapter, section, figure, table, equation, exercise and lab references
("chapter 4", "Figure 4.2", "Lab 3", "Exercise 2.1", "(2.8)"), years, the paper's arXiv id, and single-digit
integers 0-9 (indices and small counts). The last exception is a known blind spot: a result that happens to be a
single digit (e.g. "7 of 9 instances") passes unnoticed, as does a result spelled out in words.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
LISTS = Path(__file__).resolve().parent / "setup_numbers"
PAGES = sorted([BOOK / "intro.md", *BOOK.glob("chapters/*.md"), *BOOK.glob("appendices/*.md"),
                *BOOK.glob("teaching/*.md")])

#: a number token: digits with thousands separators or without, an optional decimal part; not part of a word, a
#: subscript (``r_0``), a LaTeX command's name, or a longer number
NUMBER = re.compile(r"(?<![\w.\\])(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?![\d])")
#: structural references: "chapter 4", "Figures 5 and 7", "Exercise 2.1", "Lab 3", "section 6"
STRUCTURAL = re.compile(r"(?i)\b(?:chapters?|sections?|figures?|fig\.|tables?|equations?|eqs?\.|exercises?|labs?|"
                        r"appendix|appendices|parts?)\s+\d+(?:\.\d+)*(?:\s*(?:,|and|-|–)\s*\d+(?:\.\d+)*)*")
EQUATION_REF = re.compile(r"\(\d+\.\d+\)")                         # "(2.8)"
YEAR = re.compile(r"(?<![\d.,])(?:19|20)\d\d(?![\d.,]\d)")         # 1900-2099
ARXIV = re.compile(r"\b\d{4}\.\d{4,5}(?:v\d+)?\b")
#: roles whose whole content is skipped (glue, citations, downloads) and roles whose target is skipped
SKIPPED_ROLE = re.compile(r"\{(?:glue(?::\w+)?|cite(?::\w+)?|download|doc|eq|numref-target)\}`[^`]*`")
TARGET_ROLE = re.compile(r"\{(?:ref|numref|doc|download|term)\}`([^`<]*)(?:<[^`]*>)?`")
CODE_SPAN = re.compile(r"``.*?``|`[^`]*`")
LINK_TARGET = re.compile(r"\]\([^)]*\)|<https?://[^>]*>|https?://\S+")
EQUATION_LABEL = re.compile(r"\$\$\s*\([\w:.-]+\)\s*$")
LABEL_LINE = re.compile(r"^\s*\([\w:.-]+\)=\s*$")
OPTION_LINE = re.compile(r"^\s*:[\w-]+:")
FENCE = re.compile(r"^\s*(`{3,}|~{3,}|:{3,})\s*(\{[^}]*\})?(.*)$")
#: fenced blocks whose whole body is skipped (code); the body of any other directive is Markdown or math and is
#: scanned, its argument too except for glue directives (whose argument is a key)
CODE_DIRECTIVES = {None, "{code}", "{code-block}", "{code-cell}", "{literalinclude}", "{raw}"}


def list_path(page: Path) -> Path:
    """The list of allowed typed numbers of ``page`` (book/chapters/x.md -> tests/setup_numbers/chapters-x.txt)."""
    return LISTS / (page.relative_to(BOOK).with_suffix("").as_posix().replace("/", "-") + ".txt")


def allowed(page: Path) -> set[str]:
    """The numbers on ``page``'s list: the first word of every line that is not empty or a comment."""
    numbers = set()
    for line in list_path(page).read_text().splitlines():
        entry = line.split("#", 1)[0].strip()
        if entry:
            numbers.add(entry)
    return numbers


def prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, text) of every line of a MyST page that holds prose: without front matter, HTML comments, code
    fences, labels and directive options; a directive's argument line (e.g. a glue key) is dropped, its body kept
    unless it is code."""
    text = re.sub(r"<!--.*?-->", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    lines = text.split("\n")
    start = 0
    if lines and lines[0].strip() == "---":
        end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), 0)
        start = end + 1
    kept, fences = [], []          # fences: stack of (marker, skip body)
    for number, line in enumerate(lines[start:], start + 1):
        fence = FENCE.match(line)
        if fence:
            marker, directive = fence.group(1), fence.group(2)
            if fences and marker[0] == fences[-1][0][0] and len(marker) >= len(fences[-1][0]) and not directive \
                    and not fence.group(3).strip():
                fences.pop()
                continue
            if marker[0] != ":" or directive:
                skip = (fences and fences[-1][1]) or directive in CODE_DIRECTIVES and marker[0] != ":"
                fences.append((marker, bool(skip)))
                if directive and not skip and not directive.startswith("{glue"):
                    kept.append((number, fence.group(3)))     # an admonition's title is prose
                continue
        if fences and fences[-1][1]:
            continue
        if LABEL_LINE.match(line) or OPTION_LINE.match(line):
            continue
        kept.append((number, line))
    return kept


def typed_numbers(text: str) -> list[tuple[int, str, str]]:
    """(line number, number as typed, the line) of every typed number of a MyST page that the rules above count."""
    found = []
    for number, line in prose_lines(text):
        s = EQUATION_LABEL.sub("", line)
        s = SKIPPED_ROLE.sub(" ", s)
        s = TARGET_ROLE.sub(lambda m: " " + m.group(1) + " ", s)
        s = CODE_SPAN.sub(" ", s)
        s = LINK_TARGET.sub("] ", s)
        for pattern in (STRUCTURAL, EQUATION_REF, ARXIV, YEAR):
            s = pattern.sub(" ", s)
        for match in NUMBER.finditer(s):
            token = match.group(0)
            if re.fullmatch(r"\d", token):
                continue
            found.append((number, token, line.strip()))
    return found


@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(BOOK).with_suffix("").as_posix().replace("/", "-")
                                             for p in PAGES])
def test_every_typed_number_is_a_listed_setup_constant(page: Path):
    assert list_path(page).is_file(), (f"{page.relative_to(ROOT)} has no list of typed numbers: create "
                                       f"{list_path(page).relative_to(ROOT)} (one setup constant per line, '# what')")
    listed = allowed(page)
    stray = [(n, token, line) for n, token, line in typed_numbers(page.read_text()) if token not in listed]
    assert not stray, (f"{page.relative_to(ROOT)}: typed numbers that are not setup constants on "
                       f"{list_path(page).relative_to(ROOT)} (glue results from the lab; list setup constants):\n"
                       + "\n".join(f"  line {n}: {token!r} in: {line[:140]}" for n, token, line in stray))


def test_the_scanner_counts_prose_and_math_and_skips_what_the_rules_skip():
    page = "\n".join([
        "---", "title: 12.5", "---",                                  # front matter: skipped
        "(ch9-label-11)=",                                            # label: skipped
        "# Chapter 4: results",                                       # structural
        "The run crosses at step 2,707 and $V_G = 0.93$ (see Figure 4.2 and (2.8)).",
        "In 2026 {cite}`paper2026` found 17 of 20 runs; {glue:text}`../notebooks/x.ipynb::key:.3f` is glued.",
        "A link [to 33 things](https://example.org/44) and `code 55` and {ref}`Exercise 2.1 <ch2-ex-66>`.",
        "<!-- a comment with 77 -->",
        "```python", "x = 88", "```",
        "```{glue:figure} ../notebooks/lab.ipynb::fig-99",
        ":name: fig-101", "", "A caption with 0.25.", "```",
        ":::{admonition} Exercise 3.2: the 0.5 rule", ":class: dropdown", "Solved at 1.5.", ":::",
        "$$", "x = 10^{-6}", "$$ (eq-label-12)",
        "Indices 3 and 7 and r_0 and y_5 and arXiv 2601.01234 do not count.",
    ])
    tokens = [t for _, t, _ in typed_numbers(page)]
    assert tokens == ["2,707", "0.93", "17", "20", "33", "0.25", "0.5", "1.5", "10"]
    lines = {t: n for n, t, _ in typed_numbers(page)}
    assert lines["2,707"] == 6 and lines["0.25"] == 16


def test_list_files_name_their_pages():
    assert list_path(BOOK / "chapters" / "05-stress-testing.md").name == "chapters-05-stress-testing.txt"
    assert list_path(BOOK / "intro.md").name == "intro.txt"

"""The README and the reference in docs/ hold together: every relative link points to a file
that exists and, with a `#fragment`, to a heading of that file (GitHub's anchors); every page of
docs/ is linked from the README, so any field or reply is at most two clicks away; no page
links outside the repository's own files by a relative path. (test_readme.py runs the README's
tour; test_dpop.py runs the DPoP client of docs/sender-constraints.md.)"""

import glob
import os
import re

import pytest

from harness import ROOT

PAGES = [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)|!\[[^\]]*\]\(([^)\s]+)\)")


def without_code(text):
    """Markdown outside fenced blocks and inline code, where links are links."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def anchors(path):
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    out = set()
    text = re.sub(r"^```.*?^```", "", open(path).read(), flags=re.S | re.M)
    for line in text.splitlines():
        m = re.match(r"^#{1,6} (.*)", line)
        if m:
            out.add(re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-"))
    return out


def links(path):
    for m in LINK.finditer(without_code(open(path).read())):
        target = m.group(1) or m.group(2)
        if not re.match(r"^[a-z][a-z0-9+.-]*:", target):
            yield target


@pytest.mark.parametrize("page", PAGES, ids=lambda p: os.path.relpath(p, ROOT))
def test_every_link_points_somewhere(page):
    broken = []
    for target in links(page):
        file, _, fragment = target.partition("#")
        dest = os.path.normpath(os.path.join(os.path.dirname(page), file)) if file else page
        if not dest.startswith(ROOT + os.sep) or not os.path.exists(dest):
            broken.append(f"{target}: no such file")
        elif fragment and dest.endswith(".md") and fragment not in anchors(dest):
            broken.append(f"{target}: no heading #{fragment} in {os.path.relpath(dest, ROOT)}")
    assert not broken, broken


def test_every_reference_page_is_one_click_from_the_readme():
    linked = {os.path.normpath(os.path.join(ROOT, t.partition("#")[0])) for t in links(PAGES[0])}
    missing = [os.path.relpath(p, ROOT) for p in PAGES[1:] if p not in linked]
    assert not missing, missing


def test_the_readme_is_a_front_page():
    lines = open(PAGES[0]).read().count("\n")
    assert lines < 400, f"README.md has {lines} lines: the reference belongs in docs/"

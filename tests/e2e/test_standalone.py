"""The repository stands alone: no tracked file reaches for the sibling directory outside the
checkout that a developer's machine may have next to it (a fresh clone does not). Cheap: reads
the files git tracks, starts nothing."""

import os
import shutil
import subprocess

import pytest

from harness import ROOT

# Built from pieces so that this file does not contain the text it looks for.
NEEDLE = ("." + "." + "/" + "sha" + "red").encode()
EXEMPT = ("fuzz/corpus/",)  # fuzzer inputs: arbitrary bytes


def tracked_files():
    if shutil.which("git") is None:
        pytest.skip("git is not available")
    try:
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=ROOT,
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as e:
        pytest.skip(f"git failed: {e}")
    if top.returncode != 0 or os.path.realpath(top.stdout.strip()) != os.path.realpath(ROOT):
        pytest.skip(f"{ROOT} is not a git checkout")
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, timeout=60)
    assert listed.returncode == 0, listed.stderr.decode(errors="replace")
    return [p for p in listed.stdout.decode().split("\0") if p]


def test_no_tracked_file_points_outside_the_repository():
    files = tracked_files()
    assert files, "git tracks no files"
    offenders = []
    for rel in files:
        if rel.startswith(EXEMPT):
            continue
        path = os.path.join(ROOT, rel)
        if not os.path.isfile(path):  # deleted in the working tree, or a submodule
            continue
        with open(path, "rb") as f:
            for number, line in enumerate(f, 1):
                if NEEDLE in line:
                    offenders.append(f"{rel}:{number}: {line.decode(errors='replace').strip()}")
    assert not offenders, ("tracked files refer to " + NEEDLE.decode()
                           + " (outside the repository):\n" + "\n".join(offenders))

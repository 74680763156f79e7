"""The README's examples are executable: every `$` line of the block marked
`readme-examples` runs in bash with the real curl against the demo (envoy/demo.yaml, its
upstream, JWKS server and introspection endpoint), and what the README says about it must be what came back:

- a comment `# <status> [<error>][; challenges: S1 attrs, S2, ...][; upstream gets h: v]`
  gives the status, the body's `error`, the `WWW-Authenticate` schemes in order (a scheme
  written without attributes must carry no `error=`), and a header upstream received;
- a reply written out below a command (status line, header lines, a wrapped JSON body) must
  match: the status, every header line shown, and the body's `error`, `status`, `title` and
  `accepted` schemes.
"""

import json
import os
import re
import subprocess

import pytest

from demo import run
from harness import ROOT, free_port

MARK = "<!-- readme-examples"


def readme_examples():
    """[(command, comment, shown lines)] from the marked block of README.md."""
    text = open(os.path.join(ROOT, "README.md")).read()
    assert MARK in text, "README.md lost its checked examples block"
    block = text.split(MARK, 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    examples = []
    for line in block.splitlines():
        if line.startswith("$ "):
            command, comment = (re.split(r"\s+#\s+", line[2:], maxsplit=1) + [""])[:2]
            examples.append([command.strip(), comment.strip(), []])
        elif line.lstrip().startswith("# ") and examples:
            examples[-1][1] = (examples[-1][1] + " " + line.lstrip()[2:]).strip()
        elif examples:
            examples[-1][2].append(line)
    return examples


def parse_curl_output(out):
    """`curl -si` output → (status, [(name, value)], body)."""
    head, _, body = out.replace("\r\n", "\n").partition("\n\n")
    lines = head.split("\n")
    status = int(lines[0].split()[1])
    headers = [(k.strip().lower(), v.strip()) for k, _, v in (l.partition(":") for l in lines[1:])]
    return status, headers, body


def check_comment(comment, status, headers, body, seen):
    parts = [p.strip() for p in comment.split(";")]
    want = parts[0].split()
    assert status == int(want[0]), (comment, status, body)
    if len(want) > 1:
        assert json.loads(body)["error"] == want[1], (comment, body)
    for part in parts[1:]:
        if part.startswith("challenges:"):
            spec = re.sub(r"\(.*?\)", "", part[len("challenges:"):]).strip()
            wanted = [c.strip() for c in spec.split(", ")]
            got = [v for k, v in headers if k == "www-authenticate"]
            assert [g.split()[0] for g in got] == [w.split()[0] for w in wanted], (comment, got)
            for w, g in zip(wanted, got):
                attrs = w.split(" ", 1)[1:]
                if attrs:
                    assert attrs[0] in g, (comment, g)
                else:
                    assert "error=" not in g, (comment, g)
        elif part.startswith("upstream gets"):
            name, value = (x.strip() for x in part[len("upstream gets"):].split(":", 1))
            assert seen is not None and seen.header(name) == value, (comment, seen)


def check_shown(shown, status, headers, body):
    lines = [l for l in shown if l.strip()]
    if not lines:
        return
    assert lines[0].startswith("HTTP/1.1 "), lines
    assert status == int(lines[0].split()[1]), (lines[0], status)
    header_lines = [l for l in lines[1:] if re.match(r"^[a-z-]+: ", l)]
    for line in header_lines:
        k, v = line.split(": ", 1)
        assert (k, v) in headers, (line, headers)
    rest = "".join(l.strip() for l in lines[1:] if l not in header_lines)
    if rest:
        shown_body, got = json.loads(rest), json.loads(body)
        for member in ("error", "status", "title", "type", "detail"):
            assert got[member] == shown_body[member], (member, got, shown_body)
        assert [a["scheme"] for a in got["accepted"]] == [a["scheme"] for a in shown_body["accepted"]]
        assert got["accepted"] == shown_body["accepted"]


@pytest.fixture(scope="module")
def demo():
    port = free_port()
    upstream, envoy, op = run(port, free_port(), free_port(), free_port(), free_port(), free_port())
    yield port, upstream
    envoy.stop()
    upstream.close()
    op.stop()


def run_examples(port, mark, seen_since):
    """Runs every example against 127.0.0.1:`port` and checks it. `mark()` is taken before each
    curl; `seen_since(mark, status, body)` is what upstream received since (None: nothing)."""
    examples = readme_examples()
    assert len(examples) >= 10, examples
    env = dict(os.environ)
    checked = 0
    for command, comment, shown in examples:
        if re.match(r"^[A-Z_]+=", command):
            name, _, value = command.partition("=")
            env[name] = subprocess.run(["bash", "-c", f"printf %s {value}"], cwd=ROOT, env=env,
                                       capture_output=True, text=True, timeout=60, check=True).stdout
            assert env[name], command
            continue
        assert command.startswith("curl "), command
        line = command.replace("http://127.0.0.1:8080", f"http://127.0.0.1:{port}")
        before = mark()
        r = subprocess.run(["bash", "-c", line], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, (command, r.stderr)
        status, headers, body = parse_curl_output(r.stdout)
        seen = seen_since(before, status, body)
        assert (seen is not None) == (status == 200), (command, status, "reached upstream" if seen else "")
        if comment:
            check_comment(comment, status, headers, body, seen)
        check_shown(shown, status, headers, body)
        assert comment or any(l.strip() for l in shown), f"{command}: the README says nothing to check"
        checked += 1
    assert checked >= 10


def test_readme_examples_hold(demo):
    port, upstream = demo
    run_examples(port, lambda: len(upstream.seen),
                 lambda before, status, body: upstream.seen[-1] if len(upstream.seen) > before else None)

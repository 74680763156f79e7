"""pytest wiring: Envoy stacks shared per test module, and Envoy's log printed with any
failure so a red test says what the proxy saw."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from harness import Stack  # noqa: E402

_live = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and _live:
        for stack in _live:
            tail = "\n".join(stack.envoy.log().splitlines()[-60:])
            report.sections.append(("Envoy log (last 60 lines)", tail))


def make_stack(plugin_config, **kw):
    stack = Stack(plugin_config, **kw)
    if stack.envoy.proc.poll() is not None:
        raise RuntimeError("Envoy refused the configuration:\n" + stack.envoy.log())
    _live.append(stack)
    return stack


def close_stack(stack):
    _live.remove(stack)
    stack.close()

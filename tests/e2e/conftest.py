"""pytest wiring: the `gw` fixtures (an Envoy running the test module's `CONFIG` with
dist/authgate.wasm in front of a recording upstream), and Envoy's log printed with any failure
so a red test says what the proxy saw. Modules pass extra Stack options in `STACK_OPTIONS`.
(pytest.ini puts tests/e2e on the import path.)"""

import pytest

from harness import Stack

_live = []


# Modules that do not depend on the artifact under test: they start no Envoy, or name the
# artifact they start (the demo and the containers run the wasm filter, test_native and
# test_fail_closed both, test_envoy_gateway the module, test_hot_reload the wasm filter by
# ECDS). ./build.sh test runs them in the wasm pass only; every other module runs against each artifact (wasm, native, service).
ONCE = {"test_docs.py", "test_standalone.py", "test_service.py", "test_compose.py", "test_compose_live.py",
        "test_envoy_configs.py", "test_readme.py", "test_native.py", "test_fail_closed.py",
        "test_envoy_gateway.py", "test_hot_reload.py", "test_service_mesh.py",
        "test_service_deploy.py", "test_demo_sign_in.py"}


def pytest_collection_modifyitems(config, items):
    import harness
    if harness.ARTIFACT == "wasm":
        return
    once = [i for i in items if i.path.name in ONCE]
    if once:
        config.hook.pytest_deselected(items=once)
        items[:] = [i for i in items if i.path.name not in ONCE]


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


def _module_stack(request):
    module = request.module
    return make_stack(module.CONFIG, **getattr(module, "STACK_OPTIONS", {}))


@pytest.fixture(scope="module")
def gw(request):
    """One Envoy for the whole test module."""
    stack = _module_stack(request)
    yield stack
    close_stack(stack)


@pytest.fixture
def fresh_gw(request):
    """A new Envoy for each test (fresh counters, or a VM the test may crash)."""
    stack = _module_stack(request)
    yield stack
    close_stack(stack)

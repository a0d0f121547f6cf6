"""conftest.py: pytest fixtures for the integration tests.

`instance` gives each test a fresh postern instance (harness.Instance) created with
`postern init` on a free loopback port but not yet started: the test adds settings with
inst.set(name=value) and calls inst.start(). At teardown the instance is stopped, leftover
processes are killed by PID, and the test fails if the maillog shows "panic:" or "fatal:"
(unless the test allowed them via inst.allowed_log_patterns) or if any sanitizer report
was written. The build under test is $POSTERN_BUILD (tests/run-all sets it).
"""
import os
import shutil

import pytest

import harness


def pytest_report_header(config):
    return "postern build under test: %s (uid %d)" % (harness.build_dir(), os.getuid())


@pytest.fixture
def instance(request):
    postern = os.path.join(harness.build_dir(), "cmd", "postern")
    if not os.access(postern, os.X_OK):
        pytest.fail("no postern command at %s: build first (POSTERN_BUILD)" % postern)
    base = harness.make_base_dir()
    inst = harness.Instance(base)
    failed_setup = True
    try:
        inst.init()
        failed_setup = False
        yield inst
    finally:
        left = inst.shutdown()
        problems = inst.problems()
        if left:
            problems.append("processes still running after `postern stop` (killed): %s"
                            % sorted(left))
        test_failed = getattr(request.node, "rep_call", None) is not None and \
            request.node.rep_call.failed
        keep = os.environ.get("POSTERN_KEEP_TMP") or problems or test_failed or failed_setup
        if keep:
            print("\n[instance files kept in %s]" % base)
        else:
            shutil.rmtree(base, ignore_errors=True)
        if problems:
            pytest.fail("instance problems:\n" + "\n".join(problems)[:20000], pytrace=False)


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Record each phase's result on the item so the fixture can see whether the test failed."""
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)

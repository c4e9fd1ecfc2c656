"""The installed husk carries no test-only code: the fault injection of
host-tool/testhooks.c is linked only into the test build (build/test/husk)
that this suite drives."""
import base64
import subprocess

import pytest
from conftest import HuskCli
from test_faults import ctl_call

HOOK_SYMBOLS = ("husk_test_hook", "husk_test_hooks")
HOOK_TEXT = b"is a test hook"


def symbols(binary):
    res = subprocess.run(["nm", "--defined-only", str(binary)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return {line.split()[-1] for line in res.stdout.splitlines() if line.strip()}


def test_release_husk_has_no_test_hooks(build_dir):
    release = build_dir / "husk"
    syms = symbols(release)
    assert not [s for s in HOOK_SYMBOLS if s in syms], "test hooks linked into the release husk"
    assert HOOK_TEXT not in release.read_bytes()


def test_test_build_has_them(build_dir):
    """The check above can fail: the same names are found in the test build."""
    test_build = build_dir / "test" / "husk"
    if not test_build.exists():
        pytest.fail(f"{test_build} is missing (make build/test/husk)")
    syms = symbols(test_build)
    assert all(s in syms for s in HOOK_SYMBOLS)
    assert HOOK_TEXT in test_build.read_bytes()


def test_release_proxy_has_no_hook_requests(build_dir, make_bundle, state_root, tmp_path,
                                            subreaper):
    """Even with HUSK_TEST_HOOKS=1 a release proxy knows no hook request,
    and leaves nothing behind for a reconnect (agent.sock is unlinked)."""
    cli = HuskCli(build_dir / "husk", state_root, tmp_path)
    try:
        b = make_bundle(["sleep", "1000000"])
        c = cli.create(b, verb=("run", "-d"), env={"HUSK_TEST_HOOKS": "1"})
        assert c.returncode == 0, c.stderr
        for req in ({"op": "inject", "data": base64.b64encode(b"x").decode()},
                    {"op": "reconnect"}):
            r = ctl_call(state_root / c.cid, req)
            assert r == {"error": "unknown control request"}, r
        assert not (state_root / c.cid / "agent.sock").exists()
        assert cli("exec", c.cid, "true").returncode == 0
    finally:
        cli.cleanup()

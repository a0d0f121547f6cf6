"""test_install.py: `make install DESTDIR=...` from the build under test produces the tree
docs/INSTALL.md documents (issue 8, point 3): postern, sendmail and the mailq/newaliases
links in $(sbindir), the daemons in $(libexecdir)/postern, the default configuration in
$(sysconfdir)/postern (never overwriting an edited file), the aliases table built, the man
pages (each rendered by `man -l` without a warning) and the systemd unit, which passes
`systemd-analyze verify`. The install paths are read from the build's Makefile, so the
test holds for any --prefix."""
import os
import re
import shutil
import subprocess

import pytest

import harness

DAEMONS = ("master", "smtpd", "cleanup", "qmgr", "local", "smtp", "pickup")
CONFIG_FILES = ("main.cf", "master.cf", "aliases")


def makefile_vars(build):
    """The install directory variables of the build's Makefile, fully expanded."""
    raw = {}
    with open(os.path.join(build, "Makefile")) as fh:
        for line in fh:
            m = re.match(r"^(\w+) = (.*)$", line.rstrip("\n"))
            if m:
                raw[m.group(1)] = m.group(2).strip()

    def expand(value, depth=0):
        if depth > 20:
            raise AssertionError("variable loop in Makefile: %r" % value)
        return re.sub(r"\$[{(](\w+)[})]", lambda m: expand(raw.get(m.group(1), ""), depth + 1),
                      value)
    names = ("prefix", "exec_prefix", "sbindir", "libexecdir", "sysconfdir", "mandir",
             "systemdunitdir", "srcdir")
    return {n: expand(raw.get(n, "")) for n in names}


def run_make_install(build, destdir):
    return subprocess.run(["make", "-s", "install", "DESTDIR=" + destdir], cwd=build,
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=600)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    build = harness.build_dir()
    if not os.path.isfile(os.path.join(build, "Makefile")):
        pytest.skip("%s is not a configured build tree" % build)
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    v = makefile_vars(build)
    src = v["srcdir"] if os.path.isabs(v["srcdir"]) else os.path.join(build, v["srcdir"])
    if not os.access(os.path.join(src, "Makefile.am"), os.R_OK) or not os.access(build, os.W_OK):
        pytest.skip("the source tree or build tree is not accessible to uid %d (a copied build)"
                    % os.getuid())
    dest = str(tmp_path_factory.mktemp("destdir"))
    p = run_make_install(build, dest)
    assert p.returncode == 0, "make install failed:\n" + p.stdout.decode(errors="replace")[-5000:]
    return build, dest, v


def tree(dest):
    """Every path under dest (relative, with a leading '/'), as `find` would list it."""
    out = {}
    for root, dirs, files in os.walk(dest):
        for name in dirs + files:
            full = os.path.join(root, name)
            out["/" + os.path.relpath(full, dest)] = os.lstat(full)
    return out


def test_install_tree(installed):
    build, dest, v = installed
    t = tree(dest)
    listing = "\n".join(sorted(t))
    for prog in ("postern", "sendmail"):
        path = v["sbindir"] + "/" + prog
        assert path in t, "%s not installed; tree:\n%s" % (path, listing)
        assert t[path].st_mode & 0o111, path + " is not executable"
    for link in ("mailq", "newaliases"):
        path = v["sbindir"] + "/" + link
        assert path in t and os.readlink(dest + path) == "sendmail", \
            "%s is not a symlink to sendmail" % path
    for d in DAEMONS:
        path = v["libexecdir"] + "/postern/" + d
        assert path in t and t[path].st_mode & 0o111, "daemon %s not installed" % path
    conf = v["sysconfdir"] + "/postern"
    for f in CONFIG_FILES:
        assert conf + "/" + f in t, "%s/%s not installed; tree:\n%s" % (conf, f, listing)
        assert t[conf + "/" + f].st_mode & 0o777 == 0o644
    assert conf + "/aliases.db" in t, "the aliases table was not built"
    with open(dest + conf + "/main.cf") as fh:
        main_cf = fh.read()
    assert "hash:%s/aliases" % conf in main_cf, "main.cf does not point at the installed aliases"
    unit = v["systemdunitdir"] + "/postern.service"
    assert unit in t, "systemd unit not installed at %s; tree:\n%s" % (unit, listing)
    pages = [p for p in t if p.startswith(v["mandir"] + "/man")]
    for page in ("man1/postern.1", "man5/master.cf.5", "man8/master.8", "man8/smtpd.8"):
        assert v["mandir"] + "/" + page in pages, "man page %s not installed" % page
    # nothing outside the documented directories (the queue is made by `postern start`)
    roots = (v["sbindir"], v["libexecdir"] + "/postern", conf, v["mandir"], v["systemdunitdir"])
    for path in t:
        if not any(path == r or path.startswith(r + "/") or r.startswith(path + "/")
                   for r in roots):
            raise AssertionError("unexpected path %s in the installed tree:\n%s" % (path, listing))


def test_installed_postern_runs(installed):
    _build, dest, v = installed
    p = subprocess.run([dest + v["sbindir"] + "/postern", "help"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=30)
    assert p.returncode == 0 and b"check" in p.stdout, p.stdout


def test_man_pages_render(installed):
    _build, dest, v = installed
    if shutil.which("man") is None:
        pytest.skip("man (man-db) is not installed")
    pages = []
    for root, _dirs, files in os.walk(dest + v["mandir"]):
        pages.extend(os.path.join(root, f) for f in files)
    assert pages, "no man pages installed"
    env = dict(os.environ, MANWIDTH="80", LANG="C.UTF-8")
    for page in sorted(pages):
        # ".so man5/x.5" stubs (main.cf.5, mailq.1) resolve relative to the man root, as
        # man(1) does for installed pages: run from there
        p = subprocess.run(["man", "-l", "-Tutf8", page], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60, env=env,
                           cwd=dest + v["mandir"])
        assert p.returncode == 0 and p.stdout, "man -l %s failed: %r" % (page, p.stderr)
        assert not p.stderr.strip(), "man -l %s warned:\n%s" % (page, p.stderr.decode())


def test_systemd_unit_verifies(installed, tmp_path):
    _build, dest, v = installed
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    unit = dest + v["systemdunitdir"] + "/postern.service"
    with open(unit) as fh:
        text = fh.read()
    assert re.search(r"^Type=forking$", text, re.M), text
    assert re.search(r"^PIDFile=/\S+/pid/master\.pid$", text, re.M), text
    assert re.search(r"^ExecReload=.*kill -HUP \$MAINPID$", text, re.M), text
    assert "@" not in "".join(l for l in text.splitlines() if not l.startswith("#")), \
        "unsubstituted @...@ left in the unit:\n" + text
    # the unit names the final paths; verify a copy that points into DESTDIR instead, so
    # systemd-analyze finds the executables and (through MANPATH) the man pages
    copy = tmp_path / "postern.service"
    copy.write_text(text.replace("=" + v["sbindir"] + "/", "=" + dest + v["sbindir"] + "/"))
    env = dict(os.environ, MANPATH=dest + v["mandir"], SYSTEMD_LOG_COLOR="0")
    p = subprocess.run(["systemd-analyze", "verify", str(copy)], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=120, env=env)
    out = p.stdout.decode(errors="replace")
    assert p.returncode == 0 and "postern.service" not in out, "systemd-analyze verify:\n" + out


def test_reinstall_keeps_edited_config(installed):
    build, dest, v = installed
    main_cf = dest + v["sysconfdir"] + "/postern/main.cf"
    with open(main_cf, "a") as fh:
        fh.write("\n# edited by the administrator\nmyhostname = edited.example.test\n")
    with open(main_cf) as fh:
        before = fh.read()
    p = run_make_install(build, dest)
    assert p.returncode == 0, p.stdout.decode(errors="replace")[-5000:]
    with open(main_cf) as fh:
        assert fh.read() == before, "make install overwrote an existing main.cf"
    assert b"keeping existing" in p.stdout

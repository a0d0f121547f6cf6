#!/bin/sh
# run_qmgr_tests.sh: `make check` entry for qmgr: runs the pytest suite in qmgr/tests
# (real qmgr binary + fake delivery agent) from the build directory. Exit 77 = skipped.
srcdir=${srcdir:-.}
if ! /usr/bin/python3 -c 'import pytest' 2>/dev/null; then
    echo "pytest for /usr/bin/python3 not installed: skipping" >&2
    exit 77
fi
QMGR_BUILD=$(pwd) MKQFILE=$(pwd)/qmgr/tests/mkqfile \
    exec /usr/bin/python3 -m pytest -q -p no:cacheprovider "$srcdir/qmgr/tests"

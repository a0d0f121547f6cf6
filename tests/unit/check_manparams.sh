#!/bin/sh
# check_manparams.sh: `make check` test that postern.conf(5) documents every parameter of
# lib/params.c with its current default. It regenerates the PARAMETERS section with
# man/gen-params.sh and compares it with the one in man/postern.conf.5; any difference
# (a parameter added, removed, renamed, a changed default or description) fails, naming
# the parameters concerned. Fix: run `man/gen-params.sh -u` (and describe new parameters
# in man/params.desc).
set -u

top=${srcdir:-$(dirname "$0")/../..}
top=$(cd "$top" && pwd) || exit 99
page=$top/man/postern.conf.5
gen=$top/man/gen-params.sh
params_c=$top/lib/params.c
for f in "$page" "$gen" "$params_c"; do
    [ -r "$f" ] || { echo "check_manparams: cannot read $f" >&2; exit 99; }
done

tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT

if ! sh "$gen" -s "$top" > "$tmp/expected" 2> "$tmp/gen.err"; then
    echo "check_manparams: gen-params.sh failed:" >&2
    cat "$tmp/gen.err" >&2
    exit 1
fi
awk '/^\.\\" BEGIN GENERATED PARAMETERS$/ { on = 1; next }
     /^\.\\" END GENERATED PARAMETERS$/ { on = 0 }
     on' "$page" > "$tmp/actual"

# Every name in params.c must have an entry "\fBname\fR (default: ...)" in the page.
names=$(sed -n 's/^[[:space:]]*{ *"\([a-z0-9_]*\)",.*/\1/p' "$params_c")
count=0
missing=""
for n in $names; do
    count=$((count + 1))
    grep -q "^\\\\fB$n\\\\fR (default: " "$tmp/actual" || missing="$missing $n"
done
if [ "$count" -lt 10 ]; then
    echo "check_manparams: found only $count parameters in $params_c (parser out of date?)" >&2
    exit 1
fi
status=0
if [ -n "$missing" ]; then
    echo "check_manparams: parameters missing from man/postern.conf.5:$missing" >&2
    status=1
fi
if ! cmp -s "$tmp/expected" "$tmp/actual"; then
    echo "check_manparams: the PARAMETERS section of man/postern.conf.5 is out of date:" >&2
    diff -u "$tmp/actual" "$tmp/expected" | head -40 >&2
    status=1
fi
if [ "$status" != 0 ]; then
    echo "check_manparams: run man/gen-params.sh -u (describe new parameters in man/params.desc)" >&2
else
    echo "check_manparams: all $count parameters documented with their defaults"
fi
exit $status

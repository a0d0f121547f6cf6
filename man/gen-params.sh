#!/bin/sh
# gen-params.sh: generate the PARAMETERS part of postern.conf(5) from lib/params.c (the
# single source of truth for names, types and defaults) and man/params.desc (one
# description per parameter). The generated roff goes between the marker lines
#   .\" BEGIN GENERATED PARAMETERS   and   .\" END GENERATED PARAMETERS
# of man/postern.conf.5.
#
#   gen-params.sh [-s SRCDIR]          print the generated section on stdout
#   gen-params.sh [-s SRCDIR] -u       rewrite the section inside SRCDIR/man/postern.conf.5
#
# SRCDIR defaults to the directory above this script. tests/unit/check_manparams.sh runs
# the first form and compares its output with the page, so a parameter added to params.c
# without re-running `man/gen-params.sh -u` fails `make check`.
# Parameters without a description get "Not documented yet." and a warning on stderr.
set -eu

srcdir=$(cd "$(dirname "$0")/.." && pwd)
update=0
while [ $# -gt 0 ]; do
    case "$1" in
    -s) [ $# -ge 2 ] || { echo "gen-params.sh: -s needs a directory" >&2; exit 2; }
        srcdir=$2; shift 2 ;;
    -u) update=1; shift ;;
    *) echo "usage: gen-params.sh [-s SRCDIR] [-u]" >&2; exit 2 ;;
    esac
done

params_c=$srcdir/lib/params.c
desc=$srcdir/man/params.desc
page=$srcdir/man/postern.conf.5
for f in "$params_c" "$desc"; do
    [ -r "$f" ] || { echo "gen-params.sh: cannot read $f" >&2; exit 2; }
done

LC_ALL=C
export LC_ALL

generate() {
    awk -v descfile="$desc" '
    # roff-escape a text: backslashes, and a leading . or apostrophe
    function esc(s) {
        gsub(/\\/, "\\e", s)
        if (s ~ /^[.\047]/) s = "\\&" s
        return s
    }
    function typename(t, unit) {
        if (t == "PARAM_STR")  return "string"
        if (t == "PARAM_LIST") return "list (separated by commas and/or white space)"
        if (t == "PARAM_INT")  return "integer"
        if (t == "PARAM_BOOL") return "boolean (yes or no)"
        if (t == "PARAM_SIZE") return "size in bytes"
        if (t == "PARAM_TIME") {
            u = unit == "s" ? "seconds" : unit == "m" ? "minutes" : unit == "h" ? "hours" : \
                unit == "d" ? "days" : unit == "w" ? "weeks" : unit
            return "time (a number with an optional unit s, m, h, d or w; a bare number is in " u ")"
        }
        return "unknown"
    }
    BEGIN {
        ndesc = 0
        while ((getline line < descfile) > 0) {
            if (line ~ /^#/ || line ~ /^[ \t]*$/) continue
            if (line ~ /^[ \t]/) {              # continuation of the previous description
                if (last == "") { print "params.desc: continuation without a name" > "/dev/stderr"; exit 2 }
                sub(/^[ \t]+/, "", line)
                d[last] = d[last] "\n" line
                continue
            }
            name = line; sub(/[ \t].*$/, "", name)
            text = line; sub(/^[^ \t]+[ \t]*/, "", text)
            if (name in d) { print "params.desc: duplicate " name > "/dev/stderr"; exit 2 }
            d[name] = text; last = name
        }
        intable = 0
    }
    /param_table\[\] *= *\{/ { intable = 1; next }
    intable && /^};/ { intable = 0; next }
    !intable { next }
    # a group comment on its own line: /* identity */
    /^[ \t]*\/\*.*\*\/[ \t]*$/ {
        g = $0
        sub(/^[ \t]*\/\*[ \t]*/, "", g); sub(/[ \t]*\*\/[ \t]*$/, "", g)
        sub(/[ \t]*\(.*\)$/, "", g)         # drop "(lib/x.c, ...)" source notes
        group = g
        next
    }
    /^[ \t]*\{ *"/ {
        line = $0
        # { "name", PARAM_X, "default", unit },   /* comment */
        if (match(line, /\{ *"[^"]*"/) == 0) next
        name = substr(line, RSTART, RLENGTH); sub(/^\{ *"/, "", name); sub(/"$/, "", name)
        rest = substr(line, RSTART + RLENGTH)
        if (match(rest, /PARAM_[A-Z]+/) == 0) { print "params.c: no type for " name > "/dev/stderr"; exit 2 }
        type = substr(rest, RSTART, RLENGTH)
        rest = substr(rest, RSTART + RLENGTH)
        if (match(rest, /"([^"\\]|\\.)*"/) == 0) { print "params.c: no default for " name > "/dev/stderr"; exit 2 }
        def = substr(rest, RSTART + 1, RLENGTH - 2)
        rest = substr(rest, RSTART + RLENGTH)
        unit = ""
        if (match(rest, /\047.\047/)) unit = substr(rest, RSTART + 1, 1)
        if (group != printed_group) {
            g = group
            print ".SS \"" g "\""
            printed_group = group
        }
        print ".TP"
        if (def == "")
            print "\\fB" esc(name) "\\fR (default: empty)"
        else
            print "\\fB" esc(name) "\\fR (default: \\fI" esc(def) "\\fR)"
        if (name in d) {
            print d[name]
            used[name] = 1
        } else {
            print "Not documented yet."
            print "gen-params.sh: warning: no description for " name " in man/params.desc" > "/dev/stderr"
        }
        print "Type: " typename(type, unit) "."
        count++
    }
    END {
        if (count == 0) { print "gen-params.sh: no parameters found in params.c" > "/dev/stderr"; exit 2 }
        for (n in d)
            if (!(n in used))
                print "gen-params.sh: warning: params.desc describes " n ", which is not in params.c" > "/dev/stderr"
    }
    ' "$params_c"
}

if [ "$update" = 0 ]; then
    generate
    exit 0
fi

[ -r "$page" ] || { echo "gen-params.sh: cannot read $page" >&2; exit 2; }
grep -q '^\.\\" BEGIN GENERATED PARAMETERS$' "$page" && grep -q '^\.\\" END GENERATED PARAMETERS$' "$page" \
    || { echo "gen-params.sh: $page lacks the BEGIN/END GENERATED PARAMETERS markers" >&2; exit 2; }
tmp_section=$(mktemp)
tmp_page=$(mktemp)
trap 'rm -f "$tmp_section" "$tmp_page"' EXIT
generate > "$tmp_section"
awk -v section="$tmp_section" '
    /^\.\\" BEGIN GENERATED PARAMETERS$/ {
        print
        while ((getline l < section) > 0) print l
        skip = 1
        next
    }
    /^\.\\" END GENERATED PARAMETERS$/ { skip = 0 }
    !skip { print }
' "$page" > "$tmp_page"
cat "$tmp_page" > "$page"
echo "gen-params.sh: updated $page"

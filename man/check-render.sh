#!/bin/sh
# check-render.sh: `make check` test that every manual page in man/ renders without a
# single groff warning (groff -man -ww -z) and through man(1) (man -l -Tutf8). Skipped
# (exit 77) when groff is not installed (Debian: groff-base, man-db). A one-line
# ".so manN/PAGE" stub (mailq.1, main.cf.5...) only resolves in an installed man tree,
# so for stubs we check that PAGE exists in man/ with section N instead.
set -u

top=${srcdir:-$(dirname "$0")/..}
top=$(cd "$top" && pwd) || exit 99
command -v groff >/dev/null 2>&1 || { echo "check-render: groff not installed; skipped"; exit 77; }

status=0
count=0
for page in "$top"/man/*.[1-8]; do
    [ -e "$page" ] || continue
    count=$((count + 1))
    if [ "$(wc -l < "$page")" -eq 1 ] && grep -q '^\.so man[1-8]/' "$page"; then
        target=$(sed -n 's|^\.so man\([1-8]\)/\(.*\)$|\2|p' "$page")
        section=$(sed -n 's|^\.so man\([1-8]\)/.*$|\1|p' "$page")
        case "$target" in
            *."$section") [ -f "$top/man/$target" ] && continue ;;
        esac
        echo "check-render: $page: .so target man$section/$target not in man/" >&2
        status=1
        continue
    fi
    out=$(groff -man -ww -z "$page" 2>&1)
    if [ -n "$out" ]; then
        echo "check-render: groff warnings for $page:" >&2
        echo "$out" >&2
        status=1
    fi
    if command -v man >/dev/null 2>&1; then
        out=$(MANWIDTH=80 man -l -Tutf8 "$page" 2>&1 >/dev/null)
        if [ -n "$out" ]; then
            echo "check-render: man -l warnings for $page:" >&2
            echo "$out" >&2
            status=1
        fi
    fi
done
[ "$count" -gt 0 ] || { echo "check-render: no pages found in $top/man" >&2; exit 1; }
[ "$status" = 0 ] && echo "check-render: $count pages render cleanly"
exit $status

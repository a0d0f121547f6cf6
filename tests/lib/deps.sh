# deps.sh: the Debian packages postern needs to build and test, and one function that
# installs the missing ones. Sourced (not executed) by ./quickstart and tests/run-all so
# both agree on the list.
#
#   postern_ensure_deps   as root: apt-get install the missing packages (apt-get update
#                         only when something is missing); otherwise print what is
#                         missing. Returns non-zero if anything is still missing.

POSTERN_DEPS="build-essential autoconf automake pkg-config libssl-dev libdb5.3-dev
libspf2-dev libopendkim-dev libopendmarc-dev check libsubunit-dev python3 python3-pytest
swaks clang libclang-rt-14-dev dnsmasq-base python3-dnslib python3-dkim publicsuffix
openssl procps libnet-ssleay-perl libauthen-sasl-perl python3-pytest-xdist
dovecot-imapd dovecot-pop3d dovecot-lmtpd systemd python3-prometheus-client"
# dovecot-*: tests/integration/test_dovecot.py runs a private Dovecot on high ports (the
# system service is kept from starting during the install, see postern_apt_install);
# systemd: systemd-analyze verify of the unit in test_install.py.
# python3-prometheus-client: its text parser checks test_metrics.py's scrape.

# Print the packages from $POSTERN_DEPS that are not installed, one per line.
postern_missing_deps() {
    local pkg status
    for pkg in $POSTERN_DEPS; do
        status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
        case "$status" in
            *" installed") ;;
            *) echo "$pkg" ;;
        esac
    done
}

# apt-get install PACKAGES without starting any service they ship (dovecot-core would
# start a system Dovecot on ports 143/110): a policy-rc.d that denies every start is in
# place during the install and removed afterwards, unless one was there already.
postern_apt_install() {
    local policy=/usr/sbin/policy-rc.d ours=0 rc
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\n# postern deps.sh: no service starts during this install\nexit 101\n' \
            > "$policy" && chmod 755 "$policy" && ours=1
    fi
    apt-get install -y -q --no-install-recommends "$@"
    rc=$?
    [ "$ours" -eq 1 ] && rm -f "$policy"
    return $rc
}

postern_ensure_deps() {
    local missing
    if ! command -v dpkg-query >/dev/null 2>&1; then
        echo "deps: dpkg-query not found: this script expects Debian 12" >&2
        return 1
    fi
    missing=$(postern_missing_deps | tr '\n' ' ')
    if [ -z "${missing// /}" ]; then
        return 0
    fi
    if [ "$(id -u)" -ne 0 ]; then
        echo "deps: missing Debian packages: $missing" >&2
        echo "deps: install them as root: apt-get install --no-install-recommends $missing" >&2
        return 1
    fi
    echo "deps: installing $missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q || return 1
    # shellcheck disable=SC2086
    postern_apt_install $missing || return 1
    missing=$(postern_missing_deps | tr '\n' ' ')
    if [ -n "${missing// /}" ]; then
        echo "deps: still missing after apt-get install: $missing" >&2
        return 1
    fi
}

# Create the system account daemons drop to ($mail_owner = postern) when run as root.
postern_ensure_mail_owner() {
    if [ "$(id -u)" -eq 0 ] && ! getent passwd postern >/dev/null; then
        useradd --system --home-dir /nonexistent --no-create-home \
            --shell /usr/sbin/nologin postern
    fi
}

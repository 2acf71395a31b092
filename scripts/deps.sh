#!/bin/sh
# Installs the Debian packages qpstat needs, when missing: to build it
# (`sh scripts/deps.sh`), or to build and test it (`sh scripts/deps.sh test`:
# the reference tools, a real qpsmtpd, sanitizers, valgrind, the Debian
# packaging tools t/720 builds the .deb with, rpmbuild for t/730's RPM and
# Text::Template for t/735's SME fragments, MIME::Parser for t/547's mail,
# logrotate for t/537). Debian's qpsmtpd 0.94 does not
# pull in libnet-ip-perl, which its stock check_relay needs to start.
# Idempotent; needs root (or sudo) only when something is missing.
set -eu
want="build-essential perl libperl-dev zlib1g-dev libsqlite3-dev uthash-dev libc-ares-dev libmicrohttpd-dev libjs-chart.js check pkg-config libsystemd-dev"
if [ "${1:-}" = test ]; then
    want="$want clang libclang-rt-14-dev gawk mawk daemontools libjson-pp-perl
qpsmtpd swaks libnet-dns-perl libmailtools-perl libnet-ip-perl sqlite3 libtest-leaktrace-perl valgrind chromium prometheus
dpkg-dev debhelper fakeroot lintian rpm libtext-template-perl man-db libmime-tools-perl systemd systemd-journal-remote logrotate"
fi
SUDO=""
need_root() {
    [ "$(id -u)" = 0 ] && return 0
    command -v sudo >/dev/null 2>&1 || { echo "qpstat: run as root to install:$missing" >&2; exit 1; }
    SUDO=sudo
}

# SME Server 10/11, CentOS, Rocky: no dpkg, the same packages by their
# EL names, installed with dnf (or yum). Chart.js (qpstat serve) is not
# packaged there: put chart.min.js where QPS_CHARTJS says (see rpm/qpstat.spec).
if ! command -v dpkg-query >/dev/null 2>&1 && command -v rpm >/dev/null 2>&1; then
    want="gcc make perl perl-devel perl-ExtUtils-MakeMaker zlib-devel sqlite-devel uthash-devel c-ares-devel
libmicrohttpd-devel check-devel pkgconfig systemd-devel"
    if [ "${1:-}" = test ]; then
        want="$want clang compiler-rt gawk mawk perl-JSON-PP swaks perl-Net-DNS perl-MailTools perl-Net-IP sqlite
perl-Test-LeakTrace valgrind rpm-build perl-Text-Template perl-MIME-tools systemd systemd-journal-remote logrotate"
    fi
    missing=""
    for p in $want; do
        rpm -q "$p" >/dev/null 2>&1 || missing="$missing $p"
    done
    [ -z "$missing" ] && exit 0
    echo "qpstat: installing:$missing"
    need_root
    installer=dnf
    command -v dnf >/dev/null 2>&1 || installer=yum
    exec $SUDO $installer install -y -q $missing
fi

missing=""
for p in $want; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "qpstat: installing:$missing"
need_root
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get -o DPkg::Lock::Timeout=300 update -qq || true
# libclang-rt-14-dev is the name on Debian 12; newer releases pick the default
if ! $SUDO apt-get -o DPkg::Lock::Timeout=300 install -y -qq $missing; then
    missing=$(echo "$missing" | sed 's/libclang-rt-14-dev/libclang-rt-dev/')
    $SUDO apt-get -o DPkg::Lock::Timeout=300 install -y -qq $missing
fi

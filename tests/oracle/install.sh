#!/usr/bin/env bash
# Installs the differential test's oracle (see tests/oracle/README.md):
# - php-cli, php-intl, php-mbstring, php-laravel-framework and php-email-validator (egulias 3.x)
#   from the machine's own Debian release, with apt-get;
# - egulias/EmailValidator 2.1.25, which is php-email-validator in Debian bullseye, with the
#   doctrine/lexer it was packaged with there (1.2.x; the current release's 2.x is not what a
#   Laravel 8 server runs): downloaded with `apt-get download` through a private apt state (the
#   system's sources and lists are left alone) and unpacked with `dpkg-deb -x` into
#   $ORACLE_DIR/egulias2, never installed. The harness puts that folder first on PHP's include path.
# The bullseye suite is fetched from the mirror the machine already uses (read from its apt
# sources), so no host name is written here. Idempotent: finishes at once when all is in place.
set -euo pipefail

ORACLE_DIR="${ORACLE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/wolfeo-bulk-oracle}"
EGULIAS2="$ORACLE_DIR/egulias2/usr/share/php/Egulias/EmailValidator/EmailValidator.php"
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

# `php -m` is read whole first: `grep -q` closing the pipe early would fail it under pipefail.
modules=$(php -m 2>/dev/null || true)
if ! { [ -f /usr/share/php/Illuminate/Validation/Validator.php ] \
        && [ -f /usr/share/php/Egulias/EmailValidator/EmailValidator.php ] \
        && grep -qx intl <<<"$modules" && grep -qx mbstring <<<"$modules"; }; then
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends \
        php-cli php-intl php-mbstring php-laravel-framework php-email-validator
fi

if [ ! -f "$EGULIAS2" ]; then
    # The first deb822 or one-line source of the main archive (not -security, not third party).
    uri=""
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        uri=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' "$f")
        [ -n "$uri" ] && break
    done
    if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
        uri=$(awk '$1 == "deb" && $0 !~ /security/ && $0 !~ /^#/ {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' /etc/apt/sources.list)
    fi
    if [ -z "$uri" ]; then
        echo "install.sh: no Debian mirror found in the apt sources" >&2
        exit 1
    fi
    apt_dir="$ORACLE_DIR/apt"
    mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$ORACLE_DIR/egulias2"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri bullseye main" \
        > "$apt_dir/sources.list"
    apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=-"
        -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache"
        -o "Dir::State::status=/dev/null" -o "APT::Sandbox::User=root" -q)
    mkdir -p "$apt_dir/cache"
    apt-get "${apt_opts[@]}" update
    (cd "$apt_dir/archives" && apt-get "${apt_opts[@]}" download php-email-validator php-doctrine-lexer)
    for deb in "$apt_dir"/archives/php-email-validator_2.1.*_all.deb \
        "$apt_dir"/archives/php-doctrine-lexer_1.*_all.deb; do
        dpkg-deb -x "$deb" "$ORACLE_DIR/egulias2"
    done
    rm -rf "$apt_dir"
fi
test -f "$EGULIAS2"
echo "oracle: $(php -r 'echo PHP_VERSION;'), egulias 2 in $ORACLE_DIR/egulias2"

# Debian package lists and the ensure_packages helper, sourced from the package root by the
# scripts in Scripts/ and .ci/.

# Prints the Debian packages that the system library targets in Package.swift name as apt
# providers (`providers: [.apt(["libreadline-dev"])]`), one per line.
read_build_packages() {
    tr '\n' ' ' <Package.swift | grep -o '\.apt( *\[[^]]*\]' | grep -o '"[^"]*"' | tr -d '"'
}

# Packages that `swift build` needs beyond the Swift toolchain, such as readline for gearadmin.
# shellcheck disable=SC2034  # The arrays are used by the scripts that source this file.
mapfile -t build_packages < <(read_build_packages)

# Packages that the tests use: the C gearmand, gearman and gearadmin 1.1.20 as references,
# libgearman, ImageMagick's convert as a worker command, Python 3, PostgreSQL for the Postgres
# queue, tmux for the gearadmin shell tests, zsh and fish to check the completions, and PHP's
# and Perl's Gearman clients for the interoperability tests. The HTTP module's tests use curl
# and promtool from the prometheus package, and load the web dashboard in headless chromium.
# shellcheck disable=SC2034
test_packages=(gearman-job-server gearman-tools libgearman-dev imagemagick python3 postgresql tmux zsh fish
    php-cli php-gearman libgearman-client-perl curl prometheus chromium)

apt_index_updated=false

# Installs the named Debian packages that are not installed yet.
#
# As root it runs `apt-get update` (once per script run) and `apt-get install -y`. As another user
# it prints the `sudo apt-get install` command to run and returns 1. Without dpkg, on a system
# that is not Debian-based, it warns and returns 0, so a machine set up by hand can go on.
ensure_packages() {
    local script=${0##*/}
    local missing=()
    local package

    if [[ $# -eq 0 ]]; then
        return 0
    fi
    if ! command -v dpkg >/dev/null; then
        echo "$script: dpkg not found, so these packages cannot be checked. Make sure they are installed: $*" >&2
        return 0
    fi

    for package in "$@"; do
        if ! dpkg -s "$package" 2>/dev/null | grep -q '^Status: install ok installed$'; then
            missing+=("$package")
        fi
    done
    if [[ ${#missing[@]} -eq 0 ]]; then
        return 0
    fi

    if [[ $(id -u) -ne 0 ]]; then
        echo "$script: missing Debian packages: ${missing[*]}" >&2
        echo "Install them, then run $script again:" >&2
        echo "    sudo apt-get install -y ${missing[*]}" >&2
        return 1
    fi

    echo "$script: installing missing Debian packages: ${missing[*]}" >&2
    if [[ $apt_index_updated == false ]]; then
        apt-get update
        apt_index_updated=true
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
}

#!/usr/bin/env bash
# `npm run bench [-- options]`: installs the reference servers from Debian's
# packages when missing, raises the open-file limit, and runs bench/run.ts
# (compiled to dist/bench/run.js by `npm run bench`). See bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=bench/.cache

if [ "$(id -u)" != 0 ]; then
  echo "bench: run as root (it installs packages, creates the local user 'ftpbench' for the forking servers, raises ulimit -n)" >&2
  exit 2
fi

export DEBIAN_FRONTEND=noninteractive
APT=(apt-get -o DPkg::Lock::Timeout=600 -qq)
updated=no
apt_update() { if [ $updated = no ]; then "${APT[@]}" update; updated=yes; fi; }

# vsftpd and pyftpdlib are installed as packages. pure-ftpd and ProFTPD
# conflict with vsftpd (all three provide "ftp-server"), so their .debs are
# unpacked under bench/.cache/debroot and run from there (with their library
# dependencies installed as packages). The package scripts never start a
# service here: the harness starts every server itself.
missing=()
command -v curl >/dev/null || missing+=(curl)
[ -x /usr/sbin/vsftpd ] || missing+=(vsftpd)
[ -d /usr/lib/python3/dist-packages/pyftpdlib ] || missing+=(python3-pyftpdlib)
for lib in libhiredis0.14 libmemcached11 libmemcachedutil2 libpcre2-posix3 libsodium23; do
  dpkg-query -W -f '${Status}' "$lib" 2>/dev/null | grep -q 'install ok installed' || missing+=("$lib")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt_update
  # policy-rc.d keeps vsftpd's package scripts from starting the system service.
  "${APT[@]}" install -y --no-install-recommends "${missing[@]}" >/dev/null
fi
for pkg in pure-ftpd proftpd-core; do
  if [ ! -f "$CACHE/$pkg.version" ]; then
    apt_update
    mkdir -p "$CACHE/debs" "$CACHE/debroot"
    (cd "$CACHE/debs" && apt-get -qq download "$pkg" 2>/dev/null)
    deb=$(ls "$CACHE/debs/${pkg}"_*.deb | head -1)
    dpkg-deb -x "$deb" "$CACHE/debroot"
    dpkg-deb -f "$deb" Version > "$CACHE/$pkg.version"
  fi
done
mkdir -p /var/run/vsftpd/empty

# 10,000 idle sessions: a descriptor per session in the server and in the
# client process. Raise the soft limit to the hard one (20,000 here; raising
# the hard limit needs CAP_SYS_RESOURCE, which this machine's root lacks).
ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 12000 ]; then
  echo "bench: ulimit -n is $(ulimit -n); 10,000 idle sessions need about 11,000" >&2
fi
exec node dist/bench/run.js "$@"

#!/usr/bin/env bash
# Makes sure a PostgreSQL server is reachable and prints `export DATABASE_URL=...` for it.
#
# - DATABASE_URL already set: it is used as it is.
# - Otherwise a project-local cluster under .pgdata/ is created (once) and started on a port of
#   its own, with the system's initdb/pg_ctl (through `runuser -u postgres` when run as root,
#   since initdb refuses root). Missing server binaries are installed with apt-get when possible.
# Everything it says for people goes to stderr; stdout carries only the export line.
set -euo pipefail

say() { echo "ensure-postgres: $*" >&2; }
die() { say "$*"; exit 1; }

root_dir=$(cd "$(dirname "$0")/.." && pwd)
port=${GAMEDAY_PG_PORT:-54329}
data="$root_dir/.pgdata/cluster"
log="$root_dir/.pgdata/server.log"
db_name=gameday
db_user=gameday
db_pass=gameday

if [ -n "${DATABASE_URL:-}" ]; then
  echo "export DATABASE_URL='$DATABASE_URL'"
  exit 0
fi

find_bindir() {
  local d
  if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
    dirname "$(readlink -f "$(command -v pg_ctl)")"; return 0
  fi
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/pg_ctl" ] && [ -x "$d/initdb" ] && { echo "$d"; return 0; }
  done
  return 1
}

as_root=false
[ "$(id -u)" -eq 0 ] && as_root=true

bindir=$(find_bindir || true)
if [ -z "$bindir" ]; then
  if $as_root && command -v apt-get >/dev/null 2>&1; then
    say "PostgreSQL server binaries not found; installing the 'postgresql' package with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 && apt-get install -y -qq postgresql >&2 || die "apt-get install postgresql failed"
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    say "PostgreSQL server binaries not found; installing the 'postgresql' package with sudo apt-get"
    sudo -n env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2 || die "apt-get install postgresql failed"
  else
    die "PostgreSQL server binaries (initdb, pg_ctl) are missing. Install them (Debian: 'sudo apt-get install postgresql') or set DATABASE_URL to a server you have."
  fi
  bindir=$(find_bindir) || die "PostgreSQL was installed but initdb/pg_ctl are still not found"
fi

# Run a PostgreSQL tool as the owner of the cluster.
run_pg() {
  if $as_root; then runuser -u postgres -- "$@"; else "$@"; fi
}

mkdir -p "$root_dir/.pgdata"
if $as_root; then
  id postgres >/dev/null 2>&1 || die "running as root but there is no 'postgres' user to own the cluster (install the postgresql package)"
  chown postgres: "$root_dir/.pgdata"
  # The postgres user must be able to reach the cluster directory: where a parent directory
  # is closed to others, it is opened for traversal only (o+x, no listing), and we say so.
  dir="$root_dir"
  while [ "$dir" != "/" ]; do
    if ! runuser -u postgres -- test -x "$dir"; then
      say "letting the postgres user traverse $dir (chmod o+x) to reach .pgdata/"
      chmod o+x "$dir"
    fi
    dir=$(dirname "$dir")
  done
fi

if [ ! -f "$data/PG_VERSION" ]; then
  say "creating a local PostgreSQL cluster in .pgdata/ (port $port)"
  rm -rf "$data"
  pwfile=$(mktemp)
  echo "$db_pass" > "$pwfile"
  chmod 644 "$pwfile"
  run_pg "$bindir/initdb" -D "$data" -U "$db_user" --pwfile="$pwfile" --auth=scram-sha-256 \
    --encoding=UTF8 --locale=C.UTF-8 >&2 || { rm -f "$pwfile"; die "initdb failed"; }
  rm -f "$pwfile"
  cat >> "$data/postgresql.conf" <<CONF
# Set by scripts/ensure-postgres.sh: loopback TCP only (no Unix socket), on a port of its own.
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = ''
max_connections = 300
fsync = on
CONF
fi

# Whether the postmaster named in the pid file is alive. A zombie counts as dead: after a crash
# its pid can linger unreaped, and `pg_ctl status` would still call it running.
pid_alive() {
  local state
  # /proc/PID/stat: "pid (comm) state ..."; read without ps, which minimal systems lack.
  state=$(sed -n 's/^[0-9]* (.*) \([A-Za-z]\) .*/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}
server_running() {
  [ -f "$data/postmaster.pid" ] && pid_alive "$(head -n1 "$data/postmaster.pid")"
}

if ! server_running; then
  if [ -f "$data/postmaster.pid" ]; then
    say "removing a stale postmaster.pid left by a crash"
    rm -f "$data/postmaster.pid"
  fi
  # Likewise the socket's lock file, which names the dead postmaster too.
  sock_lock="$data/.s.PGSQL.$port.lock"
  if [ -f "$sock_lock" ] && ! pid_alive "$(head -n1 "$sock_lock")"; then
    rm -f "$sock_lock" "$data/.s.PGSQL.$port"
  fi
  say "starting PostgreSQL on 127.0.0.1:$port (log: .pgdata/server.log)"
  touch "$log"; $as_root && chown postgres: "$log"
  run_pg "$bindir/pg_ctl" -D "$data" -l "$log" -o "-p $port" -w -t 60 start >&2 || {
    tail -n 20 "$log" >&2
    die "PostgreSQL did not start (if port $port is taken by another server, set GAMEDAY_PG_PORT)"
  }
fi

export PGPASSWORD="$db_pass"
ready=false
for _ in $(seq 1 150); do
  if "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" -U "$db_user" -d postgres; then ready=true; break; fi
  sleep 0.2
done
$ready || { tail -n 20 "$log" >&2; die "PostgreSQL on port $port did not become ready within 30 s"; }
psql_admin() { "$bindir/psql" -X -q -h 127.0.0.1 -p "$port" -U "$db_user" -d postgres -v ON_ERROR_STOP=1 "$@"; }
if [ "$(psql_admin -tAc "select 1 from pg_database where datname = '$db_name'")" != "1" ]; then
  psql_admin -c "create database $db_name" >&2
fi

echo "export DATABASE_URL='postgres://$db_user:$db_pass@127.0.0.1:$port/$db_name'"

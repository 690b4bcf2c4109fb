#!/usr/bin/env bash
# Bring up the servers the test suite talks to, on 127.0.0.1, with the access the tests
# expect: PostgreSQL :5432 (user postgres, trust), MariaDB :3306 (root, no password),
# RabbitMQ :5672 (guest/guest).
#
#   tools/test-services.sh [postgresql] [mariadb] [rabbitmq]     (default: all three)
#
# A server that answers is left alone. One that is installed but down is started.
# One that is missing is installed from Debian's packages (needs root and apt).
# Exits non-zero naming every server that still does not answer.
set -u

log() { echo "test-services: $*"; }

answers() { # port
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

wait_for() { # port seconds
  local left=$2
  until answers "$1"; do
    ((left-- > 0)) || return 1
    sleep 1
  done
}

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    log "need root to run: $*"; return 1
  fi
}

apt_updated=no
install_debs() { # package...
  command -v apt-get >/dev/null || { log "no apt-get: install $* by hand"; return 1; }
  if [ $apt_updated = no ]; then as_root apt-get update -qq >/dev/null || return 1; apt_updated=yes; fi
  log "installing $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

postgresql() {
  command -v pg_ctlcluster >/dev/null || install_debs postgresql postgresql-client || return 1
  local version
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
  [ -n "$version" ] || { log "PostgreSQL is installed but has no cluster"; return 1; }
  if ! answers 5432; then
    log "starting PostgreSQL $version"
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start >/dev/null 2>&1
    wait_for 5432 60 || return 1
  fi
  if ! psql -h 127.0.0.1 -U postgres -Atc 'select 1' >/dev/null 2>&1; then
    # Let local TCP connections in without a password, as on a developer machine.
    local hba=/etc/postgresql/$version/main/pg_hba.conf
    as_root sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main reload >/dev/null 2>&1
    sleep 1
  fi
  psql -h 127.0.0.1 -U postgres -Atc 'select 1' >/dev/null 2>&1
}

mariadb() {
  command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] ||
    install_debs mariadb-server mariadb-client || return 1
  if ! answers 3306; then
    log "starting MariaDB"
    as_root install -d -o mysql -g mysql /run/mysqld 2>/dev/null
    as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
    wait_for 3306 60 || return 1
  fi
  if ! mysql -uroot -h127.0.0.1 -e 'select 1' >/dev/null 2>&1; then
    # Debian's root uses the unix socket only; allow an empty password over TCP too.
    as_root mysql -uroot -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD('')" >/dev/null 2>&1
  fi
  mysql -uroot -h127.0.0.1 -e 'select 1' >/dev/null 2>&1
}

rabbitmq() {
  command -v rabbitmq-server >/dev/null || [ -x /usr/sbin/rabbitmq-server ] ||
    install_debs rabbitmq-server || return 1
  if ! answers 5672; then
    log "starting RabbitMQ"
    as_root rabbitmq-server -detached >/dev/null 2>&1
    wait_for 5672 120 || return 1
  fi
}

failed=()
for name in "${@:-postgresql mariadb rabbitmq}"; do
  for server in $name; do
    case $server in
      postgresql | mariadb | rabbitmq)
        if $server; then log "$server is up"; else failed+=("$server"); fi ;;
      mysql) if mariadb; then log "mariadb is up"; else failed+=(mariadb); fi ;;
      *) log "unknown server $server (known: postgresql mariadb rabbitmq)"; exit 2 ;;
    esac
  done
done
if [ ${#failed[@]} -gt 0 ]; then
  log "not answering: ${failed[*]}"
  exit 1
fi

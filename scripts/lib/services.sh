# shellcheck shell=bash
# Private test services for agency-portal, sourced by scripts/test.
#
# Everything lives in one temp dir ($SERVICES_DIR); nothing in /etc is read or written, no system
# service is started or stopped. Each service listens on 127.0.0.1 only, on a free port.
#
#   services_init                 create $SERVICES_DIR and install the EXIT/INT/TERM trap that stops
#                                 every started service and removes the dir
#   services_ensure_packages SVC… install (apt-get, when root) what the named services need:
#                                 build postgres mail sshd
#   postgres_start                private Postgres 15 cluster (see below for exported variables)
#   mail_start                    private Dovecot (IMAP + LMTP) and OpenSMTPD (SMTP -> LMTP -> Dovecot)
#   sshd_start                    private OpenSSH sshd, key authentication only
#   services_cleanup              stop everything, remove $SERVICES_DIR (the trap calls it)
#
# Logs: $SERVICES_DIR/<service>/*.log; when a service fails to start, the tail of its log is printed.
#
# Exported variables
#   SERVICES_DIR, AGENCY_PORTAL_TEST_SERVICES_DIR   the temp dir (scripts/service uses the latter)
#   postgres_start:
#     AGENCY_PORTAL_TEST_POSTGRES_URL     postgres://postgres@127.0.0.1:PORT/postgres (trust auth,
#                                         superuser; tests create their own databases)
#     AGENCY_PORTAL_TEST_POSTGRES_PORT    the port
#   mail_start:
#     AGENCY_PORTAL_TEST_SMTP_HOST        127.0.0.1
#     AGENCY_PORTAL_TEST_SMTP_PORT        OpenSMTPD, plain SMTP, no TLS, no auth; accepts mail for any
#                                         address and delivers it to the Dovecot user of the address'
#                                         local part (full address also accepted as user name),
#                                         except the domain below
#     AGENCY_PORTAL_TEST_SMTP_REJECT_DOMAIN  reject.test: every recipient there gets a permanent 5xx
#     AGENCY_PORTAL_TEST_IMAP_HOST        127.0.0.1
#     AGENCY_PORTAL_TEST_IMAP_PORT        Dovecot IMAP, plaintext login allowed (STARTTLS offered)
#     AGENCY_PORTAL_TEST_IMAPS_PORT       Dovecot IMAP over TLS from the first byte
#     AGENCY_PORTAL_TEST_SUBMISSION_PORT  Dovecot submission: SMTP with STARTTLS and AUTH (any user,
#                                         the password below), relaying to OpenSMTPD
#     AGENCY_PORTAL_TEST_SUBMISSIONS_PORT the same over TLS from the first byte
#     AGENCY_PORTAL_TEST_CA_FILE          the private CA Dovecot's and Postgres' certificates (for
#                                         127.0.0.1 and localhost) are signed by: trusted only when
#                                         named. Postgres has `ssl = on`; its database `tls_only`
#                                         takes TLS connections alone (hostssl; plain ones rejected). (OpenSMTPD
#                                         has no TLS here: Debian 12's 6.8 cannot sign with OpenSSL 3,
#                                         every handshake ends in "EVP lib", OpenSMTPD issue #1171;
#                                         SMTP over TLS goes to Dovecot's submission service.)
#     AGENCY_PORTAL_TEST_LMTP_PORT        Dovecot LMTP (OpenSMTPD delivers here)
#     AGENCY_PORTAL_TEST_IMAP_PASSWORD    the password of EVERY mailbox user (any user name logs in;
#                                         the mailbox is created on first delivery or login)
#     AGENCY_PORTAL_TEST_MAIL_DIR         root of the maildirs: $dir/<user>/Maildir
#     AGENCY_PORTAL_TEST_OAUTH2_KEY       base64 of the HS256 key Dovecot checks OAuth2 access tokens
#                                         with (IMAP and submission, AUTH XOAUTH2 and OAUTHBEARER): a
#                                         JWT {"alg":"HS256","typ":"JWT"} with `sub` = the user name
#                                         and `exp` in the future, signed with it, logs in as `sub`
#                                         (oauth2 passdb, introspection_mode = local: no network)
#   sshd_start:
#     AGENCY_PORTAL_TEST_SSH_PORT         sshd port (public key authentication only)
#     AGENCY_PORTAL_TEST_SSH_DIR          dir holding sshd_config, host keys and the client key
#     AGENCY_PORTAL_TEST_SSH_KEY          private key (ed25519, no passphrase) accepted for the users
#                                         named in AGENCY_PORTAL_TEST_SSH_USERS (default: the user
#                                         running the script); authorized_keys in $AGENCY_PORTAL_TEST_SSH_DIR
#     AGENCY_PORTAL_TEST_SSH_CONFIG       sshd_config path (append Match blocks, then sshd_reload)
#     AGENCY_PORTAL_TEST_SSH_KNOWN_HOSTS  known_hosts file with the host key (for ssh/sftp -o UserKnownHostsFile=)

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
SERVICES_DIR=
FREE_PORT=
SERVICES_PORTS_TAKEN=" "
SERVICES_STOP_FUNCS=()

say() { printf '%s\n' "$*" >&2; }
die() {
    printf 'scripts/test: %s\n' "$*" >&2
    exit 1
}
is_root() { [ "$(id -u)" -eq 0 ]; }

# Print the last lines of a log file with a header.
services_log_tail() {
    local log=$1 lines=${2:-40}
    say "----- last $lines lines of $log -----"
    if [ -f "$log" ]; then tail -n "$lines" "$log" >&2; else say "(no log file)"; fi
    say "----- end of $log -----"
}

# Run a command as an unprivileged service user when root; as ourselves otherwise.
as_user() {
    local user=$1
    shift
    if is_root; then runuser -u "$user" -- "$@"; else "$@"; fi
}

# ---------------------------------------------------------------------------------------------------
# temp dir and cleanup

services_init() {
    [ -n "$SERVICES_DIR" ] && return 0
    # /tmp (not $TMPDIR) when root: service users must be able to traverse the path.
    local base=/tmp
    is_root || base=${TMPDIR:-/tmp}
    SERVICES_DIR=$(mktemp -d "$base/agency-portal-test.XXXXXX")
    chmod 755 "$SERVICES_DIR"
    export SERVICES_DIR AGENCY_PORTAL_TEST_SERVICES_DIR=$SERVICES_DIR
    # The drop-folder accounts (`ap-<agency>`) and groups there already: only those made during
    # the run are removed at its end.
    SERVICES_ACCOUNTS_BEFORE=$(services_accounts)
    trap services_cleanup EXIT
    trap 'say "interrupted"; exit 130' INT
    trap 'say "terminated"; exit 143' TERM
}

# The drop folder's system accounts and groups (`ap-*`, made by `sftp-setup --apply`), one a line.
services_accounts() {
    { getent passwd; getent group; } 2>/dev/null | cut -d: -f1 | grep '^ap-' | sort -u || true
}

# Removes the `ap-*` accounts and groups made since services_init; says which are left, if any.
services_remove_accounts() {
    is_root || return 0
    local name left
    for name in $(comm -13 <(echo "$SERVICES_ACCOUNTS_BEFORE") <(services_accounts)); do
        userdel "$name" >/dev/null 2>&1 || true
        getent group "$name" >/dev/null 2>&1 && { groupdel "$name" >/dev/null 2>&1 || true; }
    done
    left=$(comm -13 <(echo "$SERVICES_ACCOUNTS_BEFORE") <(services_accounts) | tr '\n' ' ')
    if [ -n "$left" ]; then
        say "accounts or groups made by this run are still there: $left"
        return 1
    fi
}

services_cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    local i
    for ((i = ${#SERVICES_STOP_FUNCS[@]} - 1; i >= 0; i--)); do
        "${SERVICES_STOP_FUNCS[i]}" || true
    done
    SERVICES_STOP_FUNCS=()
    if ! services_remove_accounts && [ "$rc" -eq 0 ]; then
        rc=1
    fi
    if [ -n "$SERVICES_DIR" ] && [ -d "$SERVICES_DIR" ]; then
        if [ -n "${KEEP_SERVICES_DIR:-}" ]; then
            say "kept $SERVICES_DIR (KEEP_SERVICES_DIR is set)"
        else
            rm -rf "$SERVICES_DIR"
        fi
    fi
    exit "$rc"
}

services_on_stop() { SERVICES_STOP_FUNCS+=("$1"); }

# ---------------------------------------------------------------------------------------------------
# ports

port_in_use() {
    local p=$1
    if command -v ss >/dev/null 2>&1; then
        [ -n "$(ss -Hltn "sport = :$p" 2>/dev/null)" ] && return 0
    fi
    # Something accepts connections there?
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && return 0
    return 1
}

# Set FREE_PORT to a free TCP port on 127.0.0.1, below the kernel's ephemeral range (so outgoing connections
# do not grab it meanwhile), never one handed out before in this run. Start functions still retry
# on a bind failure, since another process may take the port between this check and the bind.
free_port() {
    local lo=20000 hi=32000 p tries=0
    local eph
    eph=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
    [ "$eph" -gt 11000 ] && hi=$((eph - 1))
    [ "$hi" -le "$lo" ] && lo=10000
    while ((tries++ < 200)); do
        p=$((lo + (RANDOM * 32768 + RANDOM) % (hi - lo)))
        case "$SERVICES_PORTS_TAKEN" in *" $p "*) continue ;; esac
        port_in_use "$p" && continue
        SERVICES_PORTS_TAKEN+="$p "
        FREE_PORT=$p
        return 0
    done
    die "no free TCP port found on 127.0.0.1"
}

# wait_port PORT SECONDS: until something accepts TCP connections on 127.0.0.1:PORT.
wait_port() {
    local port=$1 secs=${2:-20} i
    for ((i = 0; i < secs * 10; i++)); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# ---------------------------------------------------------------------------------------------------
# packages

# Commands each service needs, as "command:debian-package" pairs.
services_needs() {
    case $1 in
    build) echo "cc:build-essential pkg-config:pkg-config" ;;
    postgres) echo "$PG_BIN/initdb:postgresql-15 $PG_BIN/pg_ctl:postgresql-15 $PG_BIN/pg_isready:postgresql-15 openssl:openssl" ;;
    mail) echo "/usr/sbin/dovecot:dovecot-core /usr/lib/dovecot/imap:dovecot-imapd /usr/lib/dovecot/lmtp:dovecot-lmtpd /usr/lib/dovecot/submission:dovecot-submissiond /usr/sbin/smtpd:opensmtpd swaks:swaks curl:curl openssl:openssl" ;;
    sshd) echo "/usr/sbin/sshd:openssh-server ssh:openssh-client sftp:openssh-client ssh-keygen:openssh-client" ;;
    *) die "unknown service '$1'" ;;
    esac
}

have_cmd() {
    case $1 in
    /*) [ -x "$1" ] ;;
    *) command -v "$1" >/dev/null 2>&1 ;;
    esac
}

# services_ensure_packages SERVICE...: install the missing Debian packages in one apt-get run.
services_ensure_packages() {
    local svc pair cmd pkg missing=() missing_cmds=()
    for svc in "$@"; do
        for pair in $(services_needs "$svc"); do
            cmd=${pair%%:*}
            pkg=${pair#*:}
            if ! have_cmd "$cmd"; then
                missing_cmds+=("$cmd")
                case " ${missing[*]} " in *" $pkg "*) ;; *) missing+=("$pkg") ;; esac
            fi
        done
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if ! is_root; then
        die "missing ${missing_cmds[*]}: install the Debian packages ${missing[*]} (or run scripts/test as root)"
    fi
    command -v apt-get >/dev/null 2>&1 || die "missing ${missing_cmds[*]} and no apt-get to install ${missing[*]}"
    say "installing ${missing[*]} (apt-get)"
    local log
    log=$(mktemp /tmp/agency-portal-apt.XXXXXX)
    # policy-rc.d-style guard: packages must not start system services (port 25, 22...) on install.
    local policy=/usr/sbin/policy-rc.d created_policy=
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && created_policy=1
    fi
    local ok=1
    if ! DEBIAN_FRONTEND=noninteractive apt-get update -q >"$log" 2>&1 ||
        ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
            -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
            "${missing[@]}" >>"$log" 2>&1; then
        ok=
    fi
    [ -n "$created_policy" ] && rm -f "$policy"
    if [ -z "$ok" ]; then
        services_log_tail "$log" 30
        die "apt-get install ${missing[*]} failed"
    fi
    rm -f "$log"
    for cmd in "${missing_cmds[@]}"; do
        have_cmd "$cmd" || die "$cmd still missing after installing ${missing[*]}"
    done
}

# ---------------------------------------------------------------------------------------------------
# Postgres 15

POSTGRES_DIR=
postgres_start() {
    services_init
    POSTGRES_DIR=$SERVICES_DIR/postgres
    mkdir -p "$POSTGRES_DIR"
    local data=$POSTGRES_DIR/data log=$POSTGRES_DIR/postgres.log pguser
    pguser=$(id -un)
    if is_root; then
        id postgres >/dev/null 2>&1 || die "no 'postgres' user to run the cluster (install postgresql-15)"
        pguser=postgres
        chown postgres: "$POSTGRES_DIR"
    fi
    local locale=C.UTF-8
    locale -a 2>/dev/null | grep -qix 'c.utf-\?8' || locale=C
    if ! as_user "$pguser" "$PG_BIN/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale="$locale" \
        --no-sync >"$POSTGRES_DIR/initdb.log" 2>&1; then
        services_log_tail "$POSTGRES_DIR/initdb.log"
        die "initdb failed"
    fi
    # TLS with the private CA's server certificate (tls_certs); the database `tls_only` takes
    # connections over TLS alone, as a managed Postgres or a `hostssl`-only pg_hba does.
    tls_certs
    cp "$SERVICES_DIR/tls/server.pem" "$SERVICES_DIR/tls/server.key" "$data/"
    chmod 600 "$data/server.key"
    if is_root; then chown "$pguser": "$data/server.pem" "$data/server.key"; fi
    cat >"$data/pg_hba.conf" <<'EOF'
# private test cluster: trust on the unix socket and loopback only
local    all       all                trust
hostssl  tls_only  all  127.0.0.1/32  trust
host     tls_only  all  127.0.0.1/32  reject
host     all       all  127.0.0.1/32  trust
EOF
    local port attempt
    for attempt in 1 2 3 4 5; do
        free_port
        port=$FREE_PORT
        # included at the end of postgresql.conf: the last setting wins
        cat >"$data/conf.d.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$POSTGRES_DIR'
ssl = on
ssl_cert_file = 'server.pem'
ssl_key_file = 'server.key'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 300
shared_buffers = 128MB
# scripts/test keeps little WAL (every test makes its own database, and CREATE DATABASE writes it to
# the WAL too); benchmarks keep Postgres's default, so that checkpoints do not slow their writes
max_wal_size = ${POSTGRES_MAX_WAL_SIZE:-1GB}
max_parallel_workers_per_gather = 0
logging_collector = off
log_min_messages = warning
log_min_error_statement = error
EOF
        grep -q "^include 'conf.d.conf'" "$data/postgresql.conf" ||
            echo "include 'conf.d.conf'" >>"$data/postgresql.conf"
        if is_root; then chown "$pguser": "$data/conf.d.conf" "$data/pg_hba.conf"; fi
        if as_user "$pguser" "$PG_BIN/pg_ctl" -D "$data" -l "$log" -w -t 60 -s start >>"$POSTGRES_DIR/pg_ctl.log" 2>&1; then
            break
        fi
        if grep -qi 'could not bind\|address already in use' "$log" 2>/dev/null; then
            say "port $port taken meanwhile, retrying"
            continue
        fi
        services_log_tail "$log"
        services_log_tail "$POSTGRES_DIR/pg_ctl.log" 10
        die "Postgres did not start"
    done
    services_on_stop postgres_stop
    local i
    for ((i = 0; i < 100; i++)); do
        "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres && break
        sleep 0.1
    done
    if ! "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres; then
        services_log_tail "$log"
        die "Postgres does not accept connections on 127.0.0.1:$port"
    fi
    POSTGRES_USER_RUNNING=$pguser
    export AGENCY_PORTAL_TEST_POSTGRES_PORT=$port
    export AGENCY_PORTAL_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
    say "Postgres 15 on 127.0.0.1:$port (data and log in $POSTGRES_DIR)"
}

postgres_stop() {
    [ -n "$POSTGRES_DIR" ] && [ -f "$POSTGRES_DIR/data/postmaster.pid" ] || return 0
    as_user "${POSTGRES_USER_RUNNING:-postgres}" "$PG_BIN/pg_ctl" -D "$POSTGRES_DIR/data" -m immediate -w -t 30 \
        -s stop >/dev/null 2>&1 || true
}

# postgres_own NAME start|stop: a Postgres 15 cluster of a test's own, in $SERVICES_DIR/pg-NAME, for
# tests that stop and start the database under a running daemon (the shared cluster stays up).
# `start` creates it the first time, on a free port kept for its later starts, and prints its URL.
postgres_own() {
    local name=$1 action=$2
    local dir=$SERVICES_DIR/pg-$name pguser
    local data=$dir/data
    pguser=$(id -un)
    is_root && pguser=postgres
    case $action in
    start)
        if [ ! -d "$data" ]; then
            mkdir -p "$dir"
            if is_root; then chown postgres: "$dir"; fi
            as_user "$pguser" "$PG_BIN/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale=C \
                --no-sync >"$dir/initdb.log" 2>&1 || {
                services_log_tail "$dir/initdb.log"
                die "initdb failed for $dir"
            }
            free_port
            echo "$FREE_PORT" >"$dir/port"
            printf '%s\n' "listen_addresses = '127.0.0.1'" "port = $FREE_PORT" \
                "unix_socket_directories = '$dir'" "fsync = off" "synchronous_commit = off" \
                "logging_collector = off" >"$data/conf.d.conf"
            echo "include 'conf.d.conf'" >>"$data/postgresql.conf"
            if is_root; then chown "$pguser": "$data/conf.d.conf" "$dir/port"; fi
        fi
        as_user "$pguser" "$PG_BIN/pg_ctl" -D "$data" -l "$dir/postgres.log" -w -t 60 -s start \
            >>"$dir/pg_ctl.log" 2>&1 || {
            services_log_tail "$dir/postgres.log"
            die "Postgres in $dir did not start"
        }
        echo "postgres://postgres@127.0.0.1:$(cat "$dir/port")/postgres"
        ;;
    stop)
        [ -f "$data/postmaster.pid" ] || return 0
        as_user "$pguser" "$PG_BIN/pg_ctl" -D "$data" -m fast -w -t 30 -s stop >>"$dir/pg_ctl.log" 2>&1 || true
        ;;
    *) die "postgres_own NAME start|stop" ;;
    esac
}

# ---------------------------------------------------------------------------------------------------
# Mail: Dovecot (IMAP + LMTP) and OpenSMTPD (SMTP -> LMTP into Dovecot)
#
# Dovecot: passdb = passwd-file $SERVICES_DIR/mail/dovecot/users (add entries with mail_add_user),
# then a static fallback accepting ANY user name with $AGENCY_PORTAL_TEST_IMAP_PASSWORD; userdb =
# static, every mailbox owned by the non-root mail user ($MAIL_UID_USER, default `mail`), maildir
# $AGENCY_PORTAL_TEST_MAIL_DIR/<full address>/Maildir. IMAP login name = the full email address.
# OpenSMTPD: every recipient maps to the virtual user vmail ({ "@" = vmail }, defined by a userbase
# table, no system account) and is handed to Dovecot's LMTP with its original address (rcpt-to), so
# mail to ana@agency.test lands in the IMAP mailbox of user ana@agency.test.
# OpenSMTPD's spool (/var/spool/smtpd) and control socket (/run/smtpd.sock) are compiled in; when
# root can unshare a mount namespace they are private mounts (spool in $SERVICES_DIR), so several
# runs can coexist and nothing outside the temp dir is touched. Otherwise the system paths are used.

MAIL_UID_USER=${MAIL_UID_USER:-mail}
SMTPD_REJECT_DOMAIN=reject.test

mail_start() {
    dovecot_start
    smtpd_start
}

# tls_certs: a private certificate authority and a server certificate for 127.0.0.1 and localhost
# signed by it, in $SERVICES_DIR/tls (ca.pem, server.pem, server.key), made once per run.
tls_certs() {
    services_init
    local d=$SERVICES_DIR/tls
    if [ ! -f "$d/server.pem" ]; then
        mkdir -p "$d"
        {
            openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=agency-portal test CA" \
                -keyout "$d/ca.key" -out "$d/ca.pem" &&
                openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=127.0.0.1" \
                    -keyout "$d/server.key" -out "$d/server.csr" &&
                printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "basicConstraints=CA:FALSE" \
                    "keyUsage=digitalSignature" "extendedKeyUsage=serverAuth" \
                    >"$d/server.ext" &&
                openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
                    -CAcreateserial -days 30 -out "$d/server.pem" -extfile "$d/server.ext"
        } >"$d/openssl.log" 2>&1 || {
            services_log_tail "$d/openssl.log"
            die "openssl could not make the test certificates"
        }
        chmod 600 "$d/ca.key" "$d/server.key"
    fi
    export AGENCY_PORTAL_TEST_CA_FILE=$d/ca.pem
}

dovecot_start() {
    services_init
    tls_certs
    local m=$SERVICES_DIR/mail
    local d=$m/dovecot
    mkdir -p "$d/run" "$d/state" "$m/boxes"
    [ -f "$d/users" ] || : >"$d/users"
    local mail_user internal_user login_user
    if is_root; then
        id "$MAIL_UID_USER" >/dev/null 2>&1 || die "no '$MAIL_UID_USER' user to own the test mailboxes"
        mail_user=$MAIL_UID_USER
        internal_user=dovecot
        login_user=dovenull
        id dovecot >/dev/null 2>&1 || internal_user=$MAIL_UID_USER
        id dovenull >/dev/null 2>&1 || login_user=$MAIL_UID_USER
        chown "$mail_user": "$m/boxes"
    else
        mail_user=$(id -un)
        internal_user=$mail_user
        login_user=$mail_user
    fi
    local uid gid
    uid=$(id -u "$mail_user")
    gid=$(id -g "$mail_user")
    local password=${AGENCY_PORTAL_TEST_IMAP_PASSWORD:-test-password}
    dovecot_oauth2_keys "$d"
    local attempt imap_port imaps_port lmtp_port submission_port submissions_port smtpd_port pid
    # Dovecot's submission service relays to OpenSMTPD: its port is chosen now, smtpd_start takes it.
    mkdir -p "$m/smtpd"
    if [ ! -f "$m/smtpd/port" ]; then
        free_port
        echo "$FREE_PORT" >"$m/smtpd/port"
    fi
    smtpd_port=$(cat "$m/smtpd/port")
    for attempt in 1 2 3 4 5; do
        free_port
        imap_port=$FREE_PORT
        free_port
        imaps_port=$FREE_PORT
        free_port
        lmtp_port=$FREE_PORT
        free_port
        submission_port=$FREE_PORT
        free_port
        submissions_port=$FREE_PORT
        cat >"$d/dovecot.conf" <<DOVECOT_CONF
# private test Dovecot, generated by scripts/lib/services.sh
instance_name = agency-portal-test-$$-$attempt
base_dir = $d/run
state_dir = $d/state
log_path = $d/dovecot.log
info_log_path = $d/dovecot.log
protocols = imap lmtp submission
listen = 127.0.0.1
hostname = agency-portal-test.localhost
submission_relay_host = 127.0.0.1
submission_relay_port = $smtpd_port
ssl = yes
ssl_cert = <$SERVICES_DIR/tls/server.pem
ssl_key = <$SERVICES_DIR/tls/server.key
disable_plaintext_auth = no
auth_mechanisms = plain login xoauth2 oauthbearer
# refused logins (the OAuth2 tests refuse tokens on purpose) answered at once; no per-IP penalty
# for the next ones (every test comes from 127.0.0.1): see `service anvil` below
auth_failure_delay = 0
auth_verbose = yes
default_internal_user = $internal_user
default_internal_group = $(id -gn "$internal_user")
default_login_user = $login_user
first_valid_uid = $uid
last_valid_uid = $uid
first_valid_gid = $gid
mail_location = maildir:$m/boxes/%u/Maildir
mail_uid = $uid
mail_gid = $gid
auth_username_format = %Lu
namespace inbox {
  inbox = yes
  separator = /
}
passdb {
  driver = passwd-file
  args = scheme=PLAIN $d/users
}
passdb {
  driver = static
  args = password=$password
}
passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = $d/dovecot-oauth2.conf.ext
}
userdb {
  driver = static
  args = uid=$uid gid=$gid home=$m/boxes/%u allow_all_users=yes
}
service imap-login {
  chroot =
  inet_listener imap {
    address = 127.0.0.1
    port = $imap_port
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $imaps_port
    ssl = yes
  }
}
service submission-login {
  chroot =
  inet_listener submission {
    address = 127.0.0.1
    port = $submission_port
  }
  inet_listener submissions {
    address = 127.0.0.1
    port = $submissions_port
    ssl = yes
  }
}
# no auth penalty socket, no auth penalty (a refused login would delay every test's next one)
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = $lmtp_port
  }
}
DOVECOT_CONF
        : >"$d/dovecot.log"
        if is_root; then chown "$internal_user" "$d/dovecot.log"; fi
        /usr/sbin/dovecot -F -c "$d/dovecot.conf" >>"$d/dovecot.log" 2>&1 &
        pid=$!
        echo "$pid" >"$d/pid"
        if wait_port "$imap_port" 20 && wait_port "$imaps_port" 5 && wait_port "$lmtp_port" 5 &&
            wait_port "$submission_port" 5 && wait_port "$submissions_port" 5; then
            break
        fi
        dovecot_stop
        if [ "$attempt" -lt 5 ] && grep -qi 'address already in use' "$d/dovecot.log"; then
            say "Dovecot: port taken meanwhile, retrying"
            continue
        fi
        services_log_tail "$d/dovecot.log"
        die "Dovecot did not start"
    done
    services_on_stop dovecot_stop
    export AGENCY_PORTAL_TEST_IMAP_HOST=127.0.0.1
    export AGENCY_PORTAL_TEST_IMAP_PORT=$imap_port
    export AGENCY_PORTAL_TEST_IMAPS_PORT=$imaps_port
    export AGENCY_PORTAL_TEST_SUBMISSION_PORT=$submission_port
    export AGENCY_PORTAL_TEST_SUBMISSIONS_PORT=$submissions_port
    export AGENCY_PORTAL_TEST_LMTP_PORT=$lmtp_port
    export AGENCY_PORTAL_TEST_IMAP_PASSWORD=$password
    export AGENCY_PORTAL_TEST_MAIL_DIR=$m/boxes
    say "Dovecot on 127.0.0.1: IMAP $imap_port, IMAPS $imaps_port, LMTP $lmtp_port, submission $submission_port and $submissions_port (config and log in $d)"
}

# dovecot_oauth2_keys DIR: the oauth2 passdb's settings (local JWT validation) and its HS256 key,
# made once per run (a restarted Dovecot keeps the key the tests sign with).
dovecot_oauth2_keys() {
    local d=$1 keys=$1/oauth2-keys
    if [ ! -f "$keys/default/HS256/default" ]; then
        mkdir -p "$keys/default/HS256"
        head -c 32 /dev/urandom | base64 -w0 >"$keys/default/HS256/default"
        chmod -R a+rX "$keys"
    fi
    cat >"$d/dovecot-oauth2.conf.ext" <<OAUTH2_CONF
# private test Dovecot: OAuth2 access tokens are JWTs checked here, no network
introspection_mode = local
local_validation_key_dict = fs:posix:prefix=$keys/
username_attribute = sub
OAUTH2_CONF
    chmod 644 "$d/dovecot-oauth2.conf.ext"
    AGENCY_PORTAL_TEST_OAUTH2_KEY=$(cat "$keys/default/HS256/default")
    export AGENCY_PORTAL_TEST_OAUTH2_KEY
}

# mail_add_user USER PASSWORD: an explicit passwd-file entry (Dovecot re-reads the file on change).
mail_add_user() {
    printf '%s:{PLAIN}%s\n' "$1" "$2" >>"$SERVICES_DIR/mail/dovecot/users"
}

# stop_pidfile FILE: TERM the process named in FILE, wait up to 5 s, then KILL; remove FILE.
stop_pidfile() {
    local pidf=$1 pid i
    [ -f "$pidf" ] || return 0
    pid=$(cat "$pidf")
    if [ -n "$pid" ]; then
        kill "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -f "$pidf"
}

# dovecot_stop: the master, and what it leaves behind (imap processes serving open connections
# survive a master that had to be killed): a stopped server drops every client, as a real restart does.
dovecot_stop() {
    local d=$SERVICES_DIR/mail/dovecot instance
    stop_pidfile "$d/pid"
    instance=$(sed -n 's/^instance_name = //p' "$d/dovecot.conf" 2>/dev/null || true)
    if [ -n "$instance" ]; then
        pkill -KILL -f "^dovecot-$instance/" 2>/dev/null || true
    fi
}

# dovecot_restart: start a stopped Dovecot again with its config, on the same ports (tests that show
# the email intake reconnecting).
dovecot_restart() {
    local d=$SERVICES_DIR/mail/dovecot
    [ -f "$d/dovecot.conf" ] || die "no Dovecot config in $d: dovecot_start runs first"
    /usr/sbin/dovecot -F -c "$d/dovecot.conf" >>"$d/dovecot.log" 2>&1 &
    echo "$!" >"$d/pid"
    wait_port "${AGENCY_PORTAL_TEST_IMAP_PORT:?}" 20 || {
        services_log_tail "$d/dovecot.log"
        die "Dovecot did not start again"
    }
}

smtpd_private_paths() {
    is_root && command -v unshare >/dev/null 2>&1 &&
        unshare -m --propagation private sh -c 'mount -t tmpfs none /mnt' >/dev/null 2>&1
}

smtpd_start() {
    services_init
    [ -n "${AGENCY_PORTAL_TEST_LMTP_PORT:-}" ] || die "smtpd_start needs Dovecot: call dovecot_start first"
    is_root || die "OpenSMTPD needs root (it drops privileges itself)"
    local d=$SERVICES_DIR/mail/smtpd
    mkdir -p "$d/spool"
    chmod 711 "$d/spool"
    local port
    if [ -f "$d/port" ]; then
        port=$(cat "$d/port") # restart: keep the port the tests already know
    else
        free_port
        port=$FREE_PORT
    fi
    printf 'vmail %s:%s:%s\n' "$(id -u "$MAIL_UID_USER")" "$(id -g "$MAIL_UID_USER")" \
        "$SERVICES_DIR/mail/boxes" >"$d/userbase"
    cat >"$d/smtpd.conf" <<SMTPD_CONF
# private test OpenSMTPD, generated by scripts/lib/services.sh
table vusers file:$d/userbase
listen on 127.0.0.1 port $port hostname agency-portal-test.localhost
action "dovecot" lmtp "127.0.0.1:$AGENCY_PORTAL_TEST_LMTP_PORT" rcpt-to virtual { "@" = vmail } userbase <vusers>
# mail for the domain reject.test is refused with a permanent 5xx (tests of permanent failures)
match from any for domain "$SMTPD_REJECT_DOMAIN" reject
match from any for any action "dovecot"
SMTPD_CONF
    if ! smtpd -n -f "$d/smtpd.conf" >"$d/check.log" 2>&1; then
        services_log_tail "$d/check.log"
        die "OpenSMTPD rejects its generated config $d/smtpd.conf"
    fi
    local log=$d/smtpd.log
    if smtpd_private_paths; then
        # private spool and control socket: mounts in a mount namespace of its own
        unshare -m --propagation private sh -c '
            set -e
            mount -t tmpfs -o mode=755 none /var/spool
            mkdir /var/spool/smtpd
            mount --bind "$1/spool" /var/spool/smtpd
            mount -t tmpfs -o mode=755 none /run
            exec smtpd -d -f "$1/smtpd.conf"' sh "$d" >>"$log" 2>&1 &
    else
        smtpd -d -f "$d/smtpd.conf" >>"$log" 2>&1 &
    fi
    echo $! >"$d/pid"
    if ! wait_port "$port" 20; then
        services_log_tail "$log"
        smtpd_stop
        die "OpenSMTPD did not start on 127.0.0.1:$port"
    fi
    echo "$port" >"$d/port"
    services_on_stop smtpd_stop
    export AGENCY_PORTAL_TEST_SMTP_HOST=127.0.0.1
    export AGENCY_PORTAL_TEST_SMTP_PORT=$port
    export AGENCY_PORTAL_TEST_SMTP_REJECT_DOMAIN=$SMTPD_REJECT_DOMAIN
    say "OpenSMTPD on 127.0.0.1:$port -> LMTP $AGENCY_PORTAL_TEST_LMTP_PORT (config and log in $d)"
}

# smtpd_stop: stop OpenSMTPD. Its queue stays in $SERVICES_DIR/mail/smtpd/spool when the spool is
# private, and smtpd_start restarts it on the same port and delivers what was queued.
smtpd_stop() { stop_pidfile "$SERVICES_DIR/mail/smtpd/pid"; }

# ---------------------------------------------------------------------------------------------------
# OpenSSH sshd: loopback port, own host key and sshd_config in $SERVICES_DIR/sshd, public key
# authentication only. AuthorizedKeysFile = $AGENCY_PORTAL_TEST_SSH_DIR/authorized_keys/%u; the
# generated client key is authorized for each user in $AGENCY_PORTAL_TEST_SSH_USERS (default: the
# user running the script); sshd_authorize USER PUBKEY-FILE adds more. Append Match blocks to
# $AGENCY_PORTAL_TEST_SSH_CONFIG, then sshd_reload.

sshd_start() {
    services_init
    local d=$SERVICES_DIR/sshd
    mkdir -p "$d/authorized_keys"
    if is_root; then
        # privilege separation dir compiled into sshd (normally created by systemd)
        [ -d /run/sshd ] || { mkdir -p /run/sshd && chmod 755 /run/sshd; }
    fi
    [ -f "$d/ssh_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -C agency-portal-test-host \
        -f "$d/ssh_host_ed25519_key"
    [ -f "$d/client_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C agency-portal-test-client \
        -f "$d/client_ed25519"
    local u
    for u in ${AGENCY_PORTAL_TEST_SSH_USERS:-$(id -un)}; do
        sshd_authorize "$u" "$d/client_ed25519.pub"
    done
    local port
    if [ -f "$d/port" ]; then port=$(cat "$d/port"); else
        free_port
        port=$FREE_PORT
    fi
    cat >"$d/sshd_config" <<SSHD_CONF
# private test sshd, generated by scripts/lib/services.sh
Port $port
ListenAddress 127.0.0.1
HostKey $d/ssh_host_ed25519_key
PidFile $d/sshd.pid
AuthorizedKeysFile $d/authorized_keys/%u
# the temp dir lives under /tmp (mode 1777), which StrictModes would reject
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
HostbasedAuthentication no
PermitEmptyPasswords no
PermitRootLogin prohibit-password
UsePAM no
X11Forwarding no
AllowAgentForwarding no
AllowTcpForwarding no
PermitTunnel no
PrintMotd no
LogLevel VERBOSE
Subsystem sftp internal-sftp
SSHD_CONF
    if ! /usr/sbin/sshd -t -f "$d/sshd_config" >"$d/check.log" 2>&1; then
        services_log_tail "$d/check.log"
        die "sshd rejects its generated config $d/sshd_config"
    fi
    # absolute path: sshd re-executes itself on SIGHUP
    /usr/sbin/sshd -D -e -f "$d/sshd_config" >>"$d/sshd.log" 2>&1 &
    echo $! >"$d/pid"
    if ! wait_port "$port" 20; then
        services_log_tail "$d/sshd.log"
        sshd_stop
        die "sshd did not start on 127.0.0.1:$port"
    fi
    echo "$port" >"$d/port"
    printf '[127.0.0.1]:%s %s\n' "$port" "$(cut -d' ' -f1,2 "$d/ssh_host_ed25519_key.pub")" >"$d/known_hosts"
    services_on_stop sshd_stop
    export AGENCY_PORTAL_TEST_SSH_PORT=$port
    export AGENCY_PORTAL_TEST_SSH_DIR=$d
    export AGENCY_PORTAL_TEST_SSH_KEY=$d/client_ed25519
    export AGENCY_PORTAL_TEST_SSH_CONFIG=$d/sshd_config
    export AGENCY_PORTAL_TEST_SSH_KNOWN_HOSTS=$d/known_hosts
    say "sshd on 127.0.0.1:$port, key auth only (config, keys and log in $d)"
}

# sshd_authorize USER PUBKEY-FILE: let USER log in with that key.
sshd_authorize() {
    local f=$SERVICES_DIR/sshd/authorized_keys/$1
    cat "$2" >>"$f"
    chmod 644 "$f"
}

# sshd_reload: re-read $AGENCY_PORTAL_TEST_SSH_CONFIG (validated first).
sshd_reload() {
    local d=$SERVICES_DIR/sshd
    /usr/sbin/sshd -t -f "$d/sshd_config" || die "sshd rejects $d/sshd_config"
    kill -HUP "$(cat "$d/pid")"
    sleep 0.3
    wait_port "$(cat "$d/port")" 10 || {
        services_log_tail "$d/sshd.log"
        die "sshd did not come back after reload"
    }
}

sshd_stop() { stop_pidfile "$SERVICES_DIR/sshd/pid"; }

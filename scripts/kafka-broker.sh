#!/usr/bin/env bash
# Local Kafka-protocol broker for development and tests: Tansu (crate `tansu`).
#
# Apache Kafka, Redpanda and Docker images cannot be installed on these machines, so the
# integration tests and the demo run against Tansu, a Kafka-API broker written in Rust
# (the project's shared Kafka notes record what it does and does not do correctly).
#
# Usage:
#   scripts/kafka-broker.sh install        build tansu once per machine (if missing)
#   scripts/kafka-broker.sh path           print the tansu binary path
#   scripts/kafka-broker.sh start          start the broker, print "127.0.0.1:PORT" on stdout
#   scripts/kafka-broker.sh status         "running pid N on 127.0.0.1:PORT" (exit 0) or
#                                          "not running" (exit 3)
#   scripts/kafka-broker.sh stop [--kill]  stop it (TERM, then KILL); --kill sends SIGKILL at
#                                          once, to simulate a broker crash in fault tests
#
# Only the bootstrap address goes to stdout, so a caller can write
#   BROKERS=$(scripts/kafka-broker.sh start)
# Every other message goes to stderr.
#
# Environment (all optional):
#   TANSU_ROOT       install root, binary at $TANSU_ROOT/bin/tansu
#                    (default /var/cache/iotstream/tansu: outside the checkout, because the
#                    build costs ~30 CPU-minutes and 1.7 GB RAM and must happen once per machine)
#   KAFKA_PORT       broker port on 127.0.0.1 (default 19092)
#   TANSU_STORAGE    storage engine URL (default memory://tansu/). Use sqlite://tansu.db for a
#                    durable broker, e.g. for crash/restart tests: the memory engine loses
#                    everything on restart and was seen to skip messages when a consumer group
#                    resumed from a committed offset.
#                    Tansu defect: the sqlite path is resolved against the broker's working
#                    directory, even when it looks absolute (sqlite:///tmp/x.db opens
#                    <cwd>/tmp/x.db). The broker therefore runs with its cwd set to
#                    TANSU_DATA_DIR, and the sqlite file name must be RELATIVE
#                    (sqlite://tansu.db -> $TANSU_DATA_DIR/tansu.db).
#   TANSU_DATA_DIR   broker working directory with broker.log, broker.pid and sqlite files
#                    (default /tmp/iotstream-kafka-$KAFKA_PORT). stop and status find the broker
#                    through this directory, so give them the same KAFKA_PORT/TANSU_DATA_DIR.
#   TANSU_LOG        log filter for the broker (RUST_LOG syntax, default "warn"). The caller's
#                    RUST_LOG is not passed on, because Tansu logs every span at debug level
#                    and would fill the disk during a throughput test.
#   TANSU_START_TIMEOUT  seconds to wait for the broker to answer (default 60)
#   TANSU_INSTALL_WAIT   seconds to wait for another running tansu build (default 3600)
#
# Flags of `tansu broker` (0.6.0): --listener-url, --advertised-listener-url, --storage-engine,
# --cluster-id, --schema-registry, --otlp-endpoint-url, --silent. They also read the env vars
# LISTENER_URL, ADVERTISED_LISTENER_URL, STORAGE_ENGINE, CLUSTER_ID, SCHEMA_REGISTRY and
# OTEL_EXPORTER_OTLP_ENDPOINT, and tansu loads a `.env` file from its cwd or a parent. All
# settings this script cares about are passed as flags (flags win over env), and the optional
# features that the env could switch on behind our back are unset below.

set -euo pipefail

TANSU_ROOT=${TANSU_ROOT:-/var/cache/iotstream/tansu}
TANSU_BIN="$TANSU_ROOT/bin/tansu"
KAFKA_PORT=${KAFKA_PORT:-19092}
TANSU_STORAGE=${TANSU_STORAGE:-memory://tansu/}
TANSU_DATA_DIR=${TANSU_DATA_DIR:-/tmp/iotstream-kafka-$KAFKA_PORT}
TANSU_LOG=${TANSU_LOG:-warn}
TANSU_START_TIMEOUT=${TANSU_START_TIMEOUT:-60}
TANSU_INSTALL_WAIT=${TANSU_INSTALL_WAIT:-3600}

ADDR="127.0.0.1:$KAFKA_PORT"
URL="tcp://$ADDR"
PID_FILE="$TANSU_DATA_DIR/broker.pid"
LOG_FILE="$TANSU_DATA_DIR/broker.log"
# The storage URL of the running broker, so that a second `start` with another engine fails
# instead of silently handing out a broker with the wrong durability.
STORAGE_FILE="$TANSU_DATA_DIR/broker.storage"
LOCK_FILE="$TANSU_DATA_DIR/broker.lock"

# Matches the command line of a cargo process installing tansu (the binary path may be absolute,
# a toolchain may be given as +stable). Anchored at the start so that shells whose command
# string merely mentions "cargo install tansu" do not count.
CARGO_TANSU_RE='^([^ ]*/)?cargo( \+[^ ]+)? install (.* )?tansu( |$)'

log() { printf 'kafka-broker: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
    sed -n '2,/^$/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

case "$KAFKA_PORT" in
    ''|*[!0-9]*) die "KAFKA_PORT must be a number, got '$KAFKA_PORT'" ;;
esac

# ---------------------------------------------------------------- install

other_build_running() {
    pgrep -f "$CARGO_TANSU_RE" >/dev/null 2>&1
}

wait_for_other_build() {
    local waited=0
    while other_build_running; do
        if (( waited == 0 )); then
            log "a 'cargo install tansu' is already running; waiting for it instead of starting a second build"
        elif (( waited % 60 == 0 )); then
            log "still waiting for the running tansu build (${waited}s)"
        fi
        if (( waited >= TANSU_INSTALL_WAIT )); then
            die "the running tansu build did not finish within ${TANSU_INSTALL_WAIT}s"
        fi
        sleep 5
        waited=$(( waited + 5 ))
    done
}

ensure_tansu() {
    [[ -x "$TANSU_BIN" ]] && return 0

    command -v cargo >/dev/null 2>&1 || die "cargo not found; it is needed to build tansu into $TANSU_ROOT"
    mkdir -p "$TANSU_ROOT" || die "cannot create $TANSU_ROOT (set TANSU_ROOT to a writable directory)"

    # Serialise concurrent invocations of this script (for example parallel test jobs) on the
    # same install root, then also wait for a build started by hand.
    exec 8>"$TANSU_ROOT/.install.lock"
    if ! flock -n 8; then
        log "another kafka-broker.sh is installing tansu; waiting for it"
        flock 8
    fi
    wait_for_other_build

    if [[ ! -x "$TANSU_BIN" ]]; then
        # dynostore provides memory://, libsql provides sqlite://; the default features have no
        # usable storage engine. --locked pins the dependency versions tansu was released with.
        log "building tansu into $TANSU_ROOT (once per machine, ~15-20 min on 2 cores, 1.7 GB RAM)"
        cargo install tansu --locked --features dynostore,libsql --root "$TANSU_ROOT" >&2 \
            || die "cargo install tansu failed"
    fi
    exec 8>&-
    [[ -x "$TANSU_BIN" ]] || die "tansu binary still missing at $TANSU_BIN after the build"
    log "tansu ready: $TANSU_BIN"
}

# ---------------------------------------------------------------- process helpers

# True if $1 is a live (not zombie) tansu broker process. Checking the command line protects
# against a stale pid file whose pid was reused by an unrelated process.
is_our_broker() {
    local pid=$1 state cmdline
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [[ -r "/proc/$pid/stat" ]] || return 1
    # Field 3 of /proc/PID/stat is the state; the command name before it may contain spaces.
    state=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1) || return 1
    [[ "$state" != Z && "$state" != X ]] || return 1
    cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
    # The trailing space stops port 1909 from matching a broker on 19092.
    [[ "$cmdline" == *tansu*" broker "*"--listener-url $URL "* ]]
}

# True while $1 exists and is not a zombie, whatever it runs (used during startup, when the pid
# may still be the shell that is about to exec tansu).
is_alive() {
    local state
    state=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
    [[ -n "$state" && "$state" != Z && "$state" != X ]]
}

# Prints the pid of the running broker for this port, or fails.
running_pid() {
    local pid
    [[ -f "$PID_FILE" ]] || return 1
    pid=$(<"$PID_FILE") || return 1
    is_our_broker "$pid" || return 1
    printf '%s\n' "$pid"
}

port_in_use() {
    # Bash's /dev/tcp needs no extra tool; a refused connection means the port is free.
    (exec 3<>"/dev/tcp/127.0.0.1/$KAFKA_PORT") 2>/dev/null
}

broker_answers() {
    # `topic list` exits 0 only after a full Kafka metadata round trip. It runs in the data dir
    # so that a .env in the caller's cwd cannot change it; timeout guards against a port that
    # accepts connections but never answers.
    (cd "$TANSU_DATA_DIR" && timeout 10 "$TANSU_BIN" topic list --broker "$URL") >/dev/null 2>&1
}

show_log_tail() {
    if [[ -s "$LOG_FILE" ]]; then
        log "last lines of $LOG_FILE:"
        tail -n 40 "$LOG_FILE" >&2
    fi
}

# ---------------------------------------------------------------- commands

cmd_start() {
    ensure_tansu
    mkdir -p "$TANSU_DATA_DIR"
    TANSU_DATA_DIR=$(cd "$TANSU_DATA_DIR" && pwd -P)
    PID_FILE="$TANSU_DATA_DIR/broker.pid"
    LOG_FILE="$TANSU_DATA_DIR/broker.log"
    STORAGE_FILE="$TANSU_DATA_DIR/broker.storage"
    LOCK_FILE="$TANSU_DATA_DIR/broker.lock"

    # Two concurrent starts on the same data dir must not launch two brokers.
    exec 9>"$LOCK_FILE"
    flock 9

    local pid
    if pid=$(running_pid); then
        local running_storage
        running_storage=$(cat "$STORAGE_FILE" 2>/dev/null || true)
        if [[ -n "$running_storage" && "$running_storage" != "$TANSU_STORAGE" ]]; then
            die "broker pid $pid on $ADDR runs with storage $running_storage, not $TANSU_STORAGE; stop it first"
        fi
        log "already running: pid $pid on $ADDR"
        printf '%s\n' "$ADDR"
        return 0
    fi
    rm -f "$PID_FILE" "$STORAGE_FILE"

    if port_in_use; then
        die "port $KAFKA_PORT is in use by a process this script did not start (no live pid in $PID_FILE); choose another KAFKA_PORT"
    fi

    case "$TANSU_STORAGE" in
        sqlite:///*)
            log "warning: $TANSU_STORAGE looks absolute, but tansu resolves sqlite paths against its cwd;" \
                "the database will be $TANSU_DATA_DIR${TANSU_STORAGE#sqlite://}. Use a relative name such as sqlite://tansu.db"
            ;;
    esac
    case "$TANSU_STORAGE" in
        sqlite://*)
            # libsql does not create missing directories: for a name like sqlite://db/tansu.db
            # create $TANSU_DATA_DIR/db first.
            local db=${TANSU_STORAGE#sqlite://}
            db=${db%%\?*}
            db=${db#/}
            if [[ "$db" == */* ]]; then mkdir -p "$TANSU_DATA_DIR/${db%/*}"; fi
            ;;
    esac

    log "starting tansu broker on $URL, storage $TANSU_STORAGE, data dir $TANSU_DATA_DIR"
    {
        printf '\n==== %s start: %s broker on %s, storage %s\n' \
            "$(date '+%Y-%m-%dT%H:%M:%S%z')" "$TANSU_BIN" "$URL" "$TANSU_STORAGE"
    } >>"$LOG_FILE"

    # cwd = data dir because of the sqlite path defect described above. setsid + nohup detach the
    # broker from this shell's session and terminal so it outlives the caller; stdin/stdout/stderr
    # are redirected so that `$(kafka-broker.sh start)` does not hang waiting for the broker's
    # copy of the pipe to close. The variables the broker would read from the environment are
    # unset so an outer shell cannot turn on a schema registry or OTLP export.
    # Without job control, the background child is not a process-group leader, so setsid and
    # nohup both exec in place and $! is the tansu pid itself.
    # Descriptors inherited from the caller (other than 0-2) are closed too, so that the
    # long-lived broker never holds a caller's pipe or lock open.
    (
        cd "$TANSU_DATA_DIR"
        for fd_path in /proc/"$BASHPID"/fd/*; do
            fd=${fd_path##*/}
            if (( fd > 2 )); then eval "exec $fd>&-" 2>/dev/null || true; fi
        done
        exec env -u SCHEMA_REGISTRY -u OTEL_EXPORTER_OTLP_ENDPOINT -u LISTENER_URL \
            -u ADVERTISED_LISTENER_URL -u STORAGE_ENGINE \
            RUST_LOG="$TANSU_LOG" NO_COLOR=1 \
            setsid nohup "$TANSU_BIN" broker \
                --listener-url "$URL" \
                --advertised-listener-url "$URL" \
                --storage-engine "$TANSU_STORAGE"
    ) </dev/null >>"$LOG_FILE" 2>&1 &
    pid=$!
    printf '%s\n' "$pid" >"$PID_FILE"
    printf '%s\n' "$TANSU_STORAGE" >"$STORAGE_FILE"

    local deadline=$(( SECONDS + TANSU_START_TIMEOUT ))
    while :; do
        if broker_answers; then
            # The probe could in theory be answered by another process that grabbed the port;
            # make sure our broker is the one still alive.
            is_our_broker "$pid" || break
            log "broker ready: pid $pid on $ADDR (log $LOG_FILE)"
            printf '%s\n' "$ADDR"
            return 0
        fi
        if ! is_alive "$pid"; then
            log "broker process $pid exited during startup"
            break
        fi
        if (( SECONDS >= deadline )); then
            log "broker did not answer on $ADDR within ${TANSU_START_TIMEOUT}s"
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.5
    done
    rm -f "$PID_FILE" "$STORAGE_FILE"
    show_log_tail
    exit 1
}

cmd_stop() {
    local signal=TERM
    case "${1:-}" in
        '') ;;
        --kill) signal=KILL ;;
        *) die "unknown stop option '$1' (only --kill)" ;;
    esac

    local pid
    if ! pid=$(running_pid); then
        rm -f "$PID_FILE" "$STORAGE_FILE"
        log "not running on $ADDR"
        return 0
    fi

    log "stopping broker pid $pid on $ADDR (SIG$signal)"
    kill -"$signal" "$pid" 2>/dev/null || true

    # Wait for the process to be gone so that an immediate `start` can bind the port again.
    # A dead-but-unreaped process (zombie) counts as gone: is_our_broker ignores zombies.
    local i
    for (( i = 0; i < 100; i++ )); do
        is_our_broker "$pid" || break
        if (( i == 50 )) && [[ "$signal" == TERM ]]; then
            log "broker pid $pid ignored SIGTERM for 5s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        sleep 0.1
    done
    if is_our_broker "$pid"; then
        kill -KILL "$pid" 2>/dev/null || true
        sleep 0.5
        is_our_broker "$pid" && die "broker pid $pid is still alive"
    fi
    rm -f "$PID_FILE" "$STORAGE_FILE"
    log "stopped"
}

cmd_status() {
    local pid
    if pid=$(running_pid); then
        echo "running pid $pid on $ADDR"
        return 0
    fi
    echo "not running"
    return 3
}

main() {
    local cmd=${1:-}
    [[ $# -gt 0 ]] && shift
    case "$cmd" in
        install) [[ $# -eq 0 ]] || usage; ensure_tansu ;;
        path)    [[ $# -eq 0 ]] || usage; printf '%s\n' "$TANSU_BIN" ;;
        start)   [[ $# -eq 0 ]] || usage; cmd_start ;;
        stop)    [[ $# -le 1 ]] || usage; cmd_stop "$@" ;;
        status)  [[ $# -eq 0 ]] || usage; cmd_status ;;
        -h|--help|help) usage ;;
        *) usage ;;
    esac
}

main "$@"

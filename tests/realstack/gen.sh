#!/usr/bin/env bash
# tests/realstack/gen.sh -- generate real packet captures of TLS handshakes made
# by real TLS stacks (OpenSSL s_server/s_client, GnuTLS gnutls-serv/gnutls-cli)
# with known outcomes.
#
# Usage:
#   gen.sh scenarios OUTDIR      one capture per scenario: OUTDIR/<name>.pcap,
#                                OUTDIR/<name>.keylog (NSS key log, for tshark
#                                decryption) and OUTDIR/MANIFEST.tsv
#   gen.sh bulk OUTFILE [N]      one capture with N (default 400) connections of a
#                                realistic mix (~80% successes, some of them
#                                transferring megabytes; ~20% failures)
#
# Everything runs inside two private network namespaces (tlscap-c-PID and
# tlscap-s-PID) joined by a veth pair (client 10.99.0.1, server 10.99.0.2,
# MTU 1500, GSO disabled so every captured frame is <= 1514 bytes). Capture is
# taken with tcpdump on the server-side veth (link type Ethernet). Nothing else
# is contacted. Namespaces, processes and temp files are removed on exit.
#
# MANIFEST.tsv columns (tab separated, one header line):
#   name stack tls_version expected_outcome expected_alert_sender
#   expected_alert_code expected_alert_encrypted description
# The alert columns describe the FIRST TLS alert on the connection:
#   - failed handshakes: the fatal alert that killed the handshake;
#   - established handshakes: the first (closing) alert, e.g. close_notify,
#     or empty if the connection carried no alert.
# expected_alert_code is the real code, also when the alert is encrypted (it was
# read by decrypting the capture with the keylog file). For TLS 1.3 an encrypted
# alert is an opaque application_data (23) record on the wire.
#
# Bulk captures are real TCP on a small machine: expect a few hundred
# retransmitted / out-of-order segments per 100k frames (the veth receive path
# reorders when the sender migrates between CPUs); tcpdump itself drops nothing
# (checked and warned about at the end of every capture).
#
# Environment knobs:
#   GEN_VERIFY=0     skip the tshark self-check of the scenario captures
#                    (the check only runs when tshark is installed)
#   GEN_BULK_KEYLOG=FILE  bulk mode: also write the clients' NSS key log there
#   GEN_KEEP_WORK=1  keep the temp dir (server/client logs) for debugging
#
# Requires root (network namespaces, raw capture). Installs openssl, gnutls-bin,
# tcpdump, iproute2 and python3 (the STARTTLS SMTP server) with apt-get if missing.

set -euo pipefail

PROG=${0##*/}
die() { echo "$PROG: error: $*" >&2; exit 1; }
log() { echo "$PROG: $*" >&2; }

usage() {
    cat >&2 <<EOF
usage: $PROG scenarios OUTDIR
       $PROG bulk OUTFILE [N]     (N defaults to 400)
EOF
    exit 2
}

# --------------------------------------------------------------------------
# prerequisites

[[ $# -ge 1 ]] || usage
MODE=$1
case "$MODE" in
    scenarios) [[ $# -eq 2 ]] || usage ;;
    bulk) [[ $# -eq 2 || $# -eq 3 ]] || usage ;;
    -h|--help|help) usage ;;
    *) echo "$PROG: unknown mode '$MODE'" >&2; usage ;;
esac

[[ $(id -u) -eq 0 ]] || die "must run as root (it creates network namespaces and captures with tcpdump); try: sudo $0 $*"

ensure_tools() {
    local missing=() cmd pkg
    for pair in openssl:openssl gnutls-cli:gnutls-bin gnutls-serv:gnutls-bin \
                tcpdump:tcpdump ip:iproute2 ss:iproute2 timeout:coreutils python3:python3; do
        cmd=${pair%%:*}; pkg=${pair#*:}
        if ! command -v "$cmd" >/dev/null 2>&1; then
            [[ " ${missing[*]-} " == *" $pkg "* ]] || missing+=("$pkg")
        fi
    done
    if [[ ${#missing[@]} -gt 0 ]]; then
        command -v apt-get >/dev/null 2>&1 || die "missing packages (${missing[*]}) and no apt-get to install them"
        log "installing missing packages: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq || die "apt-get update failed"
        apt-get install -y -qq "${missing[@]}" >/dev/null || die "apt-get install ${missing[*]} failed"
    fi
    for cmd in openssl gnutls-cli gnutls-serv tcpdump ip ss timeout python3; do
        command -v "$cmd" >/dev/null 2>&1 || die "required command '$cmd' still not found"
    done
}
ensure_tools

# --------------------------------------------------------------------------
# temp dir, namespaces, cleanup

NS_C="tlscap-c-$$"
NS_S="tlscap-s-$$"
CLI_IP=10.99.0.1
SRV_IP=10.99.0.2
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tlscap-realstack.XXXXXX")
BG_PIDS=()
NS_CREATED=()
CLEAN_FILES=()   # partial outputs removed on exit

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    local p ns
    for p in "${BG_PIDS[@]-}"; do
        [[ -n "$p" ]] && kill -TERM "$p" 2>/dev/null || true
    done
    for ns in "${NS_CREATED[@]-}"; do
        [[ -n "$ns" ]] || continue
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
    done
    for p in "${BG_PIDS[@]-}"; do
        [[ -n "$p" ]] && wait "$p" 2>/dev/null || true
    done
    for ns in "${NS_CREATED[@]-}"; do
        [[ -n "$ns" ]] && ip netns del "$ns" 2>/dev/null || true
    done
    exec 8>&- || true
    for p in "${CLEAN_FILES[@]-}"; do [[ -n "$p" ]] && rm -f "$p"; done
    if [[ "${GEN_KEEP_WORK:-0}" == 1 ]]; then
        log "kept work dir $WORK"
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

SX=(ip netns exec "$NS_S")   # run in server namespace
CX=(ip netns exec "$NS_C")   # run in client namespace

setup_netns() {
    ip netns add "$NS_C" || die "cannot create network namespace $NS_C (need CAP_SYS_ADMIN)"
    NS_CREATED+=("$NS_C")
    ip netns add "$NS_S" || die "cannot create network namespace $NS_S"
    NS_CREATED+=("$NS_S")
    # IPv4 only: no IPv6 router solicitations / DAD noise in the captures.
    local n
    for n in "$NS_C" "$NS_S"; do
        ip netns exec "$n" sh -c 'for f in /proc/sys/net/ipv6/conf/all/disable_ipv6 \
            /proc/sys/net/ipv6/conf/default/disable_ipv6; do [ -w "$f" ] && echo 1 >"$f"; done; true'
    done
    # Create the veth pair directly inside the namespaces: no name clash in the
    # root namespace between parallel runs.
    ip link add veth-c netns "$NS_C" type veth peer name veth-s netns "$NS_S" \
        || die "cannot create veth pair"
    local ns dev ip
    for spec in "$NS_C:veth-c:$CLI_IP" "$NS_S:veth-s:$SRV_IP"; do
        IFS=: read -r ns dev ip <<<"$spec"
        ip -n "$ns" link set lo up
        ip -n "$ns" link set "$dev" mtu 1500
        # No GSO/TSO: otherwise the capture holds 64 KB super-frames.
        ip -n "$ns" link set "$dev" gso_max_segs 1 gso_max_size 1500 2>/dev/null \
            || log "warning: could not disable GSO on $dev; frames may exceed the MTU"
        ip -n "$ns" addr add "$ip/24" dev "$dev"
        ip -n "$ns" link set "$dev" up
    done
    # wait for the link (and IPv4 address) to be usable
    local i
    for i in $(seq 50); do
        if ip -n "$NS_S" -br link show veth-s | grep -q ' UP ' &&
           ip -n "$NS_C" -br link show veth-c | grep -q ' UP '; then
            return 0
        fi
        sleep 0.1
    done
    die "veth pair did not come up"
}

# A FIFO held open read-write by this shell: used as stdin of the servers so
# they never see EOF on stdin (s_server closes the connection on stdin EOF
# unless -quiet, and would busy-loop on it otherwise).
make_hold_fifo() {
    mkfifo "$WORK/hold"
    exec 8<>"$WORK/hold"
}

# --------------------------------------------------------------------------
# certificates

gen_certs() {
    local d=$WORK/pki
    mkdir -p "$d"
    (
        cd "$d"
        for ca in caA caB; do
            openssl req -x509 -newkey rsa:2048 -nodes -keyout "$ca.key" -out "$ca.pem" \
                -days 3650 -subj "/O=tlscap test/CN=tlscap test $ca" \
                -addext "basicConstraints=critical,CA:TRUE" \
                -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
        done
        leaf() { # name issuer cn ext
            openssl req -new -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" \
                -subj "/O=tlscap test/CN=$3" 2>/dev/null
            printf '%s\n' "$4" > "$1.ext"
            openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial \
                -days 3650 -sha256 -extfile "$1.ext" -out "$1.pem" 2>/dev/null
        }
        leaf server caA server.test \
"basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:server.test,IP:$SRV_IP"
        leaf clientA caA client-a.test \
"basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"
        leaf clientB caB client-b.test \
"basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"
    ) || die "certificate generation failed"
    PKI=$d
}

# --------------------------------------------------------------------------
# process helpers

# start_bg LOGFILE CMD... : start CMD in the background with stdin on the hold
# FIFO; sets BGPID.
start_bg() {
    local logf=$1; shift
    "$@" <&8 >"$logf" 2>&1 &
    BGPID=$!
    BG_PIDS+=("$BGPID")
}

# wait_listen PORT [what] : wait until something listens on PORT in the server ns
wait_listen() {
    local port=$1 what=${2:-server} i
    for i in $(seq 100); do
        if [[ -n $("${SX[@]}" ss -Hltn "sport = :$port" 2>/dev/null) ]]; then return 0; fi
        sleep 0.05
    done
    die "$what did not start listening on port $port (see logs in $WORK; rerun with GEN_KEEP_WORK=1)"
}

# stop_pid PID [grace_seconds] : wait up to grace for PID to exit, then TERM/KILL it
stop_pid() {
    local pid=$1 grace=${2:-0} i n
    n=$(awk -v g="$grace" 'BEGIN{print int(g*20)}')
    for ((i = 0; i < n; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for i in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

# capture_start PCAP : tcpdump on the server-side veth; sets TD_PID
capture_start() {
    local out=$1
    local err=$WORK/tcpdump.$RANDOM.err
    # -w - with a shell redirect: works wherever the caller may write.
    # High priority and a big kernel buffer so that tcpdump keeps up with the
    # TLS processes on small machines.
    nice -n -15 "${SX[@]}" tcpdump -i veth-s -n -s 0 -U ${TD_IMMEDIATE:+--immediate-mode} \
        -B 262144 -Z root -w - >"$out" 2>"$err" </dev/null &
    TD_PID=$!
    BG_PIDS+=("$TD_PID")
    TD_ERR=$err
    local i
    for i in $(seq 100); do
        grep -q 'listening on' "$err" 2>/dev/null && return 0
        kill -0 "$TD_PID" 2>/dev/null || break
        sleep 0.05
    done
    cat "$err" >&2 || true
    die "tcpdump failed to start"
}

# capture_stop : let the last packets settle, then stop tcpdump
capture_stop() {
    # without --immediate-mode the kernel hands over a partially filled ring
    # block only after tcpdump's 1 s timeout: wait for it.
    if [[ -n "${TD_IMMEDIATE:-}" ]]; then sleep 0.5; else sleep 1.5; fi
    kill -INT "$TD_PID" 2>/dev/null || true
    wait "$TD_PID" 2>/dev/null || true
    local dropped
    dropped=$(sed -n 's/^\([0-9]*\) packets dropped by kernel.*/\1/p' "$TD_ERR")
    if [[ -n "$dropped" && "$dropped" != 0 ]]; then
        log "warning: tcpdump reports $dropped packets dropped by kernel"
    fi
    CAP_STATS=$(grep -E 'packets (captured|dropped)' "$TD_ERR" | tr '\n' ' ')
}

# --------------------------------------------------------------------------
# common client / server command lines

PORT=4433
TD_IMMEDIATE=1  # tcpdump --immediate-mode (scenarios); bulk turns it off
CLI_TO=10      # timeout (s) of every client process
SRV_CERT=() CA_A='' CA_B='' CLI_A=() CLI_B=()
init_cmdlines() {
    SRV_CERT=(-cert "$PKI/server.pem" -key "$PKI/server.key")
    CA_A=$PKI/caA.pem
    CA_B=$PKI/caB.pem
    CLI_A=(-cert "$PKI/clientA.pem" -key "$PKI/clientA.key")
    CLI_B=(-cert "$PKI/clientB.pem" -key "$PKI/clientB.key")
}

# openssl s_client against the test server, verifying it with CA A
sclient() { # PORT extra args...
    local port=$1; shift
    "${CX[@]}" timeout "$CLI_TO" openssl s_client -connect "$SRV_IP:$port" -servername server.test \
        -verify 1 -verify_return_error -verify_hostname server.test -CAfile "$CA_A" \
        ${KEYLOG:+-keylogfile "$KEYLOG"} "$@"
}

# input generators for interactive clients: pauses so that the handshake is over
# before data is sent and replies come back before EOF closes the connection.
lines_in() { # n_lines
    local i
    sleep 0.3
    for ((i = 1; i <= $1; i++)); do echo "hello from the client, line $i"; sleep 0.1; done
    sleep 0.3
}

# --------------------------------------------------------------------------
# scenarios

MANIFEST_ROWS=()
VERIFY_FAIL=0

# scenario NAME STACK VERSION OUTCOME SENDER CODE ENCRYPTED DESCRIPTION
# runs function sc_NAME which must start the server (start_bg + wait_listen),
# run the client and stop the server.
scenario() {
    local name=$1 stack=$2 ver=$3 outcome=$4 sender=$5 code=$6 enc=$7 desc=$8
    local pcap=$OUTDIR/$name.pcap
    KEYLOG=$OUTDIR/$name.keylog
    rm -f "$pcap" "$KEYLOG"
    : >"$KEYLOG"
    SLOG=$WORK/$name.server.log
    CLOG=$WORK/$name.client.log
    EXPECT_CH=1     # ClientHellos expected on the connection (sc_* may change it)
    VERIFY_AS=tls   # what tshark decodes the port as in the self-check (sc_* may change it)
    capture_start "$pcap"
    "sc_$name"
    capture_stop
    log "$name: $(stat -c %s "$pcap") bytes; $CAP_STATS"
    MANIFEST_ROWS+=("$name	$stack	$ver	$outcome	$sender	$code	$enc	$desc")
    if [[ "${GEN_VERIFY:-1}" == 1 ]] && command -v tshark >/dev/null 2>&1; then
        verify_capture "$name" "$pcap" "$KEYLOG" "$outcome" "$sender" "$code" "$enc" || VERIFY_FAIL=1
    fi
}

# s_server for one connection; extra args appended
sserver_once() {
    start_bg "$SLOG" "${SX[@]}" timeout 10 openssl s_server -accept "$PORT" "${SRV_CERT[@]}" \
        -naccept 1 -keylogfile "$KEYLOG" "$@"
    SPID=$BGPID
    wait_listen "$PORT" "openssl s_server"
}

sc_server_rejects_client_cert() {
    sserver_once -tls1_2 -Verify 1 -verify_return_error -CAfile "$CA_A"
    lines_in 1 | sclient "$PORT" -tls1_2 "${CLI_B[@]}" >"$CLOG" 2>&1 || true
    stop_pid "$SPID" 2
}

sc_client_rejects_server_cert() {
    sserver_once -tls1_2
    echo hi | "${CX[@]}" timeout 10 openssl s_client -connect "$SRV_IP:$PORT" -servername server.test \
        -tls1_2 -verify 1 -verify_return_error -CAfile "$CA_B" >"$CLOG" 2>&1 || true
    stop_pid "$SPID" 2
}

sc_version_mismatch() {
    sserver_once -tls1_2
    echo hi | sclient "$PORT" -tls1_3 >"$CLOG" 2>&1 || true
    stop_pid "$SPID" 2
}

sc_no_shared_cipher() {
    sserver_once -tls1_2 -cipher AES128-SHA
    echo hi | sclient "$PORT" -tls1_2 -cipher AES256-SHA >"$CLOG" 2>&1 || true
    stop_pid "$SPID" 2
}

sc_success_close_notify() {
    sserver_once -tls1_2
    lines_in 3 | sclient "$PORT" -tls1_2 >"$CLOG" 2>&1 || true
    stop_pid "$SPID" 2
}

sc_client_cert_accepted() {
    sserver_once -tls1_2 -Verify 1 -verify_return_error -CAfile "$CA_A"
    lines_in 2 | sclient "$PORT" -tls1_2 "${CLI_A[@]}" >"$CLOG" 2>&1 || true
    stop_pid "$SPID" 2
}

sc_renegotiation() {
    EXPECT_CH=2
    sserver_once -tls1_2 -client_renegotiation
    {
        sleep 0.3
        echo "before renegotiation"
        sleep 0.2
        echo R          # s_client command: renegotiate
        sleep 0.5
        echo "after renegotiation"
        sleep 0.3
    } | sclient "$PORT" -tls1_2 >"$CLOG" 2>&1 || true
    stop_pid "$SPID" 2
}

gnutls_cli() { # PORT extra args...
    local port=$1; shift
    "${CX[@]}" env SSLKEYLOGFILE="${KEYLOG:-/dev/null}" timeout "$CLI_TO" gnutls-cli -p "$port" "$SRV_IP" \
        --sni-hostname=server.test --verify-hostname=server.test --x509cafile="$CA_A" "$@"
}

sc_gnutls_client_server_rejects() {
    sserver_once -tls1_2 -Verify 1 -verify_return_error -CAfile "$CA_A"
    lines_in 1 | gnutls_cli "$PORT" --priority=NORMAL:-VERS-ALL:+VERS-TLS1.2 \
        --x509certfile="$PKI/clientB.pem" --x509keyfile="$PKI/clientB.key" >"$CLOG" 2>&1 || true
    stop_pid "$SPID" 2
}

sc_gnutls_server_success() {
    start_bg "$SLOG" "${SX[@]}" env SSLKEYLOGFILE="$KEYLOG" timeout 10 gnutls-serv -p "$PORT" \
        --http --disable-client-cert --priority=NORMAL:-VERS-ALL:+VERS-TLS1.2 \
        --x509certfile="$PKI/server.pem" --x509keyfile="$PKI/server.key"
    SPID=$BGPID
    wait_listen "$PORT" gnutls-serv
    { sleep 0.3; printf 'GET / HTTP/1.0\r\nHost: server.test\r\n\r\n'; sleep 0.5; } |
        sclient "$PORT" -tls1_2 -ign_eof >"$CLOG" 2>&1 || true
    stop_pid "$SPID" 0.5
}

sc_gnutls_client_rejects_server_cert() {
    sserver_once -tls1_2
    lines_in 1 | "${CX[@]}" env SSLKEYLOGFILE="$KEYLOG" timeout "$CLI_TO" gnutls-cli -p "$PORT" "$SRV_IP" \
        --sni-hostname=server.test --verify-hostname=server.test --x509cafile="$CA_B" \
        --priority=NORMAL:-VERS-ALL:+VERS-TLS1.2 >"$CLOG" 2>&1 || true
    stop_pid "$SPID" 2
}

sc_gnutls_server_rejects_client_cert() {
    start_bg "$SLOG" "${SX[@]}" env SSLKEYLOGFILE="$KEYLOG" timeout 10 gnutls-serv -p "$PORT" \
        --echo --require-client-cert --verify-client-cert --x509cafile="$CA_A" \
        --priority=NORMAL:-VERS-ALL:+VERS-TLS1.2 \
        --x509certfile="$PKI/server.pem" --x509keyfile="$PKI/server.key"
    SPID=$BGPID
    wait_listen "$PORT" gnutls-serv
    lines_in 1 | sclient "$PORT" -tls1_2 "${CLI_B[@]}" >"$CLOG" 2>&1 || true
    stop_pid "$SPID" 0.5
}

sc_tls13_success() {
    sserver_once -tls1_3 -rev
    lines_in 3 | sclient "$PORT" -tls1_3 >"$CLOG" 2>&1 || true
    stop_pid "$SPID" 2
}

sc_tls13_client_cert_rejected() {
    sserver_once -tls1_3 -Verify 1 -verify_return_error -CAfile "$CA_A"
    lines_in 1 | sclient "$PORT" -tls1_3 "${CLI_B[@]}" >"$CLOG" 2>&1 || true
    stop_pid "$SPID" 2
}

sc_no_client_cert_tls12() {
    sserver_once -tls1_2 -Verify 1 -verify_return_error -CAfile "$CA_A"
    lines_in 1 | sclient "$PORT" -tls1_2 >"$CLOG" 2>&1 || true
    stop_pid "$SPID" 2
}

sc_tls13_no_client_cert() {
    sserver_once -tls1_3 -Verify 1 -verify_return_error -CAfile "$CA_A"
    lines_in 1 | sclient "$PORT" -tls1_3 >"$CLOG" 2>&1 || true
    stop_pid "$SPID" 2
}

sc_tls13_client_rejects_server_cert() {
    sserver_once -tls1_3
    echo hi | "${CX[@]}" timeout 10 openssl s_client -connect "$SRV_IP:$PORT" -servername server.test \
        -tls1_3 -verify 1 -verify_return_error -CAfile "$CA_B" -keylogfile "$KEYLOG" >"$CLOG" 2>&1 || true
    stop_pid "$SPID" 2
}

sc_tls13_hello_retry() {
    EXPECT_CH=2
    # The client's first key share is X25519; the server takes P-256 only: HelloRetryRequest.
    sserver_once -tls1_3 -groups P-256 -rev
    lines_in 2 | sclient "$PORT" -tls1_3 -groups X25519:P-256 >"$CLOG" 2>&1 || true
    stop_pid "$SPID" 2
}

# Two connections: a full handshake that saves its session, then one that resumes it.
resume_twice() { # version flag
    EXPECT_CH=2
    local sess=$WORK/$1.session
    sserver_once "$1" -naccept 2 -rev
    lines_in 2 | sclient "$PORT" "$1" -sess_out "$sess" >"$CLOG" 2>&1 || true
    lines_in 2 | sclient "$PORT" "$1" -sess_in "$sess" >>"$CLOG" 2>&1 || true
    stop_pid "$SPID" 2
}

sc_tls12_resumption_ticket() { resume_twice -tls1_2; }

sc_tls13_resumption_psk() { resume_twice -tls1_3; }

# The server asks for a client certificate only in a renegotiation it starts itself (the
# per-directory client authentication of web servers): s_server's stdin command `R`.
sc_renegotiation_client_cert() {
    EXPECT_CH=2
    mkfifo "$WORK/sserver_in"
    exec 9<>"$WORK/sserver_in"
    "${SX[@]}" timeout 10 openssl s_server -accept "$PORT" "${SRV_CERT[@]}" -naccept 1 \
        -keylogfile "$KEYLOG" -tls1_2 -CAfile "$CA_A" <&9 >"$SLOG" 2>&1 &
    SPID=$!
    BG_PIDS+=("$SPID")
    wait_listen "$PORT" "openssl s_server"
    {
        sleep 0.4
        echo "before renegotiation"
        sleep 0.3
        echo R >&9      # s_server: set verify-peer, then renegotiate (HelloRequest)
        sleep 0.8
        echo "after renegotiation"
        sleep 0.3
    } | sclient "$PORT" -tls1_2 "${CLI_A[@]}" >"$CLOG" 2>&1 || true
    stop_pid "$SPID" 2
    exec 9>&-
}

# SMTP with STARTTLS: a small Python server speaks plaintext SMTP, upgrades on STARTTLS,
# then answers one line over TLS; the client is `openssl s_client -starttls smtp`.
sc_smtp_starttls() {
    VERIFY_AS=smtp
    cat >"$WORK/smtpd.py" <<'PY'
import socket, ssl, sys
cert, key, keylog, port = sys.argv[1:5]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
ctx.keylog_filename = keylog
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("0.0.0.0", int(port)))
srv.listen(1)
conn, _ = srv.accept()
f = conn.makefile("rwb", buffering=0)
def say(line):
    f.write(line.encode() + b"\r\n")
say("220 server.test ESMTP tlscap test")
while True:
    line = f.readline().strip().upper()
    if line.startswith(b"EHLO") or line.startswith(b"HELO"):
        say("250-server.test")
        say("250 STARTTLS")
    elif line == b"STARTTLS":
        say("220 2.0.0 Ready to start TLS")
        break
    elif not line:
        sys.exit(1)
tls = ctx.wrap_socket(conn, server_side=True)
t = tls.makefile("rwb", buffering=0)
t.readline()                    # EHLO again, now over TLS
t.write(b"250 server.test\r\n")
t.readline()                    # QUIT
t.write(b"221 bye\r\n")
tls.settimeout(2)
try:
    tls.unwrap()                # close_notify, answering the client's
except (OSError, ssl.SSLError):
    pass
conn.close()
PY
    start_bg "$SLOG" "${SX[@]}" timeout 10 python3 "$WORK/smtpd.py" "$PKI/server.pem" \
        "$PKI/server.key" "$KEYLOG" "$PORT"
    SPID=$BGPID
    wait_listen "$PORT" "python smtpd"
    { sleep 0.5; echo "EHLO client.test"; sleep 0.3; echo QUIT; sleep 0.5; } |
        sclient "$PORT" -starttls smtp -crlf -tls1_3 >"$CLOG" 2>&1 || true
    stop_pid "$SPID" 2
}

# verify_capture NAME PCAP KEYLOG OUTCOME SENDER CODE ENCRYPTED
# Checks the first alert (sender, code, plaintext-or-not) and the outcome
# (failed <=> a fatal alert is present) with tshark.
verify_capture() {
    local name=$1 pcap=$2 keys=$3 outcome=$4 sender=$5 code=$6 enc=$7
    local dec plain first fatal got_sender got_code got_enc ok=1
    local targs=(-n -o "tls.keylog_file:$keys" -d "tcp.port==$PORT,${VERIFY_AS:-tls}")
    dec=$(tshark -r "$pcap" "${targs[@]}" -Y tls.alert_message -T fields -E separator=/t \
        -E aggregator=';' -e frame.number -e ip.src -e tls.alert_message.level \
        -e tls.alert_message.desc 2>/dev/null) || true
    # without keys: alerts whose code is visible in plaintext
    plain=$(tshark -r "$pcap" -n -d "tcp.port==$PORT,${VERIFY_AS:-tls}" -Y tls.alert_message.desc -T fields \
        -e frame.number 2>/dev/null) || true
    first=$(head -n1 <<<"$dec")
    got_sender='' got_code='' got_enc=''
    if [[ -n "$first" ]]; then
        local fno src desc
        IFS=$'\t' read -r fno src _ desc <<<"$first"
        got_sender=$([[ "$src" == "$CLI_IP" ]] && echo client || echo server)
        got_code=${desc%%;*}
        if grep -qx "$fno" <<<"$plain"; then got_enc=false; else got_enc=true; fi
    fi
    fatal=$(cut -f3 <<<"$dec" | tr ';' '\n' | grep -x 2 || true)
    # handshake messages, counted after decryption (a renegotiation's are encrypted)
    local hs got_ch got_fin got_outcome=established
    hs=$(tshark -r "$pcap" "${targs[@]}" -Y tls.handshake.type -T fields \
        -e tls.handshake.type 2>/dev/null | tr ',;' '\n\n') || true
    got_ch=$(grep -cx 1 <<<"$hs" || true)
    got_fin=$(grep -cx 20 <<<"$hs" || true)
    # established: both Finished seen and no fatal alert
    if [[ -n "$fatal" || "$got_fin" -lt 2 ]]; then got_outcome=failed; fi
    if [[ "$got_sender|$got_code|$got_enc|$got_outcome|$got_ch" != "$sender|$code|$enc|$outcome|$EXPECT_CH" ]]; then
        log "VERIFY MISMATCH $name: expected sender=$sender code=$code encrypted=$enc outcome=$outcome" \
            "client_hellos=$EXPECT_CH, observed sender=$got_sender code=$got_code encrypted=$got_enc" \
            "outcome=$got_outcome client_hellos=$got_ch"
        log "  alerts (frame,src,level,desc): $(tr '\n' ' ' <<<"$dec")"
        ok=0
    else
        log "  verified: first alert sender=${got_sender:--} code=${got_code:--} encrypted=${got_enc:--}," \
            "outcome=$got_outcome, client_hellos=$got_ch"
    fi
    [[ $ok == 1 ]]
}

run_scenarios() {
    if [[ "${GEN_VERIFY:-1}" == 1 ]] && ! command -v tshark >/dev/null 2>&1; then
        log "note: tshark not installed, skipping the self-check of the captures"
    fi
    OUTDIR=$1
    mkdir -p "$OUTDIR" || die "cannot create $OUTDIR"
    OUTDIR=$(cd "$OUTDIR" && pwd)
    setup_netns
    make_hold_fifo
    gen_certs
    init_cmdlines

    #        name                          stack    ver     outcome     sender code enc   description
    scenario server_rejects_client_cert    openssl  TLS1.2  failed      server 48 false \
        "s_server -Verify 1 -CAfile caA; s_client presents a cert issued by CA B; server sends fatal unknown_ca after the client's Certificate/ClientKeyExchange/CertificateVerify"
    scenario client_rejects_server_cert    openssl  TLS1.2  failed      client 48 false \
        "s_client -verify_return_error -CAfile caB rejects the server cert issued by CA A; client sends fatal unknown_ca after ServerHelloDone"
    scenario version_mismatch              openssl  TLS1.3  failed      server 70 false \
        "s_server -tls1_2 only, s_client -tls1_3 only; server answers the ClientHello with fatal protocol_version"
    scenario no_shared_cipher              openssl  TLS1.2  failed      server 40 false \
        "s_server -cipher AES128-SHA, s_client -cipher AES256-SHA; server answers the ClientHello with fatal handshake_failure"
    scenario success_close_notify          openssl  TLS1.2  established client 0 true \
        "TLS 1.2 success, client sends 3 lines then EOF; client close_notify then server close_notify, both encrypted"
    scenario client_cert_accepted          openssl  TLS1.2  established client 0 true \
        "TLS 1.2 mutual auth success (client cert from CA A accepted), 2 lines of data, encrypted close_notify from both"
    scenario renegotiation                 openssl  TLS1.2  established client 0 true \
        "TLS 1.2 success then client-initiated secure renegotiation (s_client 'R', s_server -client_renegotiation): second full handshake encrypted inside the first session; then data and encrypted close_notify from both"
    scenario gnutls_client_server_rejects  gnutls   TLS1.2  failed      server 48 false \
        "gnutls-cli presents a cert from CA B to s_server -Verify 1 -CAfile caA; server (OpenSSL) sends fatal unknown_ca"
    scenario gnutls_server_success         gnutls   TLS1.2  established server 0 true \
        "gnutls-serv --http (TLS 1.2), s_client sends GET /; gnutls-serv answers and closes with encrypted close_notify"
    scenario gnutls_client_rejects_server_cert gnutls TLS1.2 failed  client 42 false \
        "gnutls-cli --x509cafile caB rejects the s_server cert issued by CA A; GnuTLS client sends fatal bad_certificate (not unknown_ca) after ServerHelloDone"
    scenario gnutls_server_rejects_client_cert gnutls TLS1.2 failed  server 49 false \
        "gnutls-serv --require-client-cert --verify-client-cert --x509cafile caA, s_client presents a cert from CA B: GnuTLS server sends TWO plaintext fatal alerts, access_denied (49) then bad_certificate (42), then RST; the client had already sent its Finished"
    scenario tls13_success                 openssl  TLS1.3  established client 0 true \
        "TLS 1.3 success, s_server -rev echoes 3 lines reversed; client EOF: close_notify both ways (opaque application_data records on the wire)"
    scenario tls13_client_cert_rejected    openssl  TLS1.3  failed      server 48 true \
        "TLS 1.3, s_server -Verify 1 -CAfile caA, client cert from CA B: server sends fatal unknown_ca encrypted (opaque record type 23) after the client Finished"

    scenario no_client_cert_tls12          openssl  TLS1.2  failed      server 40 false \
        "TLS 1.2, s_server -Verify 1 requires a client certificate, s_client sends none (an empty Certificate): server sends fatal handshake_failure in the clear"
    scenario tls13_no_client_cert          openssl  TLS1.3  failed      server 116 true \
        "TLS 1.3, s_server -Verify 1 requires a client certificate, s_client sends none: server sends fatal certificate_required, encrypted, after the client Finished"
    scenario tls13_client_rejects_server_cert openssl TLS1.3 failed    client 48 false \
        "TLS 1.3, s_client -verify_return_error -CAfile caB rejects the server cert issued by CA A: client sends fatal unknown_ca instead of its Finished, in the clear (OpenSSL switches its write keys only when it sends its own flight)"
    scenario tls13_hello_retry             openssl  TLS1.3  established client 0 true \
        "TLS 1.3, s_server -groups P-256, s_client -groups X25519:P-256 sends an X25519 key share: HelloRetryRequest, second ClientHello with P-256, success, close_notify both ways"
    scenario tls12_resumption_ticket       openssl  TLS1.2  established client 0 true \
        "two TLS 1.2 connections: a full handshake issuing a session ticket (s_client -sess_out), then an abbreviated handshake resuming it (s_client -sess_in): ServerHello, ChangeCipherSpec, Finished"
    scenario tls13_resumption_psk          openssl  TLS1.3  established client 0 true \
        "two TLS 1.3 connections: a full handshake whose NewSessionTicket s_client saves (-sess_out), then a PSK resumption (-sess_in): the ServerHello carries pre_shared_key"
    scenario renegotiation_client_cert     openssl  TLS1.2  established client 0 true \
        "TLS 1.2 success without client authentication, then s_server 'R': a server-initiated renegotiation (HelloRequest) whose CertificateRequest the client answers with a cert from CA A; encrypted inside the first session"
    scenario smtp_starttls                 python   TLS1.3  established client 0 true \
        "SMTP on port 4433: greeting, EHLO, STARTTLS, 220, then TLS 1.3 (Python ssl server, s_client -starttls smtp), EHLO and QUIT over TLS; the client sends close_notify on the 221 reply, then the server"

    {
        printf 'name\tstack\ttls_version\texpected_outcome\texpected_alert_sender\texpected_alert_code\texpected_alert_encrypted\tdescription\n'
        printf '%s\n' "${MANIFEST_ROWS[@]}"
    } >"$OUTDIR/MANIFEST.tsv"
    log "wrote ${#MANIFEST_ROWS[@]} captures and MANIFEST.tsv to $OUTDIR"
    [[ $VERIFY_FAIL == 0 ]] || die "some captures did not match the manifest (see VERIFY MISMATCH above)"
}

# --------------------------------------------------------------------------
# bulk

# Connection kinds of the bulk mix: "kind weight" (weights sum to 100).
# ~80% successes (some moving megabytes), ~20% failures of the scenario kinds.
BULK_KINDS="
ok12_small 16
ok13_small 16
ok12_big 7
ok13_big 7
upload 5
mtls_ok 6
gnutls_srv 8
gnutls_cli_ok 6
renego 3
tls12only_ok 3
cipher_ok 3
f_mtls_bad12 4
f_mtls_bad13 3
f_client_rejects 3
f_version 3
f_cipher 2
f_gnutls_rejected 3
f_gnutls_srv_rejects 2
"
BULK_WORKERS=4

# per-worker server ports: 5000 + 10*w + offset; shared gnutls-serv on 6000/6001
P_WWW=0 P_SINK=1 P_MTLS=2 P_TLS12=3 P_CIPHER=4
wport() { echo $((5000 + 10 * $1 + $2)); }

http_get() { # path
    sleep 0.05
    printf 'GET /%s HTTP/1.0\r\nHost: server.test\r\n\r\n' "$1"
}

# bulk_conn WORKER KIND ARG : run one client connection of the given kind
bulk_conn() {
    local w=$1 kind=$2 arg=$3
    local pw; pw=$(wport "$w" $P_WWW)
    case "$kind" in
        ok12_small)   http_get small.html | sclient "$pw" -tls1_2 -quiet ;;
        ok13_small)   http_get small.html | sclient "$pw" -quiet ;;
        ok12_big)     http_get "$arg" | sclient "$pw" -tls1_2 -quiet ;;
        ok13_big)     http_get "$arg" | sclient "$pw" -tls1_3 -quiet ;;
        upload)       head -c "$arg" /dev/urandom | base64 |
                          sclient "$(wport "$w" $P_SINK)" -nocommands -no_ign_eof ;;
        mtls_ok)      http_get small.html | sclient "$(wport "$w" $P_MTLS)" -quiet "${CLI_A[@]}" ;;
        gnutls_srv)   { sleep 0.05; printf 'GET / HTTP/1.0\r\n\r\n'; } |
                          sclient "$arg" -ign_eof ;;
        gnutls_cli_ok) { sleep 0.2; head -c "$arg" /dev/urandom | base64; } |
                          gnutls_cli "$(wport "$w" $P_SINK)" ;;
        renego)       { sleep 0.2; echo "before"; sleep 0.1; echo R; sleep 0.4; echo "after"; sleep 0.1; } |
                          sclient "$(wport "$w" $P_SINK)" -tls1_2 ;;
        tls12only_ok) http_get small.html | sclient "$(wport "$w" $P_TLS12)" -quiet ;;
        cipher_ok)    http_get small.html | sclient "$(wport "$w" $P_CIPHER)" -quiet -tls1_2 -cipher AES128-SHA ;;
        f_mtls_bad12) http_get small.html | sclient "$(wport "$w" $P_MTLS)" -quiet -tls1_2 "${CLI_B[@]}" ;;
        f_mtls_bad13) http_get small.html | sclient "$(wport "$w" $P_MTLS)" -quiet -tls1_3 "${CLI_B[@]}" ;;
        f_client_rejects)
            if [[ "$arg" == gnutls ]]; then
                      { sleep 0.2; echo hello; } | "${CX[@]}" env SSLKEYLOGFILE="${KEYLOG:-/dev/null}" \
                          timeout "$CLI_TO" gnutls-cli -p "$pw" "$SRV_IP" --sni-hostname=server.test \
                          --verify-hostname=server.test --x509cafile="$CA_B"
            else
                      http_get small.html | "${CX[@]}" timeout "$CLI_TO" openssl s_client \
                          -connect "$SRV_IP:$pw" -servername server.test -quiet \
                          ${KEYLOG:+-keylogfile "$KEYLOG"} \
                          -verify 1 -verify_return_error -CAfile "$CA_B"
            fi ;;
        f_gnutls_srv_rejects)
                      { sleep 0.2; echo hello; } | sclient 6002 "$arg" "${CLI_B[@]}" ;;
        f_version)    http_get small.html | sclient "$(wport "$w" $P_TLS12)" -quiet -tls1_3 ;;
        f_cipher)     http_get small.html | sclient "$(wport "$w" $P_CIPHER)" -quiet -tls1_2 -cipher AES256-SHA ;;
        f_gnutls_rejected)
                      { sleep 0.2; echo hello; } | gnutls_cli "$(wport "$w" $P_MTLS)" \
                          --priority="$arg" \
                          --x509certfile="$PKI/clientB.pem" --x509keyfile="$PKI/clientB.key" ;;
        *) die "unknown bulk kind $kind" ;;
    esac
}

bulk_worker() { # W PLANFILE LOG
    local w=$1 plan=$2 wlog=$3 idx kind arg
    while read -r idx kind arg; do
        echo "== $idx $kind $arg" >>"$wlog"
        bulk_conn "$w" "$kind" "$arg" >/dev/null 2>>"$wlog" </dev/null || true
    done <"$plan"
}

run_bulk() {
    local out=$1 n=$2
    [[ "$n" =~ ^[0-9]+$ && "$n" -ge 1 ]] || die "N must be a positive integer (got '$n')"
    mkdir -p "$(dirname -- "$out")" || die "cannot create directory of $out"
    touch "$out" 2>/dev/null || die "cannot write $out"
    out=$(cd "$(dirname -- "$out")" && pwd)/$(basename -- "$out")
    CLI_TO=30
    KEYLOG=${GEN_BULK_KEYLOG:-}
    if [[ -n "$KEYLOG" ]]; then : >"$KEYLOG" || die "cannot write $KEYLOG"; fi
    TD_IMMEDIATE=
    local t0=$SECONDS
    setup_netns
    make_hold_fifo
    gen_certs
    init_cmdlines

    # files served by the -WWW servers
    local files=$WORK/www
    mkdir -p "$files"
    head -c 6000 /dev/urandom | base64 >"$files/small.html"
    local mb
    for mb in 1 2 3 4; do head -c $((mb * 1024 * 1024)) /dev/urandom >"$files/f${mb}m.bin"; done
    head -c $((2 * 1024 * 1024)) /dev/urandom | base64 >"$files/gnutls-big.txt"

    # servers: per worker one of each openssl flavour, plus two shared gnutls-serv
    local w sto=3600 common
    for ((w = 0; w < BULK_WORKERS; w++)); do
        common=("${SX[@]}" timeout "$sto" openssl s_server "${SRV_CERT[@]}")
        (cd "$files" && exec "${common[@]}" -accept "$(wport "$w" $P_WWW)" -WWW -http_server_binmode -quiet) \
            <&8 >>"$WORK/servers.log" 2>&1 &
        BG_PIDS+=($!)
        "${common[@]}" -accept "$(wport "$w" $P_SINK)" -quiet -client_renegotiation \
            <&8 >/dev/null 2>>"$WORK/servers.log" &
        BG_PIDS+=($!)
        (cd "$files" && exec "${common[@]}" -accept "$(wport "$w" $P_MTLS)" -WWW -quiet \
            -Verify 1 -verify_return_error -CAfile "$CA_A") <&8 >>"$WORK/servers.log" 2>&1 &
        BG_PIDS+=($!)
        (cd "$files" && exec "${common[@]}" -accept "$(wport "$w" $P_TLS12)" -WWW -quiet -tls1_2) \
            <&8 >>"$WORK/servers.log" 2>&1 &
        BG_PIDS+=($!)
        (cd "$files" && exec "${common[@]}" -accept "$(wport "$w" $P_CIPHER)" -WWW -quiet -tls1_2 \
            -cipher AES128-SHA) <&8 >>"$WORK/servers.log" 2>&1 &
        BG_PIDS+=($!)
    done
    "${SX[@]}" timeout "$sto" gnutls-serv -p 6000 --http --httpdata="$files/small.html" \
        --x509certfile="$PKI/server.pem" --x509keyfile="$PKI/server.key" \
        <&8 >/dev/null 2>>"$WORK/servers.log" &
    BG_PIDS+=($!)
    "${SX[@]}" timeout "$sto" gnutls-serv -p 6001 --http --httpdata="$files/gnutls-big.txt" \
        --disable-client-cert --x509certfile="$PKI/server.pem" --x509keyfile="$PKI/server.key" \
        <&8 >/dev/null 2>>"$WORK/servers.log" &
    BG_PIDS+=($!)
    "${SX[@]}" timeout "$sto" gnutls-serv -p 6002 --echo --require-client-cert --verify-client-cert \
        --x509cafile="$CA_A" --x509certfile="$PKI/server.pem" --x509keyfile="$PKI/server.key" \
        <&8 >/dev/null 2>>"$WORK/servers.log" &
    BG_PIDS+=($!)
    for ((w = 0; w < BULK_WORKERS; w++)); do
        for p in $P_WWW $P_SINK $P_MTLS $P_TLS12 $P_CIPHER; do wait_listen "$(wport "$w" "$p")" "bulk server"; done
    done
    wait_listen 6000 gnutls-serv
    wait_listen 6001 gnutls-serv
    wait_listen 6002 gnutls-serv

    # deterministic plan (fixed seed): connection i goes to worker i % W
    RANDOM=4242
    local names=() weights=() k wt total=0 i r acc kind arg
    while read -r k wt; do
        [[ -n "$k" ]] || continue
        names+=("$k"); weights+=("$wt"); total=$((total + wt))
    done <<<"$BULK_KINDS"
    declare -A count=()
    for ((w = 0; w < BULK_WORKERS; w++)); do : >"$WORK/plan.$w"; done
    for ((i = 0; i < n; i++)); do
        r=$((RANDOM % total)); acc=0
        for k in "${!names[@]}"; do
            acc=$((acc + weights[k]))
            if ((r < acc)); then kind=${names[k]}; break; fi
        done
        case "$kind" in
            ok12_big|ok13_big) arg=f$((1 + RANDOM % 4))m.bin ;;
            upload) arg=$(((1 + RANDOM % 2) * 1024 * 1024)) ;;
            gnutls_cli_ok) arg=$(( (RANDOM % 4 == 0) ? 1024 * 1024 : 2000 )) ;;
            gnutls_srv) arg=$((6000 + RANDOM % 2)) ;;
            f_gnutls_rejected) arg=NORMAL:-VERS-ALL:+VERS-TLS1.$((2 + RANDOM % 2)) ;;
            f_client_rejects) arg=$(( RANDOM % 3 == 0 )); [[ $arg == 1 ]] && arg=gnutls || arg=openssl ;;
            f_gnutls_srv_rejects) arg=-tls1_$((2 + RANDOM % 2)) ;;
            *) arg=- ;;
        esac
        count[$kind]=$(( ${count[$kind]:-0} + 1 ))
        echo "$i $kind $arg" >>"$WORK/plan.$((i % BULK_WORKERS))"
    done

    local part=$out.partial.$$
    CLEAN_FILES+=("$part")
    capture_start "$part"
    local wpids=()
    for ((w = 0; w < BULK_WORKERS; w++)); do
        bulk_worker "$w" "$WORK/plan.$w" "$WORK/worker.$w.log" &
        wpids+=($!)
        BG_PIDS+=($!)
    done
    for p in "${wpids[@]}"; do wait "$p" || true; done
    capture_stop
    mv -f "$part" "$out" || die "cannot move capture to $out"
    log "bulk: $n connections in $((SECONDS - t0)) s; $(stat -c %s "$out") bytes written to $out; $CAP_STATS"
    local summary=""
    for k in "${names[@]}"; do summary+=" $k=${count[$k]:-0}"; done
    log "bulk mix:$summary"
}

case "$MODE" in
    scenarios) run_scenarios "$2" ;;
    bulk) run_bulk "$2" "${3:-400}" ;;
esac

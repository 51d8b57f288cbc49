#!/usr/bin/env bash
# The project's one test command, for people and CI alike (.ci/run calls exactly this).
#
#   scripts/test.sh                    fmt check, clippy, then every test in the workspace
#   scripts/test.sh --no-lint          skip fmt and clippy
#   scripts/test.sh -- ARGS...         pass ARGS to the test runner, e.g. `-- -p fleet-amqp`
#                                      or `-- some_test_name`
#
# The tests talk to a real Redis and a real RabbitMQ, so before any cargo command this
# script makes sure both answer at REDIS_URL and AMQP_URL. When one does not and its URL
# points at this machine, it starts the installed server, installing it with apt-get
# first when that is possible (root on Debian/Ubuntu). It never starts or installs
# anything for a URL that points at another host. Every such decision is printed on
# stderr, so a surprising result can be traced back. See docs/testing.md.
#
# Environment:
#   REDIS_URL          default redis://127.0.0.1:6379
#   AMQP_URL           default amqp://guest:guest@127.0.0.1:5672/%2f
#   FLEET_TEST_RUNNER  nextest | cargo; default: nextest when installed, else cargo test
set -euo pipefail

readonly DEFAULT_REDIS_URL='redis://127.0.0.1:6379'
readonly DEFAULT_AMQP_URL='amqp://guest:guest@127.0.0.1:5672/%2f'
# RabbitMQ boots in 5-20 s on this kind of machine; allow for a loaded 2-core CI box.
readonly RABBITMQ_START_SECS=90
readonly REDIS_START_SECS=15
# Budget for one connection + handshake; local services answer in milliseconds.
readonly PROBE_SECS=3

say() { printf '%s\n' "$*" >&2; }
# A command as it could be pasted into a shell (so `--save ""` does not vanish).
show_cmd() {
	local out
	printf -v out '%q ' "$@"
	printf '%s\n' "${out% }"
}
die() {
	say "error: $*"
	exit 1
}

usage() {
	sed -n '2,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

# ---------------------------------------------------------------------------------------
# Arguments

lint=1
runner_args=()
while (($# > 0)); do
	case $1 in
	--no-lint) lint=0 ;;
	-h | --help)
		usage
		exit 0
		;;
	--)
		shift
		runner_args=("$@")
		break
		;;
	*) die "unknown option '$1' (arguments for the test runner go after --; see --help)" ;;
	esac
	shift
done

# Run from the repository root whatever the caller's cwd, so cargo finds the workspace.
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# ---------------------------------------------------------------------------------------
# Timing and the summary printed on exit, success or failure

now_ms() {
	# EPOCHREALTIME (bash 5) is microseconds with the locale's decimal separator.
	if [[ -n ${EPOCHREALTIME:-} ]]; then
		local us=${EPOCHREALTIME//[.,]/}
		echo $((us / 1000))
	else
		date +%s%3N
	fi
}
fmt_secs() { printf '%d.%ds' $(($1 / 1000)) $(($1 % 1000 / 100)); }

started_ms=$(now_ms)
summary=()
current_step=''
step_started_ms=0

begin_step() {
	current_step=$1
	step_started_ms=$(now_ms)
}
end_step() {
	summary+=("$current_step $(fmt_secs $(($(now_ms) - step_started_ms))) $1")
	current_step=''
}
print_summary() {
	local rc=$?
	# A step that was running when we exited is the one that failed.
	[[ -n $current_step ]] && end_step FAILED
	say ''
	say "summary:"
	local line
	for line in "${summary[@]}"; do say "  $line"; done
	say "  total $(fmt_secs $(($(now_ms) - started_ms))) $([[ $rc -eq 0 ]] && echo ok || echo "FAILED (exit $rc)")"
}
trap print_summary EXIT

# ---------------------------------------------------------------------------------------
# Rust toolchain

begin_step toolchain
if ! command -v cargo >/dev/null 2>&1; then
	# rustup installs here; a fresh login shell may simply not have it on PATH yet.
	if [[ -x ${HOME:-/nonexistent}/.cargo/bin/cargo ]]; then
		PATH=$HOME/.cargo/bin:$PATH
		say "rust: cargo was not on PATH; using $HOME/.cargo/bin/cargo"
	else
		die "cargo is not on PATH. Install Rust with rustup (https://rustup.rs):
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y
then open a new shell (or run: . \"\$HOME/.cargo/env\") and re-run scripts/test.sh"
	fi
fi
if ((lint)); then
	for tool in fmt clippy; do
		cargo "$tool" --version >/dev/null 2>&1 ||
			die "cargo $tool is missing: rustup component add rustfmt clippy"
	done
fi
runner=${FLEET_TEST_RUNNER:-}
if [[ -z $runner ]]; then
	# nextest runs each test in its own process and the binaries in parallel: faster,
	# and a test that crashes cannot take its neighbours down with it.
	if cargo nextest --version >/dev/null 2>&1; then runner=nextest; else runner=cargo; fi
fi
case $runner in
nextest)
	cargo nextest --version >/dev/null 2>&1 ||
		die "FLEET_TEST_RUNNER=nextest but cargo-nextest is not installed: cargo install cargo-nextest --locked"
	;;
cargo) ;;
*) die "FLEET_TEST_RUNNER must be 'nextest' or 'cargo', not '$runner'" ;;
esac
say "rust: $(cargo --version); test runner: $runner"
end_step ok

# ---------------------------------------------------------------------------------------
# URLs

export REDIS_URL=${REDIS_URL:-$DEFAULT_REDIS_URL}
export AMQP_URL=${AMQP_URL:-$DEFAULT_AMQP_URL}

# The URL with its password replaced by ***, for messages.
redact() {
	if [[ $1 =~ ^([^:/]+://[^:/@]*:)[^@/]*@(.*)$ ]]; then
		printf '%s***@%s\n' "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
	else
		printf '%s\n' "$1"
	fi
}

# parse_url VAR_NAME URL DEFAULT_PORT: sets url_host and url_port.
# Handles scheme://[user[:password]@]host[:port][/path] with bracketed IPv6 hosts.
parse_url() {
	local name=$1 url=$2 default_port=$3 authority
	[[ $url == *://* ]] || die "$name=$(redact "$url") is not a URL (expected e.g. scheme://host:port)"
	authority=${url#*://}
	authority=${authority%%/*}
	authority=${authority%%\?*}
	authority=${authority##*@}
	if [[ $authority =~ ^\[([0-9A-Fa-f:.]+)\](:([0-9]+))?$ ]] ||
		[[ $authority =~ ^([^:]+)(:([0-9]+))?$ ]]; then
		url_host=${BASH_REMATCH[1]}
		url_port=${BASH_REMATCH[3]:-$default_port}
	else
		die "cannot find host and port in $name=$(redact "$url")"
	fi
}

# Only services on this machine are ours to start; anything else belongs to someone.
is_local_host() {
	case $1 in
	localhost | 127.* | ::1) return 0 ;;
	*) return 1 ;;
	esac
}

# ---------------------------------------------------------------------------------------
# Probes. bash's /dev/tcp has no connect timeout (a black-holed remote host would hang
# for minutes), so each probe runs in a child bash under `timeout`.

probe() {
	local fn=$1
	shift
	timeout "$PROBE_SECS" bash -c "$(declare -f "$fn"); $fn \"\$@\"" _ "$@" 2>/dev/null
}

# Succeeds if anything accepts a TCP connection.
tcp_accepts() { exec 3<>"/dev/tcp/$1/$2"; }

# Prints Redis's answer to PING (RESP); succeeds on +PONG, or on -NOAUTH (the server is
# up and merely wants a password, which the tests' client sends from REDIS_URL).
redis_ping() {
	local line
	exec 3<>"/dev/tcp/$1/$2"
	# shellcheck disable=SC2016 # "$4" is RESP's length marker for "PING", not a variable.
	printf '*1\r\n$4\r\nPING\r\n' >&3
	IFS= read -r line <&3 || true
	line=${line%$'\r'}
	printf '%s\n' "$line"
	[[ $line == +PONG || $line == -NOAUTH* ]]
}

# Sends the AMQP 0-9-1 protocol header; a broker answers with a method frame (first byte
# 1) carrying Connection.Start. An unsupported version would come back as "AMQP...".
amqp_hello() {
	local first
	exec 3<>"/dev/tcp/$1/$2"
	printf 'AMQP\000\000\011\001' >&3
	LC_ALL=C IFS= read -r -N 1 first <&3 || true
	[[ $first == $'\001' ]]
}

# wait_ready NAME SECS PROBE_FN HOST PORT: polls until the probe passes or time runs out.
wait_ready() {
	local name=$1 secs=$2 fn=$3 host=$4 port=$5 start
	start=$(now_ms)
	say "$name: waiting up to ${secs}s for it to answer on $host:$port"
	until probe "$fn" "$host" "$port" >/dev/null; do
		if (($(now_ms) - start > secs * 1000)); then
			return 1
		fi
		sleep 0.5
	done
	say "$name: ready after $(fmt_secs $(($(now_ms) - start)))"
}

apt_updated=0
# apt_install NAME PACKAGE: installs PACKAGE when we can, otherwise explains how.
apt_install() {
	local name=$1 package=$2
	if [[ $EUID -ne 0 ]]; then
		die "$name: $package is not installed and installing it needs root. Run:
  sudo apt-get install -y $package
then re-run scripts/test.sh (or set the URL to a server that is already running)"
	fi
	command -v apt-get >/dev/null 2>&1 ||
		die "$name: $package is not installed and there is no apt-get here; install $name with your package manager"
	say "$name: $package is not installed; installing it with apt-get"
	if ((apt_updated == 0)); then
		DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 ||
			die "$name: apt-get update failed (see above); install $package by hand and re-run"
		apt_updated=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$package" >&2 ||
		die "$name: apt-get install $package failed (see above); install it by hand and re-run"
	say "$name: installed with apt-get ($package)"
}

# ---------------------------------------------------------------------------------------
# Redis

ensure_redis() {
	local shown reply dir logdir host port
	shown=$(redact "$REDIS_URL")
	parse_url REDIS_URL "$REDIS_URL" 6379
	host=$url_host
	port=$url_port

	if reply=$(probe redis_ping "$host" "$port"); then
		say "redis: reachable at $shown${reply:+ (PING -> $reply)}"
		return
	fi
	if ! is_local_host "$host"; then
		die "redis: cannot reach $shown. It is not on this machine, so this script will not start it.
Start it there, or unset REDIS_URL to use a local Redis ($DEFAULT_REDIS_URL)"
	fi
	if probe tcp_accepts "$host" "$port"; then
		die "redis: something on $host:$port accepts connections but did not answer PING like Redis (reply: '${reply:-<none>}').
Free the port, or point REDIS_URL at a Redis"
	fi

	if ! command -v redis-server >/dev/null 2>&1; then
		apt_install redis redis-server
		# The package may have started its own server, on the default port.
		if probe redis_ping "$host" "$port" >/dev/null; then
			say "redis: the package started it; reachable at $shown"
			return
		fi
	fi

	# A throwaway cache: no persistence (the tests' keys are disposable). Root uses the
	# system's directories, like the machine's own start command; others get a private
	# directory under target/, which cargo already ignores.
	if [[ $EUID -eq 0 ]]; then
		dir=/var/lib/redis
		logdir=/var/log/redis
	else
		dir=$PWD/target/test-services/redis
		logdir=$dir
	fi
	mkdir -p "$dir" "$logdir"
	local bind=(127.0.0.1 -::1)
	[[ $host == 127.* && $host != 127.0.0.1 ]] && bind=("$host" "${bind[@]}")
	local cmd=(redis-server --daemonize yes --bind "${bind[@]}" --port "$port"
		--save "" --appendonly no --dir "$dir" --logfile "$logdir/ci.log")
	"${cmd[@]}" >&2 || die "redis: \`$(show_cmd "${cmd[@]}")\` failed; see $logdir/ci.log"
	say "redis: not running — started with \`$(show_cmd "${cmd[@]}")\`"
	wait_ready redis "$REDIS_START_SECS" redis_ping "$host" "$port" ||
		die "redis: started but not answering PING after ${REDIS_START_SECS}s; see $logdir/ci.log"
}

# ---------------------------------------------------------------------------------------
# RabbitMQ

ensure_rabbitmq() {
	local shown host port
	shown=$(redact "$AMQP_URL")
	parse_url AMQP_URL "$AMQP_URL" 5672
	host=$url_host
	port=$url_port

	if probe amqp_hello "$host" "$port"; then
		say "rabbitmq: reachable at $shown"
		return
	fi
	if ! is_local_host "$host"; then
		die "rabbitmq: cannot reach $shown. It is not on this machine, so this script will not start it.
Start it there, or unset AMQP_URL to use a local RabbitMQ ($DEFAULT_AMQP_URL)"
	fi
	if probe tcp_accepts "$host" "$port"; then
		die "rabbitmq: something on $host:$port accepts connections but did not start an AMQP 0-9-1 handshake.
Free the port, or point AMQP_URL at a RabbitMQ"
	fi
	# `rabbitmq-server -detached` listens on 5672; a second node on another port needs its
	# own node name, ports and data directory, which is not this script's business.
	if [[ $port != 5672 ]]; then
		die "rabbitmq: nothing answers at $shown, and this script only starts RabbitMQ on its default port 5672.
Start a broker on port $port yourself, or unset AMQP_URL"
	fi
	if [[ $EUID -ne 0 ]] && command -v rabbitmq-server >/dev/null 2>&1; then
		# Debian's wrapper only lets root or the rabbitmq user start the node.
		die "rabbitmq: not running at $shown, and starting it needs root. Run:
  sudo rabbitmq-server -detached
then re-run scripts/test.sh"
	fi

	if ! command -v rabbitmq-server >/dev/null 2>&1; then
		apt_install rabbitmq rabbitmq-server
	fi

	# A node may already be running without AMQP: still booting (the package's own start,
	# or an earlier run), or its app stopped by a fault test (`rabbitmqctl stop_app`).
	# Starting a second node would fail, so only wait for that one.
	if rabbitmq-diagnostics -q ping >/dev/null 2>&1; then
		say "rabbitmq: the node is running but AMQP is not answering yet"
	else
		rabbitmq-server -detached >&2 || die "rabbitmq: \`rabbitmq-server -detached\` failed; see /var/log/rabbitmq/"
		say "rabbitmq: not running — started with \`rabbitmq-server -detached\`"
	fi
	wait_ready rabbitmq "$RABBITMQ_START_SECS" amqp_hello "$host" "$port" ||
		die "rabbitmq: no AMQP handshake on $host:$port after ${RABBITMQ_START_SECS}s.
Check \`rabbitmqctl status\` and /var/log/rabbitmq/; if the app was stopped with
\`rabbitmqctl stop_app\`, run \`rabbitmqctl start_app\`"
}

begin_step services
ensure_redis
ensure_rabbitmq
say "env: REDIS_URL=$(redact "$REDIS_URL") AMQP_URL=$(redact "$AMQP_URL")"
end_step ok

# ---------------------------------------------------------------------------------------
# Lint and tests. Fail fast: a later step rarely means anything after an earlier one
# failed, and on 2 cores a doomed test build costs minutes.

run_step() {
	local name=$1
	shift
	say ""
	say "==> $name: $*"
	begin_step "$name"
	"$@"
	end_step ok
}

# Which packages the pass-through arguments select; without a selection the whole
# workspace is linted and tested. Any other argument (a test-name filter, a runner flag)
# narrows the run further and is only understood by the test runner itself.
selection=()
extra_args=0
for ((i = 0; i < ${#runner_args[@]}; i++)); do
	arg=${runner_args[i]}
	case $arg in
	-p | --package | --exclude)
		selection+=("$arg" "${runner_args[i + 1]:-}")
		i=$((i + 1))
		;;
	-p?* | --package=* | --exclude=* | --workspace | --all) selection+=("$arg") ;;
	*) extra_args=1 ;;
	esac
done
# The whole workspace unless the caller chose packages (or said --workspace already:
# cargo rejects the flag twice). --exclude alone keeps --workspace, which it needs.
scope=(--workspace)
for arg in "${selection[@]}"; do
	case $arg in -p* | --package* | --workspace | --all) scope=() ;; esac
done

# fmt always checks everything (it is instant). clippy follows the package selection, so
# `-- -p some-crate` lints only that crate, like it tests only that crate; with no
# selection this is `cargo clippy --workspace --all-targets -- -D warnings`.
if ((lint)); then
	run_step fmt cargo fmt --all -- --check
	run_step clippy cargo clippy "${scope[@]}" "${selection[@]}" --all-targets -- -D warnings
fi

if [[ $runner == nextest ]]; then
	run_step tests cargo nextest run "${scope[@]}" --all-targets --no-fail-fast "${runner_args[@]}"
else
	run_step tests cargo test "${scope[@]}" --all-targets --no-fail-fast "${runner_args[@]}"
fi

# Offline checks of helm/ and deploy/ (scripts/check-deploy.py): every file parses, the
# chart's values validate against its schema and bad ones are refused, the chart renders
# (Helm's engine from PyPI, no cluster) into manifests that validate against Kubernetes'
# schemas, probes point at endpoints the binary serves. Python packages go into a venv
# under target/, reinstalled only when the requirements change. Run after the tests so
# the debug binary exists for its `uipath-fleet validate` check.
deploy_checks() {
	local venv=target/check-deploy-venv
	if [[ ! -x $venv/bin/python ]] || ! cmp -s scripts/check-deploy-requirements.txt "$venv/requirements.txt"; then
		rm -rf "$venv"
		if ! python3 -m venv "$venv" 2>/dev/null; then
			apt_install python3-venv python3-venv
			python3 -m venv "$venv"
		fi
		"$venv/bin/pip" install -q --disable-pip-version-check -r scripts/check-deploy-requirements.txt
		cp scripts/check-deploy-requirements.txt "$venv/requirements.txt"
	fi
	"$venv/bin/python" scripts/check-deploy.py
}
if ((${#selection[@]} == 0)); then
	run_step deploy deploy_checks
fi

# Neither nextest nor `cargo test --all-targets` runs doc tests.
if ((extra_args)); then
	say ""
	say "==> doctests: not run, because test arguments other than a package selection were given;"
	say "    scripts/test.sh without them (or with only -p/--exclude) runs them too"
else
	run_step doctests cargo test "${scope[@]}" --doc --no-fail-fast "${selection[@]}"
fi

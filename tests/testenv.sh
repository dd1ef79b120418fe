#!/usr/bin/env bash
# tests/testenv.sh USER -- COMMAND [ARGS...]
#
# Runs COMMAND as USER inside a real systemd user manager (with its own D-Bus
# session bus), then tears everything down and exits with COMMAND's status.
# It must be started as root.
#
# Why: the sandbox puts itself in a cgroup through the user's systemd manager
# (`systemd-run --user --scope -p Delegate=yes`, D-Bus). The CI machines are
# fresh Debian 12 hosts where systemd is installed but is not PID 1, so there
# is no user manager and no session bus. This script makes one that is real
# (the Debian systemd binary, talking D-Bus), not a mock.
#
# How:
#   1. Re-exec itself under `unshare -m --propagation private`, so every mount
#      below lives in a private mount namespace and disappears with it.
#   2. In that namespace: lazily unmount /sys/fs/cgroup and mount a cgroup2
#      hierarchy there (on a hybrid host the v1 hierarchies hold the
#      controllers and cgroup2 has none, so limits can't be enforced, but
#      delegation and scope placement are real); put a tmpfs on /run and create
#      /run/systemd/system (so tools believe systemd is up) and /run/user/UID
#      (owned by USER, mode 700).
#   3. Create the cgroup /sys/fs/cgroup/sandbox-test-PID (root's) with a child
#      `user` owned by USER, together with its cgroup.procs,
#      cgroup.subtree_control and cgroup.threads files, as systemd's delegation
#      does. The manager starts in `user` (it moves itself to user/init.scope),
#      and COMMAND runs in user/testenv, so both are inside the delegated
#      subtree and the manager may move COMMAND's processes into new scopes.
#      This shell itself stays outside the test's cgroups.
#   4. Start `/lib/systemd/systemd --user` as USER (setpriv --reuid --regid
#      --init-groups; XDG_RUNTIME_DIR, HOME, USER, LOGNAME, PATH), its output
#      going to a log file in a temporary directory. Wait up to 20 s for
#      /run/user/UID/bus and until `systemctl --user is-system-running` says
#      running or degraded (printing the log's tail if it does not).
#   5. Run COMMAND as USER with XDG_RUNTIME_DIR, DBUS_SESSION_BUS_ADDRESS,
#      HOME, USER, LOGNAME, PATH and, when set, the Go and proxy settings
#      (GOPROXY, GOFLAGS, GOCACHE, GOMODCACHE, GOTOOLCHAIN, ...), SANDBOX_*,
#      CI, TERM, LANG. The working directory is kept when USER can enter it,
#      else USER's home.
#   6. Teardown (trap on exit and on INT/TERM/HUP): stop the manager by its PID
#      (TERM, up to 5 s, then KILL), kill every process still in the test's
#      cgroup subtree (read from the cgroup.procs files; they can only be
#      ours), remove the cgroup directories depth-first, remove the temporary
#      directory. The mounts vanish with the mount namespace. (Processes that
#      COMMAND orphaned are reparented to the host's PID 1, which reaps them
#      once they are killed.)
#
# Rules it keeps: the host's mounts and cgroup hierarchy are never changed
# (all mounts are in the private namespace; the only change to the host's
# cgroup2 tree is the test's own directory, removed at the end); only
# processes this script started, or that live in its own cgroup, are ended,
# by PID.
#
# On a developer machine that already runs systemd as PID 1, called as a
# non-root user, the script just runs COMMAND directly in the caller's own
# session (USER is then ignored).
#
# Informational messages go to stderr, prefixed with "testenv:".

set -uo pipefail

me=testenv
exec 4>&2 # our own messages; teardown silences fd 2 (bash's job notices)
say() { printf '%s: %s\n' "$me" "$*" >&4; }
die() { say "error: $*"; exit 125; }

usage() {
	say "usage: $0 USER -- COMMAND [ARGS...]"
	exit 2
}

[ $# -ge 3 ] && [ "$2" = "--" ] || usage
user=$1
shift 2

# Developer laptop: a real session exists already.
if [ -z "${_TESTENV_INNER:-}" ] && [ "$(id -u)" != 0 ]; then
	if [ -d /run/systemd/system ]; then
		say "systemd runs here and we are not root: using the caller's own session ($(id -un)), not a new one for $user"
		exec "$@"
	fi
	die "must run as root (this host has no systemd to provide a user session)"
fi

# Step 1: re-exec in a private mount namespace.
if [ -z "${_TESTENV_INNER:-}" ]; then
	self=$(readlink -f "${BASH_SOURCE[0]}")
	export _TESTENV_INNER=1
	exec unshare -m --propagation private -- bash "$self" "$user" -- "$@"
fi
unset _TESTENV_INNER

pw=$(getent passwd "$user") || die "no such user: $user"
IFS=: read -r _ _ uid gid _ home _ <<<"$pw"
[ "$uid" != 0 ] || die "USER must not be root"
[ -d "$home" ] || die "home directory $home of $user does not exist"

run_dir=/run/user/$uid
bus=$run_dir/bus
cg=/sys/fs/cgroup/sandbox-test-$$
tmp=
manager_pid=
cmd_pid=
status=125

# alive PID: the process exists and is not a zombie.
alive() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[ "${stat%% *}" != Z ]
}

# cg_pids: every process in the test's cgroup subtree.
cg_pids() {
	[ -n "${1:-$cg}" ] && [ -d "${1:-$cg}" ] || return 0
	find "${1:-$cg}" -name cgroup.procs -exec cat {} + 2>/dev/null
}

# kill_cg DIR TRIES: SIGKILL every process in DIR's subtree until it is empty
# (TRIES rounds of 0.1 s); fails if some are left.
kill_cg() {
	local i p pids
	for ((i = 0; i < $2; i++)); do
		pids=$(cg_pids "$1")
		[ -n "$pids" ] || return 0
		for p in $pids; do
			kill -KILL "$p" 2>/dev/null
		done
		sleep 0.1
	done
	[ -z "$(cg_pids "$1")" ]
}

teardown() {
	trap '' INT TERM HUP
	exec 2>/dev/null
	local i
	# What COMMAND left behind goes first, while the manager (a child
	# subreaper) is still there to reap the orphans among it.
	[ -z "$cg" ] || kill_cg "$cg/user/testenv" 20
	if [ -n "$manager_pid" ] && alive "$manager_pid"; then
		kill -TERM "$manager_pid" 2>/dev/null
		for ((i = 0; i < 50; i++)); do
			alive "$manager_pid" || break
			sleep 0.1
		done
		if alive "$manager_pid"; then
			say "user manager (PID $manager_pid) still running after 5 s: killing it"
			kill -KILL "$manager_pid" 2>/dev/null
		fi
	fi
	if [ -n "$cg" ] && [ -d "$cg" ]; then
		kill_cg "$cg" 50 || say "warning: processes left in $cg: $(cg_pids | tr '\n' ' ')"
		# Reap our own children (manager, COMMAND) now that they are dead.
		wait 2>/dev/null
		# The kernel may need a moment after the last exit before rmdir works.
		for ((i = 0; i < 50; i++)); do
			find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null
			[ -d "$cg" ] || break
			sleep 0.1
		done
		[ ! -d "$cg" ] || say "warning: could not remove $cg"
	fi
	[ -z "$tmp" ] || rm -rf "$tmp"
}

on_signal() {
	say "interrupted by SIG$1"
	status=$((128 + $2))
	exit "$status"
}

trap 'teardown; exit "$status"' EXIT
trap 'on_signal INT 2' INT
trap 'on_signal TERM 15' TERM
trap 'on_signal HUP 1' HUP

tmp=$(mktemp -d /tmp/testenv.XXXXXX) || die "mktemp failed"
log=$tmp/manager.log

# Step 2: private mounts.
if mountpoint -q /sys/fs/cgroup; then
	umount -l /sys/fs/cgroup || die "umount /sys/fs/cgroup failed"
fi
mount -t cgroup2 none /sys/fs/cgroup || die "mount cgroup2 on /sys/fs/cgroup failed"
mount -t tmpfs -o mode=755 tmpfs /run || die "mount tmpfs on /run failed"
mkdir -p /run/systemd/system /run/lock "$run_dir" || die "mkdir in /run failed"
chmod 1777 /run/lock
chown "$uid:$gid" "$run_dir" && chmod 700 "$run_dir" || die "chown $run_dir failed"

# Step 3: the test's cgroups.
# Only a cgroup made here is ever emptied and removed by teardown.
want=$cg
cg=
[ ! -e "$want" ] || die "cgroup $want exists already (a stale one from an earlier run?)"
mkdir "$want" || die "cannot create cgroup $want"
cg=$want
mkdir "$cg/user" "$cg/user/testenv" || die "cannot create cgroups under $cg"
chown -R "$uid:$gid" "$cg/user" || die "chown $cg/user failed"
chown "$uid:$gid" "$cg/user/cgroup.procs" "$cg/user/cgroup.subtree_control" "$cg/user/cgroup.threads"

# Common environment for USER's processes.
base_env=(
	"HOME=$home" "USER=$user" "LOGNAME=$user"
	"PATH=${PATH:-/usr/local/bin:/usr/bin:/bin}"
	"XDG_RUNTIME_DIR=$run_dir"
)
as_user() {
	setpriv --reuid="$uid" --regid="$gid" --init-groups -- env -i "${base_env[@]}" "$@"
}

# Step 4: the user manager, started in $cg/user, in its own session.
say "starting systemd --user for $user (uid $uid) in cgroup ${cg#/sys/fs/cgroup}/user"
(
	echo "$BASHPID" >"$cg/user/cgroup.procs" || exit 125
	cd / || exit 125
	exec setsid setpriv --reuid="$uid" --regid="$gid" --init-groups -- \
		env -i "${base_env[@]}" /lib/systemd/systemd --user
) </dev/null >"$log" 2>&1 4>&- &
manager_pid=$!

show_log() {
	say "systemd --user output (last 30 lines of $log):"
	tail -n 30 "$log" | sed 's/^/    /' >&4
}

deadline=$((SECONDS + 20))
until [ -S "$bus" ]; do
	if ! alive "$manager_pid"; then
		show_log
		die "systemd --user exited before its bus $bus appeared"
	fi
	if ((SECONDS >= deadline)); then
		show_log
		die "timed out after 20 s waiting for the user bus $bus"
	fi
	sleep 0.1
done

base_env+=("DBUS_SESSION_BUS_ADDRESS=unix:path=$bus")
state=
until [ "$state" = running ] || [ "$state" = degraded ]; do
	state=$(as_user systemctl --user is-system-running 2>&1)
	if ((SECONDS >= deadline)); then
		show_log
		die "user manager did not become ready within 20 s (state: $state)"
	fi
	[ "$state" = running ] || [ "$state" = degraded ] || sleep 0.1
done
if [ "$state" = degraded ]; then
	say "user manager is up (degraded; failed units: $(as_user systemctl --user list-units --failed --plain --no-legend 2>/dev/null | awk '{print $1}' | tr '\n' ' '))"
else
	say "user manager is up ($state)"
fi

# Step 5: COMMAND as USER, in $cg/user/testenv.
for v in GOPROXY GONOPROXY GOPRIVATE GOSUMDB GONOSUMDB GOINSECURE GOFLAGS \
	GOCACHE GOMODCACHE GOPATH GOTOOLCHAIN GOENV GOMAXPROCS CGO_ENABLED \
	http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY ALL_PROXY \
	SSL_CERT_FILE SSL_CERT_DIR CI TERM LANG LC_ALL \
	$(compgen -e | grep '^SANDBOX_'); do
	if [ -n "${!v+set}" ]; then
		base_env+=("$v=${!v}")
	fi
done

dir=$PWD
if ! setpriv --reuid="$uid" --regid="$gid" --init-groups -- test -x "$dir" -a -r "$dir"; then
	say "$user cannot enter $dir: running in $home"
	dir=$home
fi

# Keep our stdin for COMMAND (a background job would get /dev/null).
if [ -e /dev/fd/0 ]; then exec 3<&0; else exec 3</dev/null; fi
(
	echo "$BASHPID" >"$cg/user/testenv/cgroup.procs" || exit 125
	cd "$dir" || exit 125
	exec setpriv --reuid="$uid" --regid="$gid" --init-groups -- env -i "${base_env[@]}" "$@"
) <&3 3<&- 4>&- &
cmd_pid=$!
exec 3<&-

wait "$cmd_pid"
status=$?
exit "$status"

#!/usr/bin/env bash
# tests/vm/run.sh [--prepare] [-s HOSTDIR[:GUESTDIR[:keep]]]... [-e NAME[=VALUE]]...
#                 [-C DIR] [-r SCRIPT] -- COMMAND [ARG...]
#
# Runs COMMAND as the unprivileged user sbtest (uid 1000, sub-IDs
# 100000:65536) inside a throwaway Debian 12 guest that is a normal systemd
# machine: systemd as PID 1, unified cgroup v2 with every controller, logind,
# and a lingering user manager whose user@.service delegates
# `cpu cpuset io memory pids`. COMMAND runs in that manager as a transient
# service, as an application of a desktop session would. Its output (stdout and
# stderr together) comes out on our stdout; we exit with its status, or 124
# when SANDBOX_VM_TIMEOUT ran out, or 125 when the VM failed around it.
#
# Why a VM: the CI machines' cgroups are hybrid (the controllers sit in the v1
# hierarchies), so limits cannot be enforced there; and their /dev/kvm is a
# paravirtual nested KVM that runs a stock kernel far slower than plain
# emulation, so the guest runs under qemu TCG.
#
# Must run as root on Debian 12 (amd64). The first run installs qemu,
# mmdebstrap, busybox-static and cpio with apt-get, and builds the guest (the
# kernel package linux-image-cloud-amd64 and a minbase root, both from the
# Debian mirror) into $SANDBOX_VM_CACHE, where later runs on the machine find
# it. The guest has no network device.
#
# -s copies HOSTDIR into the guest at GUESTDIR (default: the same path). Each
# run builds a fresh root disk from the cached tree plus the copies (no mounts
# on the host), so inside they are ordinary directories of the root
# filesystem. They belong to sbtest inside, unless :keep is given (then owners
# and modes are the host's: a root-owned Go tree stays read-only). Nothing comes
# back but COMMAND's output and status.
# -e sets NAME for COMMAND (NAME alone: our own value, if set).
# -C is COMMAND's directory (default: the first share that is not :keep).
# -r runs the bash SCRIPT (a host file) as root in the guest before COMMAND,
# with the shares in place (to set up what only root may: a test host, say);
# what it starts in the background lives until the guest stops, and its
# output comes out with COMMAND's. If it fails, COMMAND is not run (125).
# --prepare only installs the tools and builds the guest.
#
# Environment: SANDBOX_VM_CACHE (default /var/cache/sandbox-ci/vm),
# SANDBOX_VM_CPUS (default 2), SANDBOX_VM_MEM (MiB, default 3072),
# SANDBOX_VM_TIMEOUT (seconds for boot and COMMAND, default 900),
# SANDBOX_VM_SWAP (MiB of swap in the guest, default 256; 0: none),
# SANDBOX_VM_PACKAGES (more Debian packages in the guest; they are part of the
# cache key), SANDBOX_VM_CONSOLE=1 (stream the guest's console to stderr).
#
# Our own messages go to stderr, prefixed with "vm:".

set -uo pipefail

say() { printf 'vm: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 125; }

# The image recipe's version: bump it when build_guest changes.
recipe=3
cache=${SANDBOX_VM_CACHE:-/var/cache/sandbox-ci/vm}
cpus=${SANDBOX_VM_CPUS:-2}
mem=${SANDBOX_VM_MEM:-3072}
limit=${SANDBOX_VM_TIMEOUT:-900}
swap=${SANDBOX_VM_SWAP:-256}
guest_user=sbtest
guest_uid=1000
# What the tests need of the machine besides the Go toolchain (.ci/run
# installs the same on the CI host); file, git, patch, libcap2-bin and
# libc6-dev (gcc's headers: cgo) come with a desktop, not with minbase.
packages="systemd systemd-sysv dbus dbus-user-session libpam-systemd uidmap
	fuse-overlayfs fuse3 kmod procps psmisc iproute2 util-linux bsdutils
	python3-minimal ca-certificates passt slirp4netns bubblewrap zsh fish gcc
	libc6-dev make busybox-static attr libcap2-bin file git patch xz-utils
	podman containerd ${SANDBOX_VM_PACKAGES:-}"
# The block driver stack the initramfs loads, in dependency order (modules.dep).
initrd_modules="virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk"

shares=() envs=() cwd= prepare= rootscript=
while [ $# -gt 0 ]; do
	case $1 in
	-s) [ $# -ge 2 ] || die "-s needs HOSTDIR"; shares+=("$2"); shift 2 ;;
	-e) [ $# -ge 2 ] || die "-e needs NAME"; envs+=("$2"); shift 2 ;;
	-C) [ $# -ge 2 ] || die "-C needs DIR"; cwd=$2; shift 2 ;;
	-r) [ $# -ge 2 ] && [ -f "$2" ] || die "-r needs a SCRIPT file"; rootscript=$2; shift 2 ;;
	--prepare) prepare=1; shift ;;
	--) shift; break ;;
	*) die "unknown argument $1 (COMMAND goes after --)" ;;
	esac
done
[ -n "$prepare" ] || [ $# -gt 0 ] || die "no COMMAND (usage: see the top of $0)"
[ "$(id -u)" = 0 ] || die "must run as root"

started=$SECONDS

# ------------------------------------------------------------ host tools
missing=()
command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
# busybox must be the static one: it is the initramfs's only program.
[ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1 || missing+=(busybox-static)
command -v cpio >/dev/null || missing+=(cpio)
command -v mkfs.ext4 >/dev/null || missing+=(e2fsprogs)
if [ ${#missing[@]} -gt 0 ]; then
	say "apt-get install ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get -q update >/dev/null && apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null ||
		die "apt-get install ${missing[*]} failed"
fi

# ------------------------------------------------------------ the guest image
mkdir -p "$cache" || die "cannot create $cache"
key=$(echo "$recipe" $packages | tr -s ' \t\n' ' ' | sha256sum | cut -c1-12)
image=$cache/guest-$key

# guest_boot is the image's side: systemd starts it once the user manager may
# be up; it mounts the control disk and runs the guest.sh this run put there
# (so the guest's side of a run changes without a new image).
guest_boot() {
	cat <<'EOF'
#!/bin/bash
for d in /sys/block/vd*; do
	[ "$(cat "$d/serial" 2>/dev/null)" = sbvm-ctl ] && mkdir -p /run/sbvm && mount -o ro "/dev/${d##*/}" /run/sbvm
done
[ -f /run/sbvm/guest.sh ] && exec /bin/bash /run/sbvm/guest.sh
echo "sbvm: no control disk" >/dev/console
echo "sbvm-status: 125" >/dev/console
systemctl poweroff --force --force
EOF
}

# guest_run is this run's side in the guest (guest.sh on the control disk): it
# waits for the user manager, runs run.sh as the user, prints the status on
# the console and powers off.
guest_run() {
	cat <<'EOF'
console=/dev/console
ctl=/run/sbvm
report() { echo "sbvm-status: $1" >$console; sync; systemctl poweroff --force --force; sleep 60; }
. $ctl/settings # user, cwd, swap
IFS=: read -r _ _ uid gid _ home _ < <(getent passwd "$user") || report 125
# Copies that are the user's: chown them, and the directories made for them
# below the home.
while read -r mode dir; do
	[ "$mode" = keep ] || chown -R "$uid:$gid" "$dir"
	parent=${dir%/*}
	while [ "${parent#"$home"/}" != "$parent" ]; do chown "$uid:$gid" "$parent"; parent=${parent%/*}; done
done <$ctl/shares
# What a desktop's udev rules do for these two.
modprobe -q tun
chmod 0666 /dev/fuse /dev/net/tun
# Swap, as most machines have (the --memory-swap test needs some).
if [ "$swap" -gt 0 ]; then
	{ fallocate -l "${swap}M" /swapfile && chmod 600 /swapfile && mkswap -q /swapfile && swapon /swapfile; } >/dev/null 2>&1 ||
		echo "sbvm: no swap" >$console
fi
bus=/run/user/$uid/bus
as_user() {
	setpriv --reuid="$uid" --regid="$gid" --init-groups -- env -i HOME="$home" USER="$user" \
		LOGNAME="$user" PATH=/usr/bin:/bin XDG_RUNTIME_DIR=/run/user/$uid \
		DBUS_SESSION_BUS_ADDRESS=unix:path=$bus "$@"
}
state=
for _ in $(seq 900); do
	if [ -S $bus ]; then
		state=$(as_user systemctl --user is-system-running 2>/dev/null)
		case $state in running | degraded) break ;; esac
	fi
	sleep 0.1
done
case $state in running | degraded) ;; *) echo "sbvm: user manager not ready ($state)" >$console; report 125 ;; esac
echo "sbvm: ready after $(cut -d' ' -f1 /proc/uptime) s: $(uname -r)," \
	"controllers \"$(cat /sys/fs/cgroup/cgroup.controllers)\"," \
	"delegated \"$(cat /sys/fs/cgroup/user.slice/user-$uid.slice/user@$uid.service/cgroup.controllers)\"," \
	"swap $(awk '/SwapTotal/ { print $2 / 1024 }' /proc/meminfo) MiB" >$console
setenv=()
while IFS= read -r kv; do [ -z "$kv" ] || setenv+=(-E "$kv"); done <$ctl/env
stty -F /dev/ttyS1 raw -echo
if [ -f $ctl/root.sh ]; then
	/bin/bash $ctl/root.sh </dev/null >/dev/ttyS1 2>&1 || { echo "sbvm: the root script failed" >$console; report 125; }
fi
as_user systemd-run --user --wait --pipe --quiet --collect --unit=sbvm-command \
	-p WorkingDirectory="${cwd:-$home}" "${setenv[@]}" -- /bin/bash $ctl/run.sh </dev/null >/dev/ttyS1 2>&1
report $?
EOF
}

# guest_init is the initramfs's /init: load the block drivers, mount the disk
# with serial sbvm-root and hand over to systemd.
guest_init() {
	cat <<EOF
#!/bin/busybox sh
bb=/bin/busybox
\$bb mount -t proc proc /proc
\$bb mount -t sysfs sys /sys
\$bb mount -t devtmpfs dev /dev
for m in $initrd_modules; do \$bb insmod /lib/modules/\$m.ko; done
root=
for i in \$(\$bb seq 200); do
	for d in /sys/block/vd*; do
		[ "\$(\$bb cat \$d/serial 2>/dev/null)" = sbvm-root ] && root=/dev/\${d##*/}
	done
	[ -z "\$root" ] || break
	\$bb usleep 50000
done
if [ -z "\$root" ] || ! \$bb mount -t ext4 \$root /newroot; then
	echo "sbvm-status: 125 (no root disk)"
	\$bb poweroff -f
fi
\$bb umount /proc /sys /dev
exec \$bb switch_root /newroot /sbin/init
EOF
}

build_guest() {
	local b=$1 r=$1/root kpkg kver m f
	say "building the guest in $image (once per machine and recipe)"
	# mmdebstrap mounts /proc, /sys and /dev in the target: in a mount
	# namespace of its own, so nothing of it is seen or left on the host.
	unshare -m --propagation private -- mmdebstrap --variant=minbase --mode=root \
		--include="$(echo $packages | tr ' ' ,)" \
		--dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
		--dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
		bookworm "$r" "deb http://deb.debian.org/debian bookworm main" \
		"deb http://deb.debian.org/debian bookworm-updates main" \
		"deb http://deb.debian.org/debian-security bookworm-security main" >"$b/mmdebstrap.log" 2>&1 ||
		{ tail -20 "$b/mmdebstrap.log" >&2; return 1; }

	# The kernel: what linux-image-cloud-amd64 depends on today.
	kpkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
	[ -n "$kpkg" ] || { say "apt-cache knows no linux-image-cloud-amd64 (apt-get update?)"; return 1; }
	(cd "$b" && apt-get download -q -o APT::Sandbox::User=root "$kpkg" >/dev/null) || { say "apt-get download $kpkg failed"; return 1; }
	dpkg-deb -x "$b"/"$kpkg"_*.deb "$b/k" || return 1
	kver=$(ls "$b/k/lib/modules")
	mkdir -p "$r/usr/lib/modules" && cp -a "$b/k/lib/modules/$kver" "$r/usr/lib/modules/" &&
		chroot "$r" depmod "$kver" || return 1

	mkdir -p "$b/initrd/bin" "$b/initrd/dev" "$b/initrd/proc" "$b/initrd/sys" "$b/initrd/newroot" \
		"$b/initrd/lib/modules" && cp /bin/busybox "$b/initrd/bin/" || return 1
	for m in $initrd_modules; do
		f=$(find "$b/k/lib/modules/$kver" -name "$m.ko*" | head -1)
		case $f in
		*.ko) cp "$f" "$b/initrd/lib/modules/$m.ko" ;;
		*.ko.xz) xz -dc "$f" >"$b/initrd/lib/modules/$m.ko" ;;
		*.ko.zst) zstd -qdc "$f" >"$b/initrd/lib/modules/$m.ko" ;;
		*) say "no module $m in $kpkg"; return 1 ;;
		esac
	done
	guest_init >"$b/initrd/init" && chmod 755 "$b/initrd/init" || return 1
	(cd "$b/initrd" && find . | cpio -o -H newc --quiet | gzip -1) >"$b/initrd.img" || return 1

	# A normal machine, trimmed of what only slows a boot.
	echo sbvm >"$r/etc/hostname"
	printf '127.0.0.1 localhost sbvm\n::1 localhost ip6-localhost ip6-loopback\n' >"$r/etc/hosts"
	: >"$r/etc/fstab"
	tr -dc 0-9a-f </dev/urandom | head -c 32 >"$r/etc/machine-id" && echo >>"$r/etc/machine-id"
	chroot "$r" useradd -m -u "$guest_uid" -U -s /bin/bash "$guest_user" || return 1
	chroot "$r" setpriv --reuid="$guest_uid" --regid="$guest_uid" --clear-groups \
		mkdir -p "/home/$guest_user/.cache" "/home/$guest_user/.config" "/home/$guest_user/.local/share" || return 1
	for f in subuid subgid; do echo "$guest_user:100000:65536" >"$r/etc/$f"; done
	mkdir -p "$r/var/lib/systemd/linger" && touch "$r/var/lib/systemd/linger/$guest_user"
	mkdir -p "$r/etc/systemd/system/user@.service.d" "$r/etc/systemd/journald.conf.d"
	printf '[Service]\nDelegate=cpu cpuset io memory pids\n' >"$r/etc/systemd/system/user@.service.d/delegate.conf"
	printf '[Journal]\nStorage=volatile\n' >"$r/etc/systemd/journald.conf.d/volatile.conf"
	printf 'overlay\nfuse\n' >"$r/etc/modules-load.d/sandbox.conf"
	for u in getty.target apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer \
		e2scrub_reap.service fstrim.timer systemd-tmpfiles-clean.timer systemd-hwdb-update.service \
		ldconfig.service systemd-journal-catalog-update.service systemd-update-done.service \
		systemd-firstboot.service; do
		ln -sf /dev/null "$r/etc/systemd/system/$u"
	done
	guest_boot >"$r/usr/local/sbin/sbvm-boot" && chmod 755 "$r/usr/local/sbin/sbvm-boot" || return 1
	cat >"$r/etc/systemd/system/sbvm-run.service" <<EOF
[Unit]
Description=tests/vm/run.sh: COMMAND as $guest_user
Wants=user@$guest_uid.service
After=user@$guest_uid.service systemd-logind.service systemd-user-sessions.service systemd-modules-load.service

[Service]
ExecStart=/usr/local/sbin/sbvm-boot
StandardOutput=journal+console
StandardError=journal+console
EOF
	mkdir -p "$r/etc/systemd/system/multi-user.target.wants" &&
		ln -sf /etc/systemd/system/sbvm-run.service "$r/etc/systemd/system/multi-user.target.wants/"
	chroot "$r" apt-get clean
	rm -rf "$r/var/lib/apt/lists"/*

	mkdir "$b/image" && mv "$b/root" "$b/initrd.img" "$b/image/" && cp "$b/k/boot/vmlinuz-$kver" "$b/image/vmlinuz" &&
		echo "$kver" >"$b/image/kernel" && rm -rf "$image" && mv "$b/image" "$image" || return 1
	say "guest built in $((SECONDS - started)) s: kernel $kver, root $(du -sh "$image/root" | cut -f1)"
}

exec 9>"$cache/.lock"
flock 9 # one build at a time; runs share the finished image
if [ ! -f "$image/kernel" ]; then
	tmp=$(mktemp -d "$cache/build.XXXXXX") || die "mktemp in $cache failed"
	build_guest "$tmp"
	rc=$?
	rm -rf "$tmp"
	[ "$rc" = 0 ] || die "building the guest failed"
fi
touch "$image"
# Images of other recipes, unused for a week.
find "$cache" -mindepth 1 -maxdepth 1 -name 'guest-*' ! -name "guest-$key" -mtime +7 -exec rm -rf {} +
exec 9>&-
if [ -n "$prepare" ]; then
	say "guest ready: $image"
	exit 0
fi

# ------------------------------------------------------------ this run
run=$(mktemp -d "$cache/run.XXXXXX") || die "mktemp in $cache failed"
qemu= tail=
trap '[ -z "$qemu" ] || kill "$qemu"; [ -z "$tail" ] || kill "$tail"; wait; rm -rf "$run"' EXIT
trap 'say interrupted; exit 130' INT TERM HUP

# Hard links where the cache and a share are on one filesystem (only the
# staging tree's names are ever replaced, never a file's content), else copies.
copy_tree() {
	mkdir -p "$2" || return 1
	if [ "$(stat -c %d "$1")" = "$(stat -c %d "$2")" ]; then
		cp -al --remove-destination "$1/." "$2/"
	else
		cp -a --remove-destination "$1/." "$2/"
	fi
}
root=$run/root
copy_tree "$image/root" "$root" || die "staging the root tree failed"
mkdir "$run/ctl" && : >"$run/ctl/shares" || die "mkdir $run/ctl failed"
for s in "${shares[@]}"; do
	IFS=: read -r from to mode <<<"$s"
	[ -d "$from" ] || die "-s $s: $from is not a directory"
	from=$(cd "$from" && pwd -P)
	to=${to:-$from}
	case $to in /*) ;; *) die "-s $s: GUESTDIR must be absolute" ;; esac
	case /$to/ in */../* | //) die "-s $s: bad GUESTDIR" ;; esac
	case ${mode:-user} in user | keep) ;; *) die "-s $s: the mode is keep or nothing" ;; esac
	[ ! -L "$root$to" ] || die "-s $s: $to is a symbolic link in the guest"
	copy_tree "$from" "$root$to" || die "copying $from failed"
	echo "${mode:-user} $to" >>"$run/ctl/shares"
	[ -n "$cwd" ] || [ "${mode:-user}" = keep ] || cwd=$to
done
printf 'user=%q\ncwd=%q\nswap=%d\n' "$guest_user" "$cwd" "$swap" >"$run/ctl/settings"
guest_run >"$run/ctl/guest.sh"
[ -z "$rootscript" ] || cp "$rootscript" "$run/ctl/root.sh" || die "copying $rootscript failed"
: >"$run/ctl/env"
path_set=
for e in "${envs[@]}"; do
	name=${e%%=*}
	[[ $name =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "-e $e: bad name"
	if [ "$name" = "$e" ]; then
		[ -n "${!name+set}" ] || continue
		e=$name=${!name}
	fi
	[[ $e != *$'\n'* ]] || die "-e $name: a value with a newline"
	[ "$name" != PATH ] || path_set=1
	echo "$e" >>"$run/ctl/env"
done
[ -n "$path_set" ] || echo "PATH=/usr/local/go/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin" >>"$run/ctl/env"
{
	[ -z "$cwd" ] || printf 'cd %q || exit 125\n' "$cwd"
	printf '%q ' "$@"
	echo
} >"$run/ctl/run.sh"
mkfs.ext4 -q -F -O ^has_journal -d "$run/ctl" "$run/ctl.img" 4M >"$run/mkfs.log" 2>&1 ||
	{ cat "$run/mkfs.log" >&2; die "mkfs of the control disk failed"; }
# Sized for the tree plus 4 GiB of room (sparse: free space costs nothing).
kib=$(du -sk "$root" | cut -f1)
inodes=$(find "$root" -xdev | wc -l)
mkfs.ext4 -q -F -O ^has_journal -L sbvm-root -E lazy_itable_init=1 -N $((inodes * 2 + 200000)) \
	-d "$root" "$run/root.img" $((kib / 1024 * 5 / 4 + 4096))M >"$run/mkfs.log" 2>&1 ||
	{ cat "$run/mkfs.log" >&2; die "mkfs of the root disk failed"; }
rm -rf "$root"

# The kernel's command line: unified cgroups only; the serial ports are the
# console and COMMAND's output; TSC as the clock, because under TCG every read
# of the default (HPET) is an emulated device access, and Go reads the clock
# all the time.
append="console=ttyS0 8250.nr_uarts=2 panic=-1 quiet loglevel=3 systemd.show_status=error"
append+=" systemd.unified_cgroup_hierarchy=1 cgroup_no_v1=all clocksource=tsc tsc=reliable"
append+=" mitigations=off random.trust_cpu=on"
say "booting $(cat "$image/kernel") ($cpus vCPUs, $mem MiB, TCG) after $((SECONDS - started)) s"
: >"$run/console"
if [ "${SANDBOX_VM_CONSOLE:-}" = 1 ]; then
	tail -f "$run/console" >&2 &
	tail=$!
fi
booted=$SECONDS
timeout -k 10 "$limit" qemu-system-x86_64 -machine pc -accel tcg,thread=multi -cpu max \
	-smp "$cpus" -m "$mem" -nodefaults -no-user-config -display none -vga none -no-reboot \
	-kernel "$image/vmlinuz" -initrd "$image/initrd.img" -append "$append" \
	-drive "file=$run/root.img,if=none,id=root,format=raw,cache=unsafe" \
	-device virtio-blk-pci,drive=root,serial=sbvm-root \
	-drive "file=$run/ctl.img,if=none,id=ctl,format=raw,readonly=on" \
	-device virtio-blk-pci,drive=ctl,serial=sbvm-ctl \
	-serial "file:$run/console" -chardev stdio,id=out,signal=off -serial chardev:out </dev/null &
qemu=$!
wait "$qemu"
qrc=$?
qemu=
[ -z "$tail" ] || { kill "$tail"; wait "$tail"; tail=; }
console=$(tr -d '\r' <"$run/console")
status=$(sed -n 's/.*sbvm-status: \([0-9]*\).*/\1/p' <<<"$console" | tail -1)
grep -o 'sbvm: .*' <<<"$console" | sed 's/^sbvm: /vm: guest: /' >&2
if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
	say "timed out after $limit s; the console's last lines:"
	tail -n 30 <<<"$console" >&2
	exit 124
fi
if [ -z "$status" ]; then
	say "the guest stopped (qemu exit $qrc) without COMMAND's status; the console's last lines:"
	tail -n 40 <<<"$console" >&2
	exit 125
fi
say "COMMAND exited $status; VM $((SECONDS - booted)) s, all $((SECONDS - started)) s"
exit "$status"

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Inside the Debian 12 system of the system stage (system-check.sh), as
# /mnt/test/run.sh, started by the image's system-test.service at each
# boot: what an operator does with the packages, each step one KTAP
# result "system/<step>" on stdout (the second serial port).
#
#   boot 1: apt install from a local repository (dkms builds the module),
#           dkms status, the module's signature, the operator's setup
#           (mount unit, modules-load.d, qemu.conf, LimitMEMLOCK=); reboot
#   boot 2: units and udev after the reboot, libvirt's unprivileged QEMU
#           on the mount, a kvm-group user's QEMU by hand, the same user
#           over RLIMIT_MEMLOCK, the packaged samples built and run, the
#           installed kselftests through run_kselftest.sh, modprobe -r,
#           apt purge; power off
#
# The test disk (/mnt/test) holds repo/ (the packages and their index),
# inner.gz (the inner guest's initramfs, selftests/qemu/inner_init.c),
# kselftest/ (make kselftest-install) and version (VERSION).
set -u
T=/mnt/test
state=/var/lib/system-test
mkdir -p $state
ver=$(cat $T/version)
kver=$(uname -r)
mount_dir=/run/kvm_memext
stats=/sys/kernel/debug/kvm_memext/privmem
inner_mb=160
export DEBIAN_FRONTEND=noninteractive

kmsg() { echo "kvm_memext-runner: $*" > /dev/kmsg; }
now() { cut -d' ' -f1 /proc/uptime; }
stat_of() { awk -v k="$1" '$1 == k { print $2 }' $stats 2>/dev/null; }

# step <name> <function>: run it with its output in $state/<name>.log,
# print its KTAP line with its time, and its log's tail if it failed.
n=$(cat $state/n 2>/dev/null || echo 0)
step() {
	local name=$1 t0 rc secs
	shift
	n=$((n + 1))
	echo $n > $state/n
	kmsg "begin system/$name"
	t0=$(now)
	# A subshell, so that fail() ends the step.
	("$@") > $state/$name.log 2>&1
	rc=$?
	secs=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
	kmsg "end system/$name"
	case $rc in
	0) echo "ok $n system/$name # time=${secs}s $(tail -n 1 $state/$name.log)" ;;
	4) echo "ok $n system/$name # SKIP $(tail -n 1 $state/$name.log)" ;;
	*)
		tail -n 25 $state/$name.log | sed 's/^/# /'
		echo "not ok $n system/$name # time=${secs}s exit $rc"
		;;
	esac
	return $rc
}

fail() { echo "FAIL: $*"; exit 1; }

# --- boot 1 ---------------------------------------------------------------

apt_install() {
	echo "deb [trusted=yes] file:$T/repo ./" > /etc/apt/sources.list.d/kvm-memext.list
	apt-get update -q || return 1
	apt-get install -y -q kvm-memext-dkms kvm-memext-dev kvm-memext-tools || return 1
	dpkg-query -W kvm-memext-dkms kvm-memext-dev kvm-memext-tools
}

dkms_status() {
	local s
	s=$(dkms status kvm_memext)
	echo "$s"
	grep -q "^kvm_memext/$ver, $kver, x86_64: installed" <<< "$s" ||
		fail "dkms status does not say installed for $kver"
	[ "$(modinfo -F version kvm_memext)" = "$ver" ] ||
		fail "modinfo's version is not $ver"
	modinfo -n kvm_memext
}

# Debian's dkms signs with /var/lib/dkms/mok.key, made at the first build:
# the module must carry that key's signature.
signature() {
	local signer key serial
	signer=$(modinfo -F signer kvm_memext)
	key=$(modinfo -F sig_key kvm_memext | tr -d ':' | tr 'a-f' 'A-F')
	[ -f /var/lib/dkms/mok.pub ] || fail "no /var/lib/dkms/mok.pub"
	serial=$(openssl x509 -inform DER -in /var/lib/dkms/mok.pub -noout -serial |
		 cut -d= -f2)
	echo "signer '$signer', key $key, mok.pub serial $serial"
	[ "$signer" = "DKMS module signing key" ] || fail "signer is '$signer'"
	[ -n "$key" ] && [ "$key" = "$serial" ] ||
		fail "signed with $key, not with mok.pub ($serial)"
}

# What Documentation/operations.rst tells an operator to do.
operator_setup() {
	systemctl enable run-kvm_memext.mount || return 1
	cp /usr/share/doc/kvm-memext-dkms/examples/kvm_memext.conf /etc/modules-load.d/ ||
		return 1
	echo 'memory_backing_dir = "/run/kvm_memext"' >> /etc/libvirt/qemu.conf
	mkdir -p /etc/systemd/system/libvirtd.service.d
	printf '[Service]\nLimitMEMLOCK=1G\n' > /etc/systemd/system/libvirtd.service.d/memlock.conf
	useradd -m -G kvm vmm || return 1
	echo "units enabled, qemu.conf and LimitMEMLOCK= set, user vmm in group kvm"
}

# --- boot 2 ---------------------------------------------------------------

# udev loads the vendor module when it has processed the CPU's device,
# which may be after this unit starts: wait for it as boot scripts do.
units() {
	local st t0
	t0=$(now)
	udevadm settle --timeout=180
	echo "udev settled after $(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }') s"
	lsmod | grep -q '^kvm_memext ' || fail "kvm_memext not loaded at boot"
	lsmod | grep -qE '^kvm_(amd|intel) ' || fail "no vendor module"
	st=$(stat -c '%U:%G %a' /dev/kvm_memext) || return 1
	[ "$st" = "root:kvm 660" ] || fail "/dev/kvm_memext is $st"
	systemctl is-active run-kvm_memext.mount || fail "mount unit not active"
	findmnt -n -o FSTYPE,OPTIONS $mount_dir |
		grep -q '^kvm_memext .*gid=[0-9]*,.*mode=770' || fail "$mount_dir not mounted as the unit says"
	echo "kvm_memext and $(lsmod | grep -oE '^kvm_(amd|intel)') loaded, /dev/kvm_memext $st, $mount_dir mounted"
}

# Wait until file $1 has a line matching $2, at most $3 seconds.
wait_for() {
	local i=0
	while [ $i -lt "$3" ]; do
		grep -aq "$2" "$1" 2>/dev/null && return 0
		sleep 1
		i=$((i + 1))
	done
	return 1
}

domain_xml() {
	cat <<-EOF
	<domain type='kvm'>
	  <name>l2</name>
	  <memory unit='MiB'>$inner_mb</memory>
	  <vcpu>1</vcpu>
	  <memoryBacking>
	    <source type='file'/>
	    <access mode='shared'/>
	  </memoryBacking>
	  <os>
	    <type arch='x86_64' machine='pc'>hvm</type>
	    <kernel>/var/lib/libvirt/boot/vmlinuz</kernel>
	    <initrd>/var/lib/libvirt/boot/inner.gz</initrd>
	    <cmdline>console=ttyS0 quiet mitigations=off nokaslr inner_nowait inner_hold</cmdline>
	  </os>
	  <features><acpi/><apic eoi='off'/></features>
	  <cpu mode='host-passthrough'/>
	  <on_reboot>destroy</on_reboot>
	  <devices>
	    <emulator>/usr/bin/qemu-system-x86_64</emulator>
	    <serial type='file'><source path='/var/log/libvirt/qemu/l2-serial.log'/></serial>
	    <controller type='usb' model='none'/>
	    <memballoon model='none'/>
	  </devices>
	</domain>
	EOF
}

# libvirt's QEMU (user libvirt-qemu) with its RAM on the mount; the inner
# guest writes and checks a pattern over it.  QEMU 7.2's TCG, which runs
# this system, can stall the inner guest (Documentation/testing.rst):
# start it up to three times.
libvirt_guest() {
	local log=/var/log/libvirt/qemu/l2-serial.log try file pages user
	mkdir -p /var/lib/libvirt/boot
	cp /boot/vmlinuz-$kver /var/lib/libvirt/boot/vmlinuz
	cp $T/inner.gz /var/lib/libvirt/boot/inner.gz
	domain_xml > $state/l2.xml
	virsh define $state/l2.xml || return 1
	for try in 1 2 3; do
		rm -f $log
		virsh start l2 || return 1
		user=$(ps -o uid= -C qemu-system-x86_64 | head -n 1 | xargs id -nu)
		if ! wait_for $log 'KVM_MEMEXT_INNER ready' 240; then
			echo "try $try: inner guest not ready in 240 s: $(tail -c 300 $log)"
			virsh destroy l2
			continue
		fi
		file=$(find $mount_dir -type f | head -n 1)
		pages=$(($(stat -c %b "$file") / 8))
		echo "QEMU as $user, RAM file $file: $pages pages; module: $(stat_of pages) pages"
		[ "$user" = libvirt-qemu ] || fail "QEMU runs as $user"
		[ "$pages" -ge $((inner_mb * 256 / 2)) ] || fail "RAM file holds $pages pages"
		# The TCG stall can also come after "ready": start it again.
		if ! wait_for $log 'KVM_MEMEXT_INNER verified' 60; then
			echo "try $try: no second check in 60 s: $(tail -c 300 $log)"
			virsh destroy l2
			continue
		fi
		grep -a KVM_MEMEXT_INNER $log
		grep -aq 'KVM_MEMEXT_INNER verified.* bad=0$' $log || fail "pattern changed"
		virsh destroy l2 || return 1
		sleep 1
		[ "$(stat_of pages)" = 0 ] && [ "$(stat_of files)" = 0 ] ||
			fail "after virsh destroy: $(stat_of files) files, $(stat_of pages) pages"
		[ -z "$(find $mount_dir -type f)" ] || fail "files left: $(find $mount_dir)"
		virsh undefine l2
		echo "libvirt's QEMU ran the guest from $file (try $try); every page back"
		return 0
	done
	virsh undefine l2
	return 1
}

# README's command line, by hand, as user vmm (group kvm) with memlock $1.
user_qemu() {
	prlimit --memlock="$1" setpriv --reuid=vmm --regid=vmm --init-groups -- \
		timeout "$2" qemu-system-x86_64 -accel kvm -cpu host,kvm-pv-eoi=off \
		-m ${inner_mb}M -smp 1 -nodefaults -display none -no-reboot \
		-object memory-backend-file,id=ram,size=${inner_mb}M,mem-path=$mount_dir,share=on,align=2M \
		-machine q35,memory-backend=ram \
		-kernel /boot/vmlinuz-$kver -initrd $T/inner.gz \
		-append "console=ttyS0 quiet mitigations=off nokaslr inner_nowait" \
		-serial "file:$3"
}

user_qemu_ok() {
	local try log=/tmp/vmm-serial.log
	for try in 1 2 3; do
		rm -f $log
		user_qemu $((inner_mb * 2 << 20)) 240 $log
		echo "try $try: QEMU exit $?"
		if grep -aq 'KVM_MEMEXT_INNER verified.* bad=0$' $log; then
			grep -a KVM_MEMEXT_INNER $log
			[ "$(stat_of pages)" = 0 ] || fail "$(stat_of pages) pages left"
			echo "user vmm ran QEMU on $mount_dir with RLIMIT_MEMLOCK $((inner_mb * 2)) MiB (try $try)"
			return 0
		fi
		tail -c 300 $log
	done
	return 1
}

# Over its RLIMIT_MEMLOCK (Debian's default, 8 MiB): QEMU fails, and the
# kernel log says which process, which limit, and what to do.  QEMU dies
# of SIGBUS where it touches the memory itself (loading the kernel), and
# stops the VM with "kvm run failed Bad address" where KVM does; a stopped
# VM is killed once it says so.  Under TCG the inner QEMU may take a
# minute to touch its memory when the machine is busy, so it gets 300 s.
user_memlock() {
	local rc lines pid t try out=/tmp/vmm-memlock.out
	for try in 1 2; do
		dmesg -C
		user_qemu $((8 << 20)) 300 /tmp/vmm-memlock.log > $out 2>&1 &
		pid=$!
		for ((t = 0; t < 300; t++)); do
			kill -0 $pid 2> /dev/null || break
			if grep -q 'kvm run failed' $out; then
				kill $pid
				break
			fi
			sleep 1
		done
		wait $pid
		rc=$?
		echo "try $try: QEMU exit $rc after about $t s: $(head -c 300 $out)"
		dmesg | grep kvm_memext
		# Stalled before it touched its memory (seen once under TCG,
		# with no limit line in the log): start it again, once.
		[ $rc = 124 ] && ! grep -q 'kvm run failed' $out &&
			! dmesg | grep -q 'beyond the process.s memlock limit' || break
	done
	[ $rc != 0 ] || fail "QEMU did not fail"
	[ $rc != 124 ] || grep -q 'kvm run failed' $out ||
		fail "QEMU neither failed nor stopped the VM in 300 s"
	lines=$(dmesg | grep -c 'kvm_memext: qemu-system-x86\[[0-9]*\]: private memory beyond the process.s memlock limit (RLIMIT_MEMLOCK KiB: 8192); raise it')
	[ "$lines" = 1 ] || fail "$lines log lines name the limit, want 1"
	echo "QEMU failed (exit $rc), one log line names it, the limit and the fix"
}

# What a VMM author copies from: kvm-memext-dev's examples, built against
# the installed <linux/kvm_memext.h>, run as user vmm.
samples() {
	local ex=/usr/share/doc/kvm-memext-dev/examples s
	mkdir -p /tmp/samples
	cp $ex/* /tmp/samples/
	for s in privmem_vmm batch_vmm runstate_vmm; do
		[ -f /tmp/samples/$s.c ] || fail "no $ex/$s.c"
		cc -O2 -Wall -Werror -o /tmp/samples/$s /tmp/samples/$s.c || return 1
		prlimit --memlock=$((16 << 20)) setpriv --reuid=vmm --regid=vmm \
			--init-groups -- /tmp/samples/$s || fail "$s failed"
	done
	echo "the three samples built against the installed header and ran as vmm"
}

# The kselftest collection as a CI system runs it (make kselftest-install):
# the quick tests, through the installed run_kselftest.sh; its KTAP must
# report every one passed.  stats_test runs kvm-memext-tools' kvm_memext_stat
# against its VM; trace_test uses the tracefs systemd mounted.
ksft_tests="api_test bind_test failnth_test guest_test memslot_batch_api_test
	privmem_fs_test runstate_api_test runstate_mm_test runstate_test stats_test
	trace_test"
kselftests() {
	local out=/tmp/kselftest.ktap args='' t want passed
	[ -x $T/kselftest/run_kselftest.sh ] || { echo "no kselftest collection"; return 4; }
	cp -r $T/kselftest /tmp/kselftest
	for t in $ksft_tests; do
		args="$args -t kvm_memext:$t"
	done
	# shellcheck disable=SC2086
	/tmp/kselftest/run_kselftest.sh $args > $out 2>&1
	cat $out
	grep '^\(not \)\?ok ' $out | sed 's/^/# /' >&2
	want=$(echo $ksft_tests | wc -w)
	passed=$(grep -c '^ok [0-9]* selftests: kvm_memext: ' $out)
	if grep -q '^not ok' $out; then
		grep -aE 'not ok|Assertion|FAIL|SKIP' $out | head -n 20 >&2
		fail "a test failed"
	fi
	[ "$passed" = "$want" ] || fail "$passed of $want tests passed"
	# kvm-memext-tools' kvm_memext_stat ran against a live VM, not skipped.
	grep -q 'ok [0-9]* test_stat_tool$' $out || fail "stats_test did not run kvm_memext_stat"
	echo "run_kselftest.sh: $passed of $want kvm_memext tests passed"
}

unload() {
	systemctl stop run-kvm_memext.mount || return 1
	modprobe -r kvm_memext || return 1
	! lsmod | grep -q '^kvm_memext ' || fail "still loaded"
	echo "unmounted and unloaded"
}

purge() {
	local left
	apt-get purge -y -q kvm-memext-dkms kvm-memext-dev kvm-memext-tools || return 1
	left=$(ls -d /var/lib/dkms/kvm_memext /usr/src/kvm_memext-* \
		/lib/modules/*/updates/dkms/kvm_memext.ko* \
		/lib/systemd/system/run-kvm_memext.mount \
		/etc/systemd/system/*/run-kvm_memext.mount \
		/lib/udev/rules.d/60-kvm_memext.rules \
		/usr/include/linux/kvm_memext.h /usr/bin/kvm_memext_stat 2>/dev/null)
	[ -z "$left" ] || fail "left behind: $left"
	dpkg -l | grep -q kvm-memext && fail "still in dpkg -l"
	echo "purged: no module, DKMS tree, unit, rule, header or tool left"
}

phase=$(cat $state/phase 2>/dev/null || echo 1)
case $phase in
1)
	echo "TAP version 13"
	echo "# system stage: Debian 12, kernel $kver, kvm_memext $ver"
	if step apt_install apt_install && step dkms_status dkms_status; then
		step signature signature
		if step operator_setup operator_setup; then
			echo 2 > $state/phase
			echo "# rebooting"
			systemctl reboot
			exit 0
		fi
	fi
	;;
2)
	echo "# booted again: $(uptime)"
	echo 3 > $state/phase
	step units units
	step libvirt libvirt_guest
	step qemu_user user_qemu_ok
	step memlock user_memlock
	step samples samples
	step kselftest kselftests
	step unload unload
	step purge purge
	;;
*)
	echo "# booted a third time: the reboot above did not finish the stage"
	;;
esac
echo "# KVM_MEMEXT_RUNNER_DONE"
systemctl poweroff

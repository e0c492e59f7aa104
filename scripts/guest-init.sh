#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=dash
#
# /init of the test guest.  Loads KVM and kvm_memext, runs /tests/plan and
# reports KTAP on a second serial port ($ktap_tty from the kernel command
# line: ttyS1 on x86, ttyS0 on PCI on arm64); kernel messages go to the
# console, which the host scans for splats.
#
# Plan lines: <stage> <name> <timeout seconds> <command...>
# Each line is one KTAP result, except in stage "kunit", whose command
# prints KUnit KTAP: there every test case becomes one result.

/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug
mount -t tmpfs tmp /tmp
mkdir -p /dev/hugepages
mount -t hugetlbfs none /dev/hugepages 2>/dev/null
echo 0 2>/dev/null > /proc/sys/kernel/printk_ratelimit

exec 3>"/dev/${ktap_tty:-ttyS1}"
out() { echo "$*" >&3; }
kmsg() { echo "kvm_memext-runner: $*" > /dev/kmsg; }
now() { cut -d' ' -f1 /proc/uptime; }

out "KTAP version 1"
out "# kernel $(uname -r) ($(cat /tests/kernel)), $(nproc) cpus"

# KVM first (its dependencies are listed before it), then our module.
vendor=
while read -r m; do
	if insmod "/modules/$m.ko" 2>/tmp/insmod.err; then
		case $m in kvm-amd|kvm-intel) vendor=$m ;; esac
	else
		# kvm-intel refuses without VMX (TCG), kvm-amd without SVM.
		case $m in kvm-amd|kvm-intel) ;; *) out "# insmod $m: $(cat /tmp/insmod.err)" ;; esac
	fi
done < /modules/order
out "# KVM vendor module: ${vendor:-none}"
# Swap on a RAM disk, for the tests that swap guest memory out.
if [ -b /dev/ram0 ] && mkswap /dev/ram0 > /dev/null 2>&1 && swapon /dev/ram0; then
	out "# swap: /dev/ram0, $(awk '/SwapTotal/ { print $2 }' /proc/meminfo) kB"
fi
out "# NUMA nodes: $(ls -d /sys/devices/system/node/node* 2>/dev/null | wc -l)"
# Kernels that enable virtualization per VM (no kvm.enable_virt_at_load,
# i.e. 6.1) get one VM held open for the whole run (guest-vm-keeper.c).
# Wait until it exists: its first-VM static-key flips must not overlap
# the text patching of the next insmod (multi-threaded TCG has crashed
# on that overlap with an int3 Oops).
if [ -n "$vendor" ] && [ ! -e /sys/module/kvm/parameters/enable_virt_at_load ]; then
	/tests/vm-keeper < /dev/null > /dev/null 2>&1 &
	i=0
	while [ ! -e /tmp/vm-keeper.ready ] && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	out "# vm-keeper holds a VM: $([ -e /tmp/vm-keeper.ready ] && echo yes || echo no)"
fi
# kmemleak judges kvm_memext only: what boot and KVM's modules left so far
# is never reported (WireGuard's harness does the same).  A leak's age then
# tells which test ran when it was allocated (the timeline below).
if [ -f /sys/kernel/debug/kmemleak ]; then
	echo clear > /sys/kernel/debug/kmemleak
fi
if insmod /modules/kvm_memext.ko; then
	out "# kvm_memext loaded: $(dmesg | grep 'kvm_memext: version' | tail -n 1)"
else
	out "# kvm_memext failed to load"
fi

# Watchdog: a test still running 10 s after its own timeout is stuck where
# SIGKILL cannot reach; dump blocked tasks and every CPU's backtrace to the
# console for the host's report, and once more a minute later.
echo 1 2>/dev/null > /proc/sys/kernel/sysrq
watchdog() {
	sleep "$(($1 + 10))"
	kmsg "watchdog: $2 still running after ${1}s, dumping state"
	for c in w l t; do
		echo $c > /proc/sysrq-trigger
	done 2>/dev/null
	sleep 60
	echo w 2>/dev/null > /proc/sysrq-trigger
}

n=0
while read -r stage name tmo cmd; do
	case $stage in ''|'#'*) continue ;; esac
	n=$((n + 1))
	kmsg "begin $stage/$name"
	t0=$(now)
	echo "$t0 $stage/$name" >> /tmp/timeline
	watchdog "$tmo" "$stage/$name" &
	wd=$!
	(cd /tests && exec timeout -s KILL "$tmo" sh -c "exec $cmd") < /dev/null > /tmp/out 2>&1
	rc=$?
	kill $wd 2>/dev/null
	t1=$(now)
	kmsg "end $stage/$name rc=$rc"
	sed 's/^/    /' /tmp/out >&3
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
	if [ "$stage" = kunit ] && [ $rc = 0 ]; then
		# Case lines sit one level below their suite's line.
		n=$((n - 1))
		grep -E '^    (not )?ok [0-9]+ ' /tmp/out |
			sed -E 's/^    (not )?ok [0-9]+ /\1ok N /' > /tmp/cases
		[ -s /tmp/cases ] || echo "not ok N no KUnit results" > /tmp/cases
		while read -r line; do
			n=$((n + 1))
			out "$(echo "$line" | sed "s| N | $n $stage/$name.|")"
		done < /tmp/cases
		continue
	fi
	case $rc in
	0) out "ok $n $stage/$name # time=${secs}s" ;;
	4) out "ok $n $stage/$name # SKIP time=${secs}s" ;;
	137) out "not ok $n $stage/$name # TIMEOUT after ${tmo}s" ;;
	*) out "not ok $n $stage/$name # exit=$rc time=${secs}s" ;;
	esac
done < /tests/plan

if [ -f /sys/kernel/debug/kmemleak ]; then
	# Two scans: kmemleak reports an object only once it stayed
	# unreferenced across a scan.
	echo scan > /sys/kernel/debug/kmemleak
	sleep 5
	echo scan > /sys/kernel/debug/kmemleak
	cat /sys/kernel/debug/kmemleak > /tmp/leaks
	if [ -s /tmp/leaks ]; then
		cat /tmp/leaks > /dev/console
		# The oldest leak was allocated "age" seconds ago: name the
		# last test that had begun by then.
		first=$(awk -v now="$(now)" '/\(age [0-9.]+s\)/ {
				sub(/.*\(age /, ""); sub(/s\).*/, "")
				if (now - $0 < min || min == "") min = now - $0
			} END { print min }' /tmp/leaks)
		during=$(awk -v t="$first" '$1 <= t { name = $2 } END { print name }' \
			 /tmp/timeline 2>/dev/null)
		out "# kmemleak: $(grep -c unreferenced /tmp/leaks) leaks, the first" \
		    "allocated at ${first}s, during ${during:-module load}"
	else
		out "# kmemleak: no leaks"
	fi
fi
out "1..$n"
out "# KVM_MEMEXT_RUNNER_DONE"
exec 3>&-
sync
sleep 1
poweroff -f

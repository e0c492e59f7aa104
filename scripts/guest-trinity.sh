#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Debian's trinity, a system-call fuzzer nobody here wrote, against
# kvm_memext for a bounded time: its victims are /dev/kvm_memext and the
# files of a kvm_memext mount, its calls those a VMM makes on them (ioctl,
# the memory calls, I/O, truncation and allocation, splicing), with
# trinity's other fd sources (sockets, pipes, perf, ...) off so that it
# stays on our files.  Trinity cannot build our ioctl structs (fuzz_test
# does that); it brings its own idea of bad arguments.
#
# Afterwards the module must be as before: its reference count, no private
# memory file or page left once the mount is gone, and the device still
# answering.  Splats are the harness's.
#
# Usage: trinity.sh <seconds> [seed]
secs=${1:-60}
seed=${2:-1}
t=/tmp/trinity
stats=/sys/kernel/debug/kvm_memext/privmem
calls="ioctl mmap munmap mremap madvise mprotect mlock munlock msync mincore
       read write pread64 pwrite64 readv writev lseek fallocate ftruncate
       newfstat fsync fdatasync fcntl dup close splice tee vmsplice sendfile
       copy_file_range remap_file_pages"

stat_of() { awk -v k="$1" '$1 == k { print $2 }' "$stats"; }
fail() { echo "# FAIL: $*"; exit 1; }

refs=$(cat /sys/module/kvm_memext/refcnt)
mkdir -p "$t/victims/fs" "$t/cwd"
IFS=: read -r major minor < /sys/class/misc/kvm_memext/dev
mknod "$t/victims/kvm_memext" c "$major" "$minor" || fail "mknod"
mount -t kvm_memext -o size=64M none "$t/victims/fs" || fail "mount"
mkdir "$t/victims/fs/dir"
for f in a b dir/c; do
	truncate -s 8M "$t/victims/fs/$f" || fail "truncate $f"
done
echo "# before: refcnt $refs, $(stat_of files) files, $(stat_of pages) pages"

args="--dangerous -q -l off -s $seed -C 2 -V $t/victims"
args="$args --disable-fds=sockets,pipes,perf,epoll,eventfd,pseudo,timerfd,testfile,memfd,drm"
for c in $calls; do
	args="$args -c $c"
done
cd "$t/cwd" || exit 1
# trinity and its libc, started through the loader they came with.
# shellcheck disable=SC2086 # $args is a word list
timeout -s INT "$secs" /tests/trinity/ld-linux-x86-64.so.2 \
	--library-path /tests/trinity /tests/trinity/trinity $args > "$t/log" 2>&1
rc=$?
sleep 2
# Started through the loader: match the command line, not the name.
pkill -KILL -f /tests/trinity/trinity 2>/dev/null
grep -E 'filenames|syscalls|Ran [0-9]|exit|kernel became tainted|taint' "$t/log" | tail -n 6 |
	sed 's/^/# trinity: /'
grep -q 'kernel became tainted' "$t/log" && fail "trinity saw the kernel tainted"
# 124: stopped at its time, as meant.
[ $rc = 0 ] || [ $rc = 124 ] || { tail -n 20 "$t/log"; fail "trinity exited $rc"; }
grep -q 'Marking syscall ioctl' "$t/log" || fail "trinity did not start"

cd /
i=0
until umount "$t/victims/fs" 2>/dev/null; do
	i=$((i + 1))
	[ $i -lt 30 ] || fail "the mount stayed busy"
	sleep 1
done
i=0
while [ "$(stat_of files)" != 0 ] || [ "$(stat_of pages)" != 0 ] ||
      [ "$(cat /sys/module/kvm_memext/refcnt)" != "$refs" ]; do
	i=$((i + 1))
	[ $i -lt 30 ] || break
	sleep 1
done
echo "# after: refcnt $(cat /sys/module/kvm_memext/refcnt)," \
     "$(stat_of files) files, $(stat_of pages) pages"
[ "$(stat_of files)" = 0 ] || fail "private-memory files left"
[ "$(stat_of pages)" = 0 ] || fail "private-memory pages left"
[ "$(cat /sys/module/kvm_memext/refcnt)" = "$refs" ] || fail "module references left"
[ -c /dev/kvm_memext ] || fail "/dev/kvm_memext gone"
rm -rf "$t"

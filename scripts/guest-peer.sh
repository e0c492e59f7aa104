#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Run one of KVM's own selftests in the test guest.  The peer binaries are
# linked with selftests/lib/bind_wrap.c, which binds every VM they create;
# a pass that bound no VM does not count.
./peer/"$@" > /tmp/peer.out 2>&1
rc=$?
cat /tmp/peer.out
if [ $rc = 0 ] && ! grep -q '^# kvm_memext: bound [1-9]' /tmp/peer.out; then
	echo "# no VM of this test was bound to kvm_memext"
	rc=1
fi
exit $rc

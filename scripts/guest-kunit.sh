#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Load a KUnit module in the test guest (its suites run at load), print
# the KTAP that debugfs keeps for each suite, and unload it.
set -e
insmod "/modules/$1.ko"
for r in /sys/kernel/debug/kunit/*/results; do
	cat "$r"
done
rmmod "$1"

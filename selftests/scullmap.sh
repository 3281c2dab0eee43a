#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Run the scullmap selftests: the load tests with the module unloaded (they
# load it themselves), then the device tests with it loaded.  Run as root,
# from the directory that holds the test programs:
#
#	sudo ./scullmap.sh [path/to/scullmap.ko]
#
# Each program prints TAP between "# selftest: NAME" and
# "# selftest: NAME exit=RC".  Exit status: 0 all passed, 1 a failure,
# 4 skipped (kselftest's KSFT_SKIP: not root, or no module).

dir=$(cd "$(dirname "$0")" && pwd)
ko=${1:-$dir/scullmap.ko}
rc=0

. "$dir/common.sh"
check_can_run "$ko" "the scullmap selftests"
export SCULLMAP_KO="$ko"

# On a kernel with kmemleak, forget what it knew before the tests.
kmemleak_clear

# run_test PROGRAM [LABEL [ARGUMENTS...]]: run a test program, framed for
# the rig.
run_test() {
	prog=$1
	label=${2:-$1}
	shift
	[ $# -gt 0 ] && shift
	echo "# selftest: $label"
	"$dir/$prog" "$@"
	status=$?
	echo "# selftest: $label exit=$status"
	[ $status -eq 0 ] || [ $status -eq $ksft_skip ] || rc=1
}

run_test load_test
run_test limits_test

if ! insmod "$ko"; then
	echo "not ok - insmod $ko"
	exit 1
fi
# The udev rule in udev/ makes this link on a real machine.
[ -e /dev/scullmap ] || ln -s scullmap0 /dev/scullmap

run_test rw_test
run_test mmap_test
# Again with one page per fault: the batched and the single-page paths
# must give the same answers.
window=/sys/module/scullmap/parameters/fault_window
default_window=$(cat $window)
echo 1 >$window
run_test mmap_test mmap_test@fault_window=1
echo "$default_window" >$window
run_test gup_test
# A short run of the random stress (make stress runs it longer, alone):
# four processes of two threads on a device of each kind at order 0 and one
# above (the program sets them), mixing every operation for 20 seconds.
run_test stress stress@20s --seconds=20 --procs=4 --threads=2 \
	/dev/scullmap2 /dev/scullmap3 /dev/scullmapv2 /dev/scullmapv3

# Fault injection needs a kernel built for it: the rig's debug kernel.
if [ -e /proc/self/fail-nth ] && [ -d /sys/kernel/debug/failslab ]; then
	run_test fault_test
else
	echo "# no fault injection in this kernel: fault_test runs on the debug kernel"
fi

if rmmod scullmap; then
	echo "ok - rmmod scullmap"
else
	echo "not ok - rmmod scullmap"
	rc=1
fi

kmemleak_check || rc=1
exit $rc

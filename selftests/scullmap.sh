#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Run the scullmap selftests: the load tests with the module unloaded (they
# load it themselves), then the device tests with it loaded.  Run as root,
# from the directory that holds the test programs:
#
#	sudo ./scullmap.sh [path/to/scullmap.ko]
#
# Without a path: scullmap.ko beside the script, else the module installed
# for the running kernel (the scullmap-dkms package's).
#
# Each program prints TAP between "# selftest: NAME" and
# "# selftest: NAME exit=RC".  Exit status: 0 all passed, 1 a failure,
# 4 skipped (kselftest's KSFT_SKIP: not root, or no module).

dir=$(cd "$(dirname "$0")" && pwd)
rc=0

. "$dir/common.sh"
ko=$(find_module "${1:-}")
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
# The same tests as a 32-bit program, through the compat syscalls and the
# driver's compat_ioctl (IA32 emulation: all of the rig's kernels have it).
run_test rw_test32
run_test mmap_test
# Again with one page per fault: the batched and the single-page paths
# must give the same answers.
window=/sys/module/scullmap/parameters/fault_window
default_window=$(cat $window)
if echo 1 >$window && [ "$(cat $window)" = 1 ]; then
	run_test mmap_test mmap_test@fault_window=1
else
	echo "not ok - setting fault_window=1 (it reads $(cat $window))"
	rc=1
fi
echo "$default_window" >$window
run_test gup_test
# PMD entries for quanta of the PMD size need 7.3 and THP; elsewhere
# huge_test says why it skips.
run_test huge_test
run_test trace_test
# Fault injection needs a kernel built for it (the rig's debug kernel);
# elsewhere fault_test says why it skips.
run_test fault_test

if rmmod scullmap; then
	echo "ok - rmmod scullmap"
else
	echo "not ok - rmmod scullmap"
	rc=1
fi

kmemleak_check || rc=1

# A short run of the random stress (make stress runs it longer) through
# stress.sh, so that its leak checks run on every kernel: four processes of
# two threads on a device of each kind at order 0 and one above (the
# program sets them), mixing every operation for 20 seconds; then nothing
# held, free memory back after rmmod, and kmemleak.
"$dir/stress.sh" "$ko" --seconds=20 --procs=4 --threads=2 || rc=1
exit $rc

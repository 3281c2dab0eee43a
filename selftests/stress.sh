#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The long stress run (`make stress`): load scullmap, run the stress program
# on two devices of each back end, unload it, and check that the memory the
# devices used came back.  Run as root, from the directory that holds the
# test programs:
#
#	sudo ./stress.sh [path/to/scullmap.ko] [stress options, e.g. --seconds=600]
#
# Options may also come as one word separated by commas, as they do from
# the kernel command line in the test VM.  Prints TAP; exits 0 when all
# passed, 1 on a failure, 4 (KSFT_SKIP) when not root or without a module.

dir=$(cd "$(dirname "$0")" && pwd)
rc=0

. "$dir/common.sh"
ko=$(find_module "${1:-}")
[ $# -gt 0 ] && shift
check_can_run "$ko" "the stress run"

# Free memory in KiB after dropping what caches the kernel can: MemFree plus
# the free pages waiting in per-CPU lists, which MemFree leaves out and
# which swing by tens of MiB (as load_test.c's no_pages_leaked counts it).
# Shrinking every slab cache frees its empty slabs and, on a KASAN kernel,
# empties its quarantine of freed objects, which otherwise holds up to
# 1/32 of memory (64 MiB here) after a run that made many tasks and VMAs.
mem_free_kib() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
	for shrink in /sys/kernel/slab/*/shrink; do
		[ -w "$shrink" ] && echo 1 >"$shrink"
	done
	page_kib=$(awk '/^KernelPageSize:/ { print $2; exit }' /proc/self/smaps)
	free=$(awk '/^MemFree:/ { print $2 }' /proc/meminfo)
	pcp=$(awk '$1 == "count:" { n += $2 } END { print n + 0 }' /proc/zoneinfo)
	echo $((free + pcp * ${page_kib:-4}))
}

kmemleak_clear
before=$(mem_free_kib)

# Two devices of each back end.  The load-time orders are the first shape
# each device has; the stress program then gives the first device of each
# back end order 0 and the second an order above 0, and its truncations
# re-shape them at random (orders 0..4, small quantum sets).
params="nr_devs=2 order=3 vorder=0 qset=16"
# shellcheck disable=SC2086 # the parameters are words on purpose
if insmod "$ko" $params; then
	echo "ok - insmod scullmap $params"
else
	echo "not ok - insmod scullmap $params"
	exit 1
fi

echo "# selftest: stress"
# shellcheck disable=SC2046 # split the commas on purpose
"$dir/stress" $(echo "$@" | tr , ' ') \
	/dev/scullmap0 /dev/scullmap1 /dev/scullmapv0 /dev/scullmapv1
status=$?
echo "# selftest: stress exit=$status"
[ $status -eq 0 ] || rc=1

# The stress program empties the devices when it ends: what the driver
# counts against its cap (see scullmap/usage.c) must be back to zero.
usage=/sys/kernel/debug/scullmap/usage
held=$(awk '$1 == "held_bytes" { print $2 }' $usage 2>/dev/null)
if [ "$held" = 0 ]; then
	echo "ok - the devices hold nothing after the stress"
else
	echo "not ok - the devices hold ${held:-?} bytes after the stress (see $usage)"
	sed 's/^/# /' $usage 2>/dev/null
	rc=1
fi

# Unloading frees the devices.
if rmmod scullmap; then
	echo "ok - rmmod scullmap"
else
	echo "not ok - rmmod scullmap"
	rc=1
fi

# The devices hold up to 13 MiB at once with the default 9 workers (36 MiB
# with 32), and hundreds of MiB go through them.  What may stay is memory
# the kernel keeps for reuse rather than frees (page-table pages, per-CPU
# caches, vmalloc's lazily purged areas): measured at 0.8 to 0.9 MiB after
# 20 s on 6.1 and after 600 s on the debug kernel.  A lost reference to
# one page per truncation, the kind of leak this looks for, costs 8 MiB
# in the 2000 truncations of a 600-second run.
bound=4096
after=$(mem_free_kib)
lost=$((before - after))
if [ $lost -lt $bound ]; then
	echo "ok - free memory back within $bound KiB of its start (lost $lost KiB)"
else
	echo "not ok - free memory back within $bound KiB of its start (lost $lost KiB)"
	rc=1
fi

kmemleak_check || rc=1
exit $rc

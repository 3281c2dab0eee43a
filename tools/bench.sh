#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Load scullmap, run the benchmark, unload it.  As root:
#
#	bench.sh [path/to/scullmap.ko] [bench arguments, e.g. --short]
#
# Arguments may also come as one word separated by commas (--short,--reps=3),
# as they do from the kernel command line in the test VM.

dir=$(cd "$(dirname "$0")" && pwd)
ko=${1:-$dir/scullmap.ko}
[ $# -gt 0 ] && shift

insmod "$ko" || exit 1
# shellcheck disable=SC2046 # split the commas on purpose
"$dir/bench" $(echo "$@" | tr , ' ')
rc=$?
rmmod scullmap || rc=1
exit $rc

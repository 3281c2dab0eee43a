#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The session of demo.sh with the driver's trace events: under each mapper
# call, the faults it caused (which page, how many pages each fault mapped,
# and the answer).  Then one file read through mmap at fault_window=1 and
# at the default, side by side: what batching saves.
#
#	trace.sh [path/to/scullmap.ko]	(as root; loads and unloads the module)

set -e
dir=$(cd "$(dirname "$0")" && pwd)
ko=${1:-$dir/scullmap.ko}
export PATH="$dir:$PATH"
tracing=/sys/kernel/tracing
window=/sys/module/scullmap/parameters/fault_window

[ -d $tracing/events ] || mount -t tracefs tracefs $tracing

# Print the driver's events recorded since the last call, one line each,
# without the trace's columns; then empty the buffer.
events() {
	awk -v nr="$(cat /sys/module/scullmap/parameters/nr_devs)" '
		function dev() {
			return f["backend"] == "pages" ? "scullmap" f["minor"] :
			       "scullmapv" f["minor"] - nr
		}
		/ scullmap_(fault|empty): / {
			split("", f)
			for (i = 1; i <= NF; i++)
				if (split($i, kv, "=") == 2)
					f[kv[1]] = kv[2]
		}
		/ scullmap_fault: / {
			printf "    fault: %s page %d (%s): mapped %d page%s, %s\n",
			       dev(), f["pgoff"], f["write"] ? "write" : "read",
			       f["mapped"], f["mapped"] == 1 ? "" : "s", f["result"]
			n++
		}
		/ scullmap_empty: / {
			printf "    empty: %s (%s): dropped %d bytes in %d pages\n",
			       dev(), f["reason"], f["bytes"], f["pages"]
			n++
		}
		END { if (!n) print "    (no events)" }' $tracing/trace
	echo >$tracing/trace
}

# "mapper DEV OFFSET LEN", its output, then the events it caused.
show() {
	echo
	echo "\$ mapper $1 $2 $3"
	mapper "$1" "$2" "$3" 2>&1 || true
	echo
	events
}

# Read all of $1 through mmap with mapper -v at fault_window=$2; print
# "FAULTS RESIDENT PAGES EVENTS MAPPED": mapper's counts, then the events'.
measure() {
	echo "$2" >$window
	echo >$tracing/trace
	mapper -v "$1" 0 "$(wc -c <"$1")" 2>&1 >/dev/null |
		sed -n 's/^mapper: minor faults: \([0-9]*\), resident pages: \([0-9]*\) of \([0-9]*\)$/\1 \2 \3/p' |
		tr '\n' ' '
	awk '/ scullmap_fault: / { n++; for (i = 1; i <= NF; i++)
			if (sub(/^mapped=/, "", $i)) pages += $i }
	     END { print n + 0, pages + 0 }' $tracing/trace
}

insmod "$ko"
[ -e /dev/scullmap ] || ln -s scullmap0 /dev/scullmap
trap 'echo 0 >$tracing/events/scullmap/enable; rmmod scullmap' EXIT
echo >$tracing/trace
echo 1 >$tracing/events/scullmap/enable
echo "[events on: $tracing/events/scullmap, fault_window=$(cat $window)]"

for dev in /dev/scullmap /dev/scullmapv0; do
	echo
	echo "\$ ls -l /dev > $dev"
	ls -l /dev >"$dev"
	size=$(wc -c <"$dev")
	echo "[$dev now holds $size bytes]"
	show "$dev" 0 140
	if [ "$size" -ge $((8192 + 200)) ]; then
		show "$dev" 8192 200
	else
		show "$dev" $((size - 200)) 200
	fi
done

sparse=/dev/scullmap1
echo
echo "\$ echo start > $sparse; echo end | dd of=$sparse bs=1 seek=1048576"
echo start >"$sparse"
echo end | dd of="$sparse" bs=1 seek=1048576 conv=notrunc 2>/dev/null
show "$sparse" 0 6
show "$sparse" 1048576 4
show "$sparse" 65536 16

echo
echo "\$ echo again > /dev/scullmap       (open with O_TRUNC empties it)"
echo again >/dev/scullmap
events

big=/dev/scullmap2
seq 1 20000 >$big
default=$(cat $window)
echo
echo "\$ seq 1 20000 > $big; mapper -v $big 0 $(wc -c <$big) >/dev/null"
echo "  at fault_window=1 and at the default, $default:"
echo
set -- $(measure $big 1) $(measure $big "$default")
echo "$default" >$window
printf '  %-28s %-18s %s\n' "" "fault_window=1" "fault_window=$default"
printf '  %-28s %-18s %s\n' "minor faults (mapper -v)" "$1" "$6" \
	"resident pages (mapper -v)" "$2 of $3" "$7 of $8" \
	"scullmap_fault events" "$4" "$9" \
	"pages those faults mapped" "$5" "${10}"

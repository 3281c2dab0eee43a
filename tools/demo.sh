#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The session of LDD3 chapter 15 on scullmap: store a listing of /dev in the
# device with write(), then show sections of it through mmap with mapper,
# each checked against the same bytes read back with read().
#
#	demo.sh [path/to/scullmap.ko]	(as root; loads and unloads the module)

set -e
dir=$(cd "$(dirname "$0")" && pwd)
ko=${1:-$dir/scullmap.ko}
export PATH="$dir:$PATH"

# Show "mapper DEV OFFSET LEN", then check it against read().
show() {
	echo
	echo "\$ mapper $1 $2 $3"
	mapper "$1" "$2" "$3" >/tmp/mapped
	cat /tmp/mapped
	echo
	tail -c +$(($2 + 1)) "$1" | head -c "$3" >/tmp/read
	if cmp -s /tmp/mapped /tmp/read; then
		echo "[ok: these $(wc -c </tmp/mapped) bytes match what read() returns]"
	else
		echo "[MISMATCH: mmap and read() disagree]"
		exit 1
	fi
}

insmod "$ko"
[ -e /dev/scullmap ] || ln -s scullmap0 /dev/scullmap
trap 'rmmod scullmap' EXIT

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

	echo
	echo "\$ mapper $dev $((size + 4096)) 16"
	if mapper "$dev" $((size + 4096)) 16; then
		echo "[FAILED: mapper read past the end]"
		exit 1
	fi
done

# A sparse device: data at 0 and at 1 MiB, a hole between that holds no
# memory.  read() returns zeros for the hole; mmap raises SIGBUS there,
# which mapper reports.
sparse=/dev/scullmap1
echo
echo "\$ echo start > $sparse; echo end | dd of=$sparse bs=1 seek=1048576"
echo start >"$sparse"
echo end | dd of="$sparse" bs=1 seek=1048576 conv=notrunc 2>/dev/null
echo "\$ mapper $sparse 0 6"
mapper "$sparse" 0 6
echo "\$ mapper $sparse 1048576 4"
mapper "$sparse" 1048576 4
echo "\$ mapper $sparse 65536 16"
if mapper "$sparse" 65536 16; then
	echo "[FAILED: mapper read a hole]"
	exit 1
fi

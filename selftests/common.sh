# SPDX-License-Identifier: GPL-2.0
#
# kmemleak for the selftest scripts, which source this file (scullmap.sh,
# stress.sh).  On a kernel without kmemleak both functions do nothing.

kmemleak=/sys/kernel/debug/kmemleak

# Forget what kmemleak knew before the tests.
kmemleak_clear() {
	if [ -w $kmemleak ]; then
		echo clear >$kmemleak
	fi
}

# Print a TAP line: does kmemleak find unreferenced objects now?  It
# reports an object only once it is older than 5 s and two scans found no
# reference to it.  Returns 1 if it does.
kmemleak_check() {
	[ -w $kmemleak ] || return 0
	sleep 6
	echo scan >$kmemleak
	echo scan >$kmemleak
	if [ -s $kmemleak ]; then
		echo "not ok - kmemleak: unreferenced objects after rmmod"
		sed 's/^/# /' $kmemleak
		return 1
	fi
	echo "ok - kmemleak: no leak"
}

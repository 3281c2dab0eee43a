# SPDX-License-Identifier: GPL-2.0
#
# What the selftest scripts share (scullmap.sh and stress.sh source this
# file): the checks before a run, and kmemleak.

ksft_skip=4	# kselftest's "skipped"
kmemleak=/sys/kernel/debug/kmemleak

# find_module [KO]: print the module file to test: KO if given, else
# scullmap.ko beside the scripts ($dir), else the one installed for the
# running kernel (by the scullmap-dkms package: what `modprobe scullmap`
# loads).  A compressed one is uncompressed into a temporary directory:
# load_test hands the file to finit_module.
find_module() {
	if [ -n "$1" ] || [ -f "$dir/scullmap.ko" ]; then
		echo "${1:-$dir/scullmap.ko}"
		return
	fi
	m=$(modinfo -F filename scullmap 2>/dev/null)
	[ -f "$m" ] ||
		m=$(find "/lib/modules/$(uname -r)" -name 'scullmap.ko*' 2>/dev/null | head -n 1)
	case "$m" in
	*.ko.xz|*.ko.gz|*.ko.zst)
		t=$(mktemp -d)
		case "$m" in
		*.xz)	xz -dc "$m" ;;
		*.gz)	gzip -dc "$m" ;;
		*)	zstd -dcq "$m" ;;
		esac >"$t/scullmap.ko" && m=$t/scullmap.ko ;;
	esac
	echo "${m:-$dir/scullmap.ko}"
}

# check_can_run KO WHAT: exit unless WHAT ("the selftests") can run: as
# root and with the module file KO (else skip), the module not loaded yet
# (else fail).
check_can_run() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "# SKIP: $2 must run as root"
		exit $ksft_skip
	fi
	if [ ! -f "$1" ]; then
		echo "# SKIP: no module at $1"
		exit $ksft_skip
	fi
	if [ -d /sys/module/scullmap ]; then
		echo "# scullmap is loaded already: rmmod it first"
		exit 1
	fi
}

# On a kernel without kmemleak, the next two do nothing.

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

# SPDX-License-Identifier: GPL-2.0
#
# Packaging for real machines, sourced by tools/rig/run: the Debian packages
# (`make deb`), the kselftest install tree (`make selftests-install`,
# `make selftests-tar`) and the CI check that proves both in the VM
# (`make check-dkms`).

# The Debian packages, built with Debian's own tooling in a staging copy of
# the tree: build/deb/scullmap-dkms_VERSION_all.deb (the module's source for
# DKMS and the udev rule) and scullmap-tools_VERSION_ARCH.deb
# (scullmap-mapper).  The version is the file VERSION's.
make_deb() {
	local ver out=$BUILD/deb stage

	need_packages dpkg-dev debhelper dh-dkms gcc libc6-dev make
	ver=$(cat "$TOP/VERSION")
	stage=$out/scullmap-$ver
	rm -rf "$out" && mkdir -p "$stage/tools"
	cp -r "$TOP/Kbuild" "$TOP/VERSION" "$TOP/dkms.conf" "$TOP/include" \
		"$TOP/scullmap" "$TOP/udev" "$stage/"
	cp "$TOP/tools/Makefile" "$TOP/tools/mapper.c" "$stage/tools/"
	cp -r "$TOP/packaging/debian" "$stage/debian"
	cat >"$stage/debian/changelog" <<-END
	scullmap ($ver) unstable; urgency=medium

	  * Built by \`make deb\` from $(git -C "$TOP" describe --always --dirty 2>/dev/null || echo "a source tree").

	 -- $(sed -n 's/^Maintainer: //p' "$stage/debian/control")  $(date -R)
	END
	say "building the Debian packages of scullmap $ver"
	(cd "$stage" && dpkg-buildpackage -b -us -uc) >"$out/build.log" 2>&1 ||
		{ tail -n 30 "$out/build.log" >&2; die "dpkg-buildpackage failed: see $out/build.log"; }
	rm -rf "$stage"
	ls "$out"/*.deb >&2
	say "install with: sudo dpkg -i $out/scullmap-dkms_${ver}_all.deb"
}

# run_kselftest.sh from kernel source directory $1 (from kernel_source),
# unpacked on first use beside the kselftest files kernel_source takes;
# a marker of its own leaves older caches valid.
kselftest_runner() {
	local dir=$1

	if [ ! -e "$dir/.runner-complete" ]; then
		say "unpacking run_kselftest.sh from $(basename "$dir") (once)"
		tar -xJf "$dir"/linux-source-*.tar.xz -C "$dir" --strip-components=1 \
			--wildcards '*/tools/testing/selftests/run_kselftest.sh'
		touch "$dir/.runner-complete"
	fi
	echo "$dir/tools/testing/selftests"
}

# A kselftest install tree in $INSTALL_PATH (default build/kselftest),
# laid out as the kernel's `make -C tools/testing/selftests install`
# writes one: run_kselftest.sh and kselftest/ from kernel source directory
# $1, kselftest-list.txt, and the collection scullmap/ with the test
# programs built into build/tests, the scripts and a settings file.  As
# root, `run_kselftest.sh` runs scullmap.sh against the installed module.
selftests_install() {
	local ksft dest=${INSTALL_PATH:-$BUILD/kselftest} f files

	ksft=$(kselftest_runner "$1")
	mkdir -p "$dest/kselftest" "$dest/scullmap"
	dest=$(cd "$dest" && pwd)
	install -m 744 "$ksft/run_kselftest.sh" "$dest/"
	for f in runner.sh ktap_helpers.sh prefix.pl module.sh; do
		install -m 744 "$ksft/kselftest/$f" "$dest/kselftest/"
	done
	# What selftests/Makefile builds: its programs and scripts.
	files=$(make -s --no-print-directory -C "$TOP/selftests" \
		--eval 'print-files: ; @echo $(TEST_GEN_PROGS) $(TEST_GEN_PROGS_32) $(TEST_PROGS)' print-files)
	# trace_test runs mapper from beside itself.
	for f in $files mapper; do
		install -m 755 "$BUILD/tests/$f" "$dest/scullmap/"
	done
	# scullmap.sh runs every program in turn, about two minutes under
	# QEMU's emulation, much less on hardware; each test has the
	# harness's own time limit besides.
	echo "timeout=900" >"$dest/scullmap/settings"
	echo "scullmap:scullmap.sh" >"$dest/kselftest-list.txt"
	echo "scullmap $(cat "$TOP/VERSION") $(git -C "$TOP" describe --always --dirty 2>/dev/null || true)" \
		>"$dest/VERSION"
	say "kselftest tree in $dest: run it as root with $dest/run_kselftest.sh"
	SELFTESTS_DIR=$dest
}

# The tree of selftests_install packed as the kernel's gen_tar packs its:
# $INSTALL_PATH/kselftest-packages/kselftest.tar.gz.
selftests_tar() {
	local tarball

	selftests_install "$1"
	tarball=$SELFTESTS_DIR/kselftest-packages/kselftest.tar.gz
	mkdir -p "${tarball%/*}"
	tar -czf "$tarball" --exclude=kselftest-packages -C "$SELFTESTS_DIR" .
	say "created $tarball"
}

# The initramfs of check-dkms: busybox, /init, the module where DKMS
# installs it for kernel $2 (/lib/modules/$2/updates/dkms) and the kselftest
# tree $3 in /opt/kselftest, packed into $4.  Module file $1.
build_initramfs_kselftest() {
	local ko=$1 kver=$2 tree=$3 out=$4 root=$BUILD/initramfs-kselftest

	rm -rf "$root"
	mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,opt} \
		"$root/lib/modules/$kver/updates/dkms"
	cp /bin/busybox "$root/bin/busybox"
	cp "$TOP/tools/rig/init" "$root/init"
	cp "$ko" "$root/lib/modules/$kver/updates/dkms/"
	cp -r "$tree" "$root/opt/kselftest"
	# kselftest's runner calls "timeout --foreground", which busybox's
	# timeout does not take; busybox --install leaves this file alone.
	cat >"$root/usr/bin/timeout" <<-'END'
	#!/bin/sh
	[ "$1" = --foreground ] && shift
	exec /bin/busybox timeout "$@"
	END
	chmod 755 "$root/usr/bin/timeout"
	(cd "$root" && find . | cpio -o -H newc -R 0:0 --quiet) | gzip -1 >"$out"
}

# Console log $1 of a run_kselftest.sh job, rewritten into $2 for judge():
# the job's output one "# " level up, so that the results of the programs
# scullmap.sh runs count as in `make check`, and so does run_kselftest.sh's
# own line for scullmap.sh ("ok 1 selftests: scullmap: scullmap.sh").  That
# line must be there, and not a skip (the module must have been found), and
# the programs' output must have come through.
kselftest_log() {
	local log=$1 out=$2 line

	line=$(log_section "$log" RESULTS | grep -E '^(not )?ok [0-9]+ selftests: scullmap: scullmap\.sh' || true)
	sed '/^@@RIG-RESULTS-BEGIN/,/^@@RIG-RESULTS-END/ s/^# //' "$log" >"$out"
	case $line in
	'')	line="not ok - run_kselftest.sh gave no result for scullmap:scullmap.sh" ;;
	*"# SKIP"*)
		line="not ok - run_kselftest.sh skipped scullmap.sh: no module found" ;;
	*)	[ "$(log_section "$log" RESULTS | grep -c '^# # selftest: ')" -gt 0 ] && return 0
		line="not ok - run_kselftest.sh showed no output of scullmap.sh" ;;
	esac
	sed -i "/^@@RIG-RESULTS-END/i $line" "$out"
}

# make check-dkms: the Debian package and the kselftest tree, proved in the
# VM.  Builds the .deb, installs it with dpkg -i, has DKMS build the module
# for Debian 12's 6.1 against the headers in the cache, boots that kernel
# with the DKMS-built module where DKMS installs it and the installed
# selftest tree, runs run_kselftest.sh there and judges its output; then
# removes the package and checks that the source and DKMS's tree went with
# it.  Kernel source directory $1.
check_dkms() {
	local src=$1 ver kver vmlinuz kdir ko log initrd rc=0 line p f gone=1

	make_deb
	need_packages dkms
	ver=$(cat "$TOP/VERSION")
	say "installing scullmap-dkms $ver with dpkg -i"
	as_root dpkg -i "$BUILD/deb/scullmap-dkms_${ver}_all.deb" >&2
	read -r kver vmlinuz kdir < <(debian_kernel)
	[ -n "$kver" ] || die "Debian 12's kernel is not available"
	# Where this host has that kernel's headers installed, the package's
	# own install built it already: build it again against the headers
	# in the cache, as on a machine without them.
	if [ -n "$(as_root dkms status -m scullmap -v "$ver" -k "$kver")" ]; then
		as_root dkms unbuild -m scullmap -v "$ver" -k "$kver" >&2
	fi
	say "DKMS: building scullmap $ver for $kver against $kdir"
	as_root dkms build -m scullmap -v "$ver" -k "$kver" --kernelsourcedir "$kdir" >&2
	as_root dkms status -m scullmap -v "$ver" -k "$kver" >&2
	ko=$(ls /var/lib/dkms/scullmap/"$ver/$kver"/*/module/scullmap.ko)
	INSTALL_PATH=$BUILD/check-dkms/kselftest selftests_install "$src"
	mkdir -p "$BUILD/logs"
	initrd=$BUILD/initramfs-dkms.cpio.gz
	log=$BUILD/logs/check-dkms-$kver.log
	build_initramfs_kselftest "$ko" "$kver" "$SELFTESTS_DIR" "$initrd"
	boot_vm "$vmlinuz" "$initrd" kselftest "$log"
	kselftest_log "$log" "${log%.log}.tap.log"
	line=$(judge "${log%.log}.tap.log" "$TOP/selftests/programs") || rc=1

	say "removing scullmap-dkms with dpkg -r"
	as_root dpkg -r scullmap-dkms >&2
	if [ -e "/usr/src/scullmap-$ver" ] || [ -e /var/lib/dkms/scullmap ] ||
	   [ -n "$(as_root dkms status -m scullmap)" ]; then
		say "FAILED: dpkg -r left /usr/src/scullmap-$ver or DKMS's scullmap behind"
		gone=0
		rc=1
	else
		say "dpkg -r removed /usr/src/scullmap-$ver and DKMS's scullmap"
	fi
	# The removal counts as one more test.
	read -r p _ f _ <<<"${line//,/}"
	echo "$((${p:-0} + gone)) passed, $((${f:-1} + 1 - gone)) failed"
	return $rc
}

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
		--eval 'print-files: ; @echo $(TEST_GEN_PROGS) $(TEST_PROGS)' print-files)
	for f in $files; do
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

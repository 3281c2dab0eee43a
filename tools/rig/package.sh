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

# SPDX-License-Identifier: GPL-2.0
#
# Helpers for the scullmap test rig, sourced by tools/rig/run.
#
# Everything the rig downloads or builds outside the repository lives under
# $CACHE (default ~/.cache/scullmap); everything it builds from the
# repository lives under build/ (removed by `make clean`).

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE=${SCULLMAP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/scullmap}
BUILD=${SCULLMAP_BUILD:-$TOP/build}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

say() { printf 'rig: %s\n' "$*" >&2; }
die() { printf 'rig: error: %s\n' "$*" >&2; exit 1; }

as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	else
		sudo "$@"
	fi
}

# Install the Debian packages among "$@" that are not installed yet.
need_packages() {
	local pkg missing=()

	for pkg in "$@"; do
		dpkg-query -W -f='${Status}\n' "$pkg" 2>/dev/null |
			grep -q 'ok installed' || missing+=("$pkg")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	say "installing ${missing[*]}"
	as_root apt-get update -q >&2
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends "${missing[@]}" >&2
}

# The Debian mirror this machine already uses, read from its own sources.
debian_mirror() {
	local uri

	uri=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++)
			if ($i !~ /security/) { print $i; exit } }' \
		/etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)
	[ -n "$uri" ] || uri=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++)
			if ($i ~ /^(https?|ftp):/ && $i !~ /security/) { print $i; exit } }' \
		/etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -n 1)
	[ -n "$uri" ] || die "cannot find a Debian mirror in /etc/apt/sources.list*"
	echo "$uri"
}

# The Debian security mirror this machine uses, if its sources name one.
debian_security_mirror() {
	local files

	files=$(ls /etc/apt/sources.list.d/*.sources /etc/apt/sources.list \
		/etc/apt/sources.list.d/*.list 2>/dev/null) || true
	[ -n "$files" ] || return 0
	# shellcheck disable=SC2086 # one path a line, no spaces in them
	awk '/^URIs:/ { for (i = 2; i <= NF; i++)
			if ($i ~ /security/) { print $i; exit } }
	     $1 == "deb" { for (i = 2; i <= NF; i++)
			if ($i ~ /^(https?|ftp):/ && $i ~ /security/) { print $i; exit } }' \
		$files | head -n 1
}

# apt-get or apt-cache ($1) on a private package list for suite $2.  The
# system's own sources and lists are never touched.
private_apt() {
	local tool=$1 dir=$CACHE/apt-$2 sandbox=()

	shift 2
	[ "$(id -u)" -eq 0 ] && sandbox=(-o APT::Sandbox::User=root)
	"$tool" -q -o Dir::Etc::SourceList="$dir/sources.list" \
		-o Dir::Etc::SourceParts=/dev/null \
		-o Dir::State::Lists="$dir/lists" \
		-o Dir::Cache="$dir/cache" "${sandbox[@]}" "$@"
}

# Fetch the package list of suite $1 into the private list, at most twice a day.
private_apt_update() {
	local dir=$CACHE/apt-$1

	mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial"
	if [ -n "$(find "$dir/lists" -maxdepth 1 -name '*_Packages*' -mmin -720)" ]; then
		return 0
	fi
	echo "deb [signed-by=$KEYRING] $(debian_mirror) $1 main" >"$dir/sources.list"
	# A release's kernels move on in its security suite between point
	# releases (bookworm's newest 6.1 is in bookworm-security).
	case $1 in
	*-*|sid|experimental) ;;
	*)	[ -z "$(debian_security_mirror)" ] ||
			echo "deb [signed-by=$KEYRING] $(debian_security_mirror) $1-security main" \
				>>"$dir/sources.list" ;;
	esac
	say "updating the private package list for $1"
	private_apt apt-get "$1" update >&2
}

# Print the newest package of suite $1 whose name matches regex $2.
private_apt_newest() {
	private_apt apt-cache "$1" search --names-only "$2" |
		awk '{ print $1 }' | sort -V | tail -n 1
}

# Print the version of package $2 that suite $1 offers.
private_apt_version() {
	private_apt apt-cache "$1" policy "$2" | awk '/Candidate:/ { print $2 }'
}

# Download package $2 of suite $1 and unpack it (dpkg -x) into directory $3.
private_apt_unpack() {
	local tmp

	tmp=$(mktemp -d "$CACHE/dl.XXXXXX")
	say "downloading $2 ($(private_apt_size "$1" "$2"))"
	(cd "$tmp" && private_apt apt-get "$1" download "$2" >&2) ||
		{ rm -rf "$tmp"; die "cannot download $2 from $1"; }
	dpkg -x "$tmp"/*.deb "$3"
	rm -rf "$tmp"
}

# The suites that may hold Debian's newest linux-source-X.Y: unstable,
# experimental (its list holds only its own packages) and the backports of
# the newest stable release.  A new stable release adds its backports here.
KERNEL_SOURCE_SUITES="sid experimental trixie-backports"

# Print "SUITE PACKAGE VERSION" of the newest linux-source-X.Y that the
# suites of KERNEL_SOURCE_SUITES offer; nothing if none can be reached.
newest_kernel_source() {
	local suite pkg ver best=""

	for suite in $KERNEL_SOURCE_SUITES; do
		private_apt_update "$suite" || continue
		pkg=$(private_apt_newest "$suite" '^linux-source-[0-9.]+$') || continue
		[ -n "$pkg" ] || continue
		ver=$(private_apt_version "$suite" "$pkg") || continue
		case $ver in ""|"(none)") continue ;; esac
		if [ -z "$best" ] || dpkg --compare-versions "$ver" gt "${best##* }"; then
			best="$suite $pkg $ver"
		fi
	done
	echo "$best"
}

# The newest kernel source in Debian (newest_kernel_source), unpacked once
# into the cache.  Prints the directory that holds its linux-source-*.tar.xz
# and the few files the rig takes from it (the kselftest harness, checkpatch).
kernel_source() {
	local suite pkg ver dir src

	mkdir -p "$CACHE"
	read -r suite pkg ver <<<"$(newest_kernel_source)"
	if [ -n "$ver" ]; then
		dir=$CACHE/$pkg-$ver
		say "kernel source: $pkg $ver from $suite"
	else
		dir=$(ls -d "$CACHE"/linux-source-*/ 2>/dev/null | sort -V | tail -n 1)
		[ -n "$dir" ] || die "cannot reach Debian ($KERNEL_SOURCE_SUITES) for linux-source"
		say "Debian unreachable: using the cached ${dir%/}"
		echo "${dir%/}"
		return 0
	fi
	if [ ! -e "$dir/.complete" ]; then
		say "fetching $pkg $ver (kselftest harness, checkpatch)"
		rm -rf "$dir" && mkdir -p "$dir"
		private_apt_unpack "$suite" "$pkg" "$dir/deb"
		src=$(ls "$dir"/deb/usr/src/linux-source-*.tar.xz)
		mv "$src" "$dir/" && rm -rf "$dir/deb"
		src=$dir/$(basename "$src")
		tar -xJf "$src" -C "$dir" --strip-components=1 --wildcards \
			'*/tools/testing/selftests/kselftest*' \
			'*/scripts/checkpatch.pl' '*/scripts/spelling.txt' \
			'*/scripts/const_structs.checkpatch'
		touch "$dir/.complete"
	fi
	echo "$dir"
}

# The whole tree of kernel source directory $1 (from kernel_source), unpacked
# once into $1/src.  Prints its path.
kernel_source_tree() {
	local dir=$1

	if [ ! -e "$dir/.src-complete" ]; then
		say "unpacking $(basename "$dir") (once)"
		rm -rf "$dir/src" && mkdir -p "$dir/src"
		tar -xJf "$dir"/linux-source-*.tar.xz -C "$dir/src" --strip-components=1
		touch "$dir/.src-complete"
	fi
	echo "$dir/src"
}

# The rig takes its kernels, the kselftest harness and its tools from
# Debian's archive, through the mirror this host's own sources name: refuse
# other distributions, with what works there.
require_debian() {
	local id

	id=$(. /etc/os-release 2>/dev/null && echo "${ID:-}")
	[ "$id" = debian ] && return 0
	die "the test rig runs on Debian 12 or 13 (this is ${id:-an unknown system})." \
	    "Here: \`make deb\` (needs dpkg-dev, debhelper, dh-dkms) and dpkg -i," \
	    "or \`make\` with linux-headers-\$(uname -r); see README.md"
}

# The Debian release this host runs (bookworm, trixie, ...).
host_codename() {
	local codename

	codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
	echo "${codename:-bookworm}"
}

# Debian's prebuilt kernel from suite $1 whose headers package matches regex
# $2 (the newest one), unpacked (dpkg -x) into the cache with its unsigned
# image, its headers (both halves) and its kbuild, never installed.  Prints
# "VERSION VMLINUZ KDIR".
debian_prebuilt_kernel() {
	local suite=$1 pkg ver dir root pkgs

	private_apt_update "$suite"
	pkg=$(private_apt_newest "$suite" "$2")
	[ -n "$pkg" ] || die "no package matching $2 in $suite"
	ver=${pkg#linux-headers-}
	ver=${ver%-amd64}
	dir=$CACHE/linux-$ver
	root=$dir/root
	# The headers depend on their common half and on the kbuild tools,
	# whose names differ between suites (linux-kbuild-6.1,
	# linux-kbuild-6.12.95+deb12) ...
	pkgs=$(private_apt apt-cache "$suite" depends "$pkg" |
		awk '$1 == "Depends:" && $2 ~ /^linux-(headers|kbuild)-/ { print $2 }')
	# ... and on tools the host runs, so those are installed: the compiler
	# the kernel was built with (gcc-12 for Debian 12's), and pahole where
	# the headers ship a vmlinux to make BTF from (6.12's kbuild needs it).
	# shellcheck disable=SC2046 # one package name a word
	need_packages $(private_apt apt-cache "$suite" depends $pkgs |
		awk '$1 == "Depends:" && $2 ~ /^gcc-[0-9]+$/ { print $2 }
		     $1 == "Depends:" && $2 == "<pahole>" { print "dwarves" }' | sort -u)
	if [ ! -e "$dir/.complete" ]; then
		pkgs="$(private_apt_image "$suite" "$ver") $pkg $pkgs"
		say "fetching Debian's $ver-amd64 kernel from $suite:" \
		    "$(echo $pkgs | wc -w) packages, $(private_apt_size "$suite" $pkgs)"
		rm -rf "$dir" && mkdir -p "$root"
		for pkg in $pkgs; do
			private_apt_unpack "$suite" "$pkg" "$root"
		done
		# The headers include their common half by an absolute path.
		sed -i "s|^include /usr/src/|include $root/usr/src/|" \
			"$root/usr/src/linux-headers-$ver-amd64/Makefile"
		touch "$dir/.complete"
	fi
	echo "$ver-amd64 $root/boot/vmlinuz-$ver-amd64 $root/usr/src/linux-headers-$ver-amd64"
}

# The image package of kernel $2 in suite $1: the unsigned one where the
# suite has it (the same kernel without the Secure Boot signature).
private_apt_image() {
	local pkg=linux-image-$2-amd64

	if [ -n "$(private_apt_version "$1" "$pkg-unsigned")" ] &&
	   [ "$(private_apt_version "$1" "$pkg-unsigned")" != "(none)" ]; then
		pkg=$pkg-unsigned
	fi
	echo "$pkg"
}

# The download size of packages $2... of suite $1, e.g. "81 MB".
private_apt_size() {
	local suite=$1

	shift
	private_apt apt-cache "$suite" show --no-all-versions "$@" 2>/dev/null |
		awk '/^Size:/ { s += $2 } END { printf "%.1f MB\n", s / 1e6 }'
}

# Debian 12's kernel (6.1), on any Debian host.
debian_kernel() {
	debian_prebuilt_kernel bookworm '^linux-headers-6\.1\.0-[0-9]+-amd64$'
}

# Debian's 6.12: Debian 13's own on a trixie host, else bookworm-backports'
# (trixie's kbuild tools need trixie's C library).
debian_612_kernel() {
	local suite=bookworm-backports

	[ "$(host_codename)" = trixie ] && suite=trixie
	debian_prebuilt_kernel "$suite" '^linux-headers-6\.12\.[0-9]+\+deb[0-9]+-amd64$'
}

# Run "$@", a build that writes its objects under directory $1, and say
# every RIG_PROGRESS_SECONDS (30) how far it got: objects built out of what
# the last such build made, with the time it has left at this pace.  $2 names
# the build in those lines.  The last build's count and time are kept in
# $CACHE/progress-NAME.
build_with_progress() {
	local out=$1 name=$2 stats pid watcher rc=0 start=$SECONDS

	stats=$CACHE/progress-${name// /-}
	shift 2
	"$@" &
	pid=$!
	progress_watch "$pid" "$out" "$name" "$stats" >/dev/null &
	watcher=$!
	wait "$pid" || rc=$?
	kill "$watcher" 2>/dev/null || true
	wait "$watcher" 2>/dev/null || true
	if [ $rc -eq 0 ]; then
		echo "$(count_objects "$out") $((SECONDS - start))" >"$stats"
		say "$name: built in $(minutes $((SECONDS - start)))"
	fi
	return $rc
}

count_objects() {
	find "$1" -name '*.o' 2>/dev/null | wc -l
}

# Seconds $1 as "4m05s".
minutes() {
	printf '%dm%02ds' $(($1 / 60)) $(($1 % 60))
}

# The progress lines of build_with_progress while process $1 runs.  It
# sleeps a second at a time so that it ends within a second of being killed.
progress_watch() {
	local pid=$1 out=$2 name=$3 stats=$4 every=${RIG_PROGRESS_SECONDS:-30}
	local total=0 last=0 start=$SECONDS next n elapsed

	[ -r "$stats" ] && read -r total last <"$stats"
	if [ "${total:-0}" -gt 0 ]; then
		say "$name: the last build made $total objects in $(minutes "$last")"
	else
		say "$name: no earlier build to compare with: counting objects"
	fi
	next=$((start + every))
	while kill -0 "$pid" 2>/dev/null; do
		sleep 1
		[ $SECONDS -ge $next ] || continue
		next=$((next + every))
		n=$(count_objects "$out")
		elapsed=$((SECONDS - start))
		if [ "${total:-0}" -gt 0 ] && [ "$n" -gt 0 ] && [ "$n" -lt "$total" ]; then
			say "$name: $n of ~$total objects ($((100 * n / total))%)," \
			    "$(minutes $elapsed), about $(minutes $((elapsed * (total - n) / n))) left"
		else
			say "$name: $n objects built, $(minutes $elapsed)"
		fi
	done
}

# A kernel built here: kernel source tree $1 configured from tinyconfig and
# the fragments tools/rig/base.config and $2 (none for the release kernel),
# built once per source version and fragments into the cache.  $3 names it.
# Prints "VERSION BZIMAGE KDIR".
built_kernel() {
	local src=$1 name=$3 key out line missing=0 frags

	frags=("$TOP/tools/rig/base.config")
	[ -n "$2" ] && frags+=("$2")
	key=$(cat "$src/Makefile" "${frags[@]}" | sha256sum | cut -c1-12)
	out=$CACHE/$name-kernel-$key
	if [ ! -e "$out/.complete" ]; then
		say "building the $name kernel in $out (once per source and config: minutes)"
		rm -rf "$out" && mkdir -p "$out"
		make -s -C "$src" O="$out" tinyconfig >&2
		"$src/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" \
			"${frags[@]}" >/dev/null
		make -s -C "$src" O="$out" olddefconfig >&2
		while read -r line; do
			case $line in
			CONFIG_*|"# CONFIG_"*)
				grep -qxF "$line" "$out/.config" ||
					{ say "$name kernel: not in effect: $line"; missing=1; } ;;
			esac
		done < <(cat "${frags[@]}")
		[ $missing -eq 0 ] || die "the $name kernel's config lost options (see above)"
		# bzImage, and modules for the Module.symvers an external build needs
		build_with_progress "$out" "$name kernel" \
			make -s -C "$src" O="$out" -j"$(($(nproc) + 1))" bzImage modules >&2
		touch "$out/.complete"
	fi
	echo "$(make -s -C "$src" O="$out" kernelrelease) $out/arch/x86/boot/bzImage $out"
}

# The debug kernel: KASAN, lockdep, DEBUG_VM, kmemleak, fault injection.
debug_kernel() {
	built_kernel "$1" "$TOP/tools/rig/debug.config" debug
}

# The release kernel: the same source and base without the debugging, for
# the benchmark.
release_kernel() {
	built_kernel "$1" "" release
}

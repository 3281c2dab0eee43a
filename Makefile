# SPDX-License-Identifier: GPL-2.0
#
# `make` builds scullmap.ko against a kernel build tree: KDIR if given, else
# the running kernel's, else the newest Debian linux-headers-*-amd64.
# The other targets drive the test rig in tools/rig (see README.md).

KDIR ?= $(firstword $(wildcard /lib/modules/$(shell uname -r)/build) \
	$(shell ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | sort -V | tail -n 1))

.PHONY: all modules clean check check-all demo bench stress selftests lint deb plot \
	selftests-install selftests-tar check-dkms shell trace lab labs-check

all: modules

modules:
	@test -n "$(KDIR)" || { echo "no kernel build tree: install linux-headers-amd64 or pass KDIR=" >&2; exit 1; }
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

clean:
	rm -rf build Module.symvers modules.order scullmap.ko scullmap.mod scullmap.mod.c
	find . -path ./.git -prune -o \( -name '*.o' -o -name '.*.cmd' -o -name '.*.d' \) -type f -print0 | xargs -0 rm -f

# The test programs, static, in build/tests/ beside the script that runs them.
selftests:
	tools/rig/run selftests

# checkpatch --strict, W=1 and sparse, all clean or it fails.
lint:
	tools/rig/run lint

# KERNEL=6.1 (default), 6.12, debug or release picks the kernel to boot.
check:
	tools/rig/run check

check-all:
	tools/rig/run check-all

demo:
	tools/rig/run demo

# BENCH_ARGS=--short for a quick smoke run (CI does that).
bench:
	tools/rig/run bench

# The fault_window sweep and PTE against PMD, drawn with gnuplot from a
# bench log: LOG= (default the newest build/logs/bench-*.log) into OUT=
# (default build/performance.png).
plot:
	LOG="$(LOG)" OUT="$(OUT)" tools/plot.sh

# The random stress in the test VM for STRESS_SECONDS (default 60), then the
# leak checks; KERNEL=debug for KASAN, lockdep and kmemleak.
stress:
	tools/rig/run stress

# The Debian packages, built with debhelper and dh-dkms into build/deb/:
# scullmap-dkms (the source DKMS builds for each kernel, and the udev rule)
# and scullmap-tools (scullmap-mapper).
deb:
	tools/rig/run deb

# A kselftest tree (run_kselftest.sh, kselftest-list.txt, the programs) in
# INSTALL_PATH (default build/kselftest), as the kernel's selftests install
# writes; selftests-tar packs it into INSTALL_PATH/kselftest-packages/.
selftests-install:
	tools/rig/run selftests-install

selftests-tar:
	tools/rig/run selftests-tar

# CI's proof of `make deb` and `make selftests-install`: the package
# installed with dpkg, the module built by DKMS for Debian 12's 6.1, the
# kselftest tree run by run_kselftest.sh in the VM, then dpkg -r.
check-dkms:
	tools/rig/run check-dkms

# The module loaded and a shell in the test VM (KERNEL= as for check).  Not
# on a terminal, it runs the commands it reads: echo CMD | make shell
shell:
	@tools/rig/run shell

# The demo's session with the trace events of each mapper call under it.
trace:
	tools/rig/run trace

# The labs (labs/README): without NAME, list them; with NAME=, break the
# driver as labs/NAME.patch does and show which test catches it.
lab:
	tools/rig/run lab $(NAME)

# Every lab; fails if a lab's tests do not catch its bug.
labs-check:
	tools/rig/run labs-check

// SPDX-License-Identifier: GPL-2.0
/*
 * Fault injection: make each allocation the driver makes fail in turn, and
 * check that every failure gives a clean answer and leaves the device
 * consistent.  Needs a kernel with CONFIG_FAULT_INJECTION_DEBUG_FS,
 * FAILSLAB, FAIL_PAGE_ALLOC and FAULT_INJECTION_STACKTRACE_FILTER (the
 * rig's debug kernel); scullmap.sh runs it only there, with the module
 * loaded.
 *
 * The tool is /proc/thread-self/fail-nth: writing N makes the Nth
 * allocation of this task from now on fail (a kmalloc through failslab, a
 * page through fail_page_alloc, vmalloc's highmem pages included).  The
 * two are set up to count only allocations with the module's code on the
 * stack: the driver's own, and those of the kernel functions it calls (the
 * xarray's nodes, the page tables vm_insert_pages() fills, the driver
 * model's objects at load).  A sweep sets N = 1, 2, ... and runs the same
 * operation until it runs with no failure left to inject: every allocation
 * site on that path has then failed once.  Reading fail-nth back tells
 * whether the Nth came: 0 if it did.
 *
 * One failure alone never reaches some error paths: the xarray, for one,
 * retries a failed node allocation in another way.  So each sweep runs
 * twice: once with the Nth allocation failing, once with the Nth and all
 * after it failing (memory that stays short).  For the second, the
 * injectors also fail every counted allocation of a task whose
 * /proc/thread-self/make-it-fail is 1, and the test sets it while armed.
 */
#include <errno.h>
#include <stdbool.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "scullmap_test.h"
#include <uapi/scullmap.h>

#define FAILSLAB	"/sys/kernel/debug/failslab/"
#define FAIL_PAGE_ALLOC	"/sys/kernel/debug/fail_page_alloc/"
#define FAIL_NTH	"/proc/thread-self/fail-nth"
#define MAKE_IT_FAIL	"/proc/thread-self/make-it-fail"
#define MAX_SWEEP	4000	/* more steps than any path here has */
#define TEST_QSET	4	/* small sets: a write crosses several */

enum { ONCE, FROM_THEN_ON, MODES };

static const char * const mode_name[] = { "once", "from then on" };

/*
 * Arm the injection: the @nth counted allocation of this task fails, and
 * in mode FROM_THEN_ON every one after it too, until failure_came().
 */
static int arm(unsigned int nth, int mode)
{
	char text[16];

	if (mode == FROM_THEN_ON && write_text(MAKE_IT_FAIL, "1"))
		return -1;
	snprintf(text, sizeof(text), "%u", nth);
	return write_text(FAIL_NTH, text);
}

/* Whether the armed failure came; disarms the injection either way. */
static int failure_came(void)
{
	unsigned int left = 1;
	FILE *f = fopen(FAIL_NTH, "r");

	if (f) {
		if (fscanf(f, "%u", &left) != 1)
			left = 1;
		fclose(f);
	}
	write_text(MAKE_IT_FAIL, "0");
	write_text(FAIL_NTH, "0");
	return left == 0;
}

/*
 * The lowest address above the kernel's own code: one past its highest
 * symbol in /proc/kallsyms.  Modules are loaded above the kernel image on
 * x86-64, so a stack entry at or above it is the module's code.
 */
static unsigned long above_kernel_text(void)
{
	FILE *f = fopen("/proc/kallsyms", "r");
	unsigned long addr, highest = 0;
	char line[512];

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strchr(line, '[')) {
			addr = strtoul(line, NULL, 16);
			if (addr > highest)
				highest = addr;
		}
	fclose(f);
	return highest ? highest + 1 : 0;
}

/* The module's load address, from /proc/modules, or 0. */
static unsigned long module_address(void)
{
	FILE *f = fopen("/proc/modules", "r");
	unsigned long addr = 0;
	char line[512];

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, MODULE_NAME " ", strlen(MODULE_NAME) + 1))
			sscanf(line, "%*s %*s %*s %*s %*s %lx", &addr);
	fclose(f);
	return addr;
}

/*
 * The injectors' settings: armed for the tests, and the kernel's defaults
 * to put back.  Armed, they serve fail-nth, and every allocation of a task
 * that has make-it-fail set; count sleeping allocations and highmem pages
 * (vmalloc's) too; say nothing (the log must show no stack dump); and
 * count only allocations from code above require-start, which
 * setup_or_die() sets to the module's.
 */
struct setting {
	const char *file;
	const char *armed;
	const char *normal;
};

static const struct setting common_settings[] = {
	{ "probability", "100", "0" },
	{ "times", "-1", "1" },
	{ "task-filter", "Y", "N" },
	{ "verbose", "0", "2" },
	{ "ignore-gfp-wait", "N", "Y" },
	{ "require-end", "18446744073709551615", "18446744073709551615" },
	{ "stacktrace-depth", "32", "32" },
};

static const struct setting page_alloc_settings[] = {
	{ "min-order", "0", "1" },
	{ "ignore-gfp-highmem", "N", "Y" },
};

static int apply(const char *dir, const struct setting *settings,
		 unsigned int nr, int armed)
{
	char path[128];
	unsigned int i;

	for (i = 0; i < nr; i++) {
		snprintf(path, sizeof(path), "%s%s", dir, settings[i].file);
		if (write_text(path, armed ? settings[i].armed : settings[i].normal))
			return -1;
	}
	return 0;
}

/* Arm both injectors for allocations from above @start, or (0) disarm. */
static int setup_injection(unsigned long start)
{
	static const char * const dirs[] = { FAILSLAB, FAIL_PAGE_ALLOC };
	int armed = start != 0;
	char path[128], text[32];
	unsigned int d;

	for (d = 0; d < ARRAY_SIZE(dirs); d++) {
		if (apply(dirs[d], common_settings, ARRAY_SIZE(common_settings), armed))
			return -1;
		snprintf(path, sizeof(path), "%srequire-start", dirs[d]);
		snprintf(text, sizeof(text), "%lu", start);
		if (write_text(path, text))
			return -1;
	}
	return apply(FAIL_PAGE_ALLOC, page_alloc_settings,
		     ARRAY_SIZE(page_alloc_settings), armed);
}

static void setup_or_die(struct __test_metadata *_metadata)
{
	unsigned long start = above_kernel_text();

	ASSERT_NE(0UL, start) TH_LOG("no kernel symbols in /proc/kallsyms");
	ASSERT_EQ(0, setup_injection(start))
		TH_LOG("cannot set fault injection up: %s", strerror(errno));
}

/* Disarm this task and put the kernel's defaults back. */
static void teardown_injection(void)
{
	failure_came();
	setup_injection(0);
}

/* The generation of the data a test puts in the device before a sweep. */
#define OLD_GEN	1

/*
 * Check that the driver's usage file adds up: what the cap counts is what
 * the devices' lines say they hold.  An error path that forgot to give
 * back what it counted shows here.
 */
static void check_usage_adds_up(struct __test_metadata *_metadata)
{
	struct usage total;
	long long max, held;

	ASSERT_EQ(0, read_usage("total", &total, &held, &max)) TH_LOG("no %s", USAGE_FILE);
	EXPECT_EQ(held, total.pages * getpagesize() + total.index_bytes);
}

static int set_geometry(int fd, unsigned int order, unsigned int qset)
{
	struct scullmap_geometry geo = { .order = order, .qset = qset };

	return ioctl(fd, SCULLMAP_IOC_SET_GEOMETRY, &geo);
}

static void check_geometry(struct __test_metadata *_metadata, int fd,
			   unsigned int order, unsigned int qset)
{
	struct scullmap_info info;

	ASSERT_EQ(0, ioctl(fd, SCULLMAP_IOC_GET_INFO, &info));
	EXPECT_EQ(order, info.order);
	EXPECT_EQ(qset, info.qset);
}

FIXTURE(inject) {
	int fd;
	size_t quantum;
};

DEVICE_VARIANTS(inject, "/dev/scullmap3", "/dev/scullmapv3");

FIXTURE_SETUP(inject)
{
	setup_or_die(_metadata);
	self->fd = open(variant->path, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd) TH_LOG("%s: %s", variant->path, strerror(errno));
	ASSERT_EQ(0, ioctl(self->fd, SCULLMAP_IOC_RESET));
	ASSERT_EQ(0, set_geometry(self->fd, variant->order, TEST_QSET));
	self->quantum = (size_t)getpagesize() << variant->order;
}

FIXTURE_TEARDOWN(inject)
{
	teardown_injection();
	ioctl(self->fd, SCULLMAP_IOC_RESET);
	set_geometry(self->fd, 0, 500);
	close(self->fd);
	check_usage_adds_up(_metadata);
}

/* Empty the device and write @len bytes of generation OLD_GEN. */
static void refill(struct __test_metadata *_metadata, int fd, size_t len)
{
	char *buf = malloc(len);

	ASSERT_NE(NULL, buf);
	pattern_fill(buf, 0, len, OLD_GEN);
	ASSERT_EQ(0, ioctl(fd, SCULLMAP_IOC_RESET));
	ASSERT_EQ((ssize_t)len, pwrite(fd, buf, len, 0));
	free(buf);
}

/* Check that the device holds exactly @len bytes of generation OLD_GEN. */
static void check_holds(struct __test_metadata *_metadata, int fd, size_t len)
{
	char *got = malloc(len + 1), *want = malloc(len);

	ASSERT_NE(NULL, got);
	ASSERT_NE(NULL, want);
	pattern_fill(want, 0, len, OLD_GEN);
	EXPECT_EQ((ssize_t)len, pread(fd, got, len + 1, 0));
	EXPECT_EQ(0, memcmp(got, want, len)) TH_LOG("the device's data changed");
	EXPECT_EQ((off_t)len, lseek(fd, 0, SEEK_END));
	free(got);
	free(want);
}

static bool all_zero(const char *bytes, size_t len)
{
	return len == 0 || (bytes[0] == 0 && !memcmp(bytes, bytes + 1, len - 1));
}

/*
 * A write with each of its allocations failing in turn.  The answer is
 * ENOMEM if nothing was written, else a short count; the bytes it counts
 * are there, the old bytes around them are intact, nothing else changed.
 * Returns how many times nothing was written.
 */
static unsigned int sweep_write(struct __test_metadata *_metadata, int fd,
				size_t quantum, size_t pos, int mode)
{
	size_t old_len = 3 * quantum + 10, len = 5 * quantum + quantum / 2;
	char *buf = malloc(len), *old = malloc(old_len), *got = malloc(pos + len + 1);
	unsigned int nth, failures = 0, refused = 0;
	size_t end, size, kept;
	ssize_t ret;

	ASSERT_NE(NULL, buf);
	ASSERT_NE(NULL, old);
	ASSERT_NE(NULL, got);
	pattern_fill(old, 0, old_len, OLD_GEN);
	for (nth = 1; nth < MAX_SWEEP; nth++) {
		/* Each try writes a generation of its own. */
		pattern_fill(buf, pos, len, OLD_GEN + nth);
		refill(_metadata, fd, old_len);
		ASSERT_EQ(0, arm(nth, mode));
		ret = pwrite(fd, buf, len, pos);
		if (!failure_came()) {
			ASSERT_EQ((ssize_t)len, ret) TH_LOG("%s", strerror(errno));
			break;
		}
		failures++;
		if (ret < 0) {
			ASSERT_EQ(ENOMEM, errno)
				TH_LOG("%s %u: %s", mode_name[mode], nth, strerror(errno));
			refused++;
			ret = 0;
		}
		/* The old bytes, a hole up to the write, what it wrote, the rest. */
		end = pos + ret;
		size = ret && end > old_len ? end : old_len;
		kept = pos < old_len ? pos : old_len;
		ASSERT_EQ((ssize_t)size, pread(fd, got, pos + len + 1, 0))
			TH_LOG("%s %u: the write said %zd", mode_name[mode], nth, ret);
		EXPECT_EQ(0, memcmp(got, old, kept)) TH_LOG("%s %u", mode_name[mode], nth);
		if (ret && pos > old_len)
			EXPECT_TRUE(all_zero(got + old_len, pos - old_len))
				TH_LOG("%s %u: the hole before the write", mode_name[mode], nth);
		EXPECT_EQ(0, memcmp(got + pos, buf, ret)) TH_LOG("%s %u", mode_name[mode], nth);
		if (end < old_len)
			EXPECT_EQ(0, memcmp(got + end, old + end, old_len - end));
		check_usage_adds_up(_metadata);
	}
	EXPECT_LT(0U, failures) TH_LOG("no allocation of the write failed");
	TH_LOG("at %zu, %s: %u allocations failed in turn, %u refused the write",
	       pos, mode_name[mode], failures, refused);
	free(buf);
	free(old);
	free(got);
	return refused;
}

/*
 * Two writes: one that starts over old quanta and goes on into new quanta
 * and new quantum sets (a failure leaves a short count), and one that
 * starts in a quantum set not there yet (a failure may leave nothing
 * written: ENOMEM).
 */
TEST_F_TIMEOUT(inject, write, 120)
{
	size_t over_old = 2 * self->quantum + 100;
	size_t fresh_set = 2 * TEST_QSET * self->quantum;
	unsigned int refused = 0;
	int mode;

	for (mode = ONCE; mode < MODES; mode++) {
		sweep_write(_metadata, self->fd, self->quantum, over_old, mode);
		refused += sweep_write(_metadata, self->fd, self->quantum, fresh_set, mode);
	}
	EXPECT_LT(0U, refused) TH_LOG("no failure made a write give ENOMEM");
}

/*
 * Emptying allocates the new, empty tree first: when that fails, RESET,
 * open(O_TRUNC) and SET_GEOMETRY give ENOMEM and change nothing.  Other
 * allocations on the way (the kernel's, inside synchronize_srcu() and the
 * unmapping) may fail without harm: then the call must simply succeed.
 */
/* Empty the device of @fd by RESET, or by opening @path with O_TRUNC. */
static int empty_device(int fd, const char *path, int by_open_trunc)
{
	int trunc_fd;

	if (!by_open_trunc)
		return ioctl(fd, SCULLMAP_IOC_RESET);
	trunc_fd = open(path, O_RDWR | O_TRUNC | O_CLOEXEC);
	if (trunc_fd < 0)
		return -1;
	close(trunc_fd);
	return 0;
}

static void sweep_empty(struct __test_metadata *_metadata, int fd,
			const char *path, size_t len, int by_open_trunc, int mode)
{
	unsigned int nth, refused = 0;
	int ret, came;

	for (nth = 1; nth < MAX_SWEEP; nth++) {
		refill(_metadata, fd, len);
		ASSERT_EQ(0, arm(nth, mode));
		ret = empty_device(fd, path, by_open_trunc);
		came = failure_came();
		if (came && ret) {
			refused++;
			EXPECT_EQ(ENOMEM, errno) TH_LOG("%s %u", mode_name[mode], nth);
			check_holds(_metadata, fd, len);
			continue;
		}
		ASSERT_EQ(0, ret) TH_LOG("%s %u: %s", mode_name[mode], nth, strerror(errno));
		EXPECT_EQ(0, lseek(fd, 0, SEEK_END));
		if (!came)
			break;
	}
	EXPECT_LT(0U, refused) TH_LOG("%s: no allocation made it fail", mode_name[mode]);
}

TEST_F_TIMEOUT(inject, reset, 120)
{
	int mode;

	for (mode = ONCE; mode < MODES; mode++)
		sweep_empty(_metadata, self->fd, variant->path,
			    2 * self->quantum + 1, 0, mode);
}

TEST_F_TIMEOUT(inject, open_trunc, 120)
{
	int mode;

	for (mode = ONCE; mode < MODES; mode++)
		sweep_empty(_metadata, self->fd, variant->path,
			    2 * self->quantum + 1, 1, mode);
}

TEST_F_TIMEOUT(inject, set_geometry, 120)
{
	unsigned int nth, refused = 0;
	int mode, ret, came;

	for (mode = ONCE; mode < MODES; mode++) {
		for (nth = 1; nth < MAX_SWEEP; nth++) {
			ASSERT_EQ(0, set_geometry(self->fd, variant->order, TEST_QSET));
			ASSERT_EQ(0, arm(nth, mode));
			ret = set_geometry(self->fd, 1, 7);
			came = failure_came();
			if (came && ret) {
				refused++;
				EXPECT_EQ(ENOMEM, errno) TH_LOG("%s %u", mode_name[mode], nth);
				check_geometry(_metadata, self->fd, variant->order, TEST_QSET);
				continue;
			}
			ASSERT_EQ(0, ret)
				TH_LOG("%s %u: %s", mode_name[mode], nth, strerror(errno));
			check_geometry(_metadata, self->fd, 1, 7);
			if (!came)
				break;
		}
	}
	EXPECT_LT(0U, refused) TH_LOG("no allocation made SET_GEOMETRY fail");
}

/*
 * A fault whose page table allocation fails answers VM_FAULT_OOM; the
 * kernel then retries the access, which must find the right data: no
 * SIGBUS, no wrong page.  Each try maps the device in a gigabyte of its
 * own, where no page table exists yet: vm_insert_pages() has to allocate
 * them, from the fault handler.  (A quantum of the PMD size could be
 * mapped by one PMD entry instead, in a table the core allocates before
 * the driver is called: MADV_NOHUGEPAGE keeps it to page tables.)
 */
#define FRESH_REGION(nth)	((void *)((64UL + (nth)) << 30))

TEST_F_TIMEOUT(inject, fault, 120)
{
	size_t len = 4 * self->quantum, page = getpagesize(), i;
	unsigned int nth, failures = 0;
	char *map, *want = malloc(len), value;
	int sig;

	ASSERT_NE(NULL, want);
	pattern_fill(want, 0, len, OLD_GEN);
	refill(_metadata, self->fd, len);
	for (nth = 1; nth < MAX_SWEEP; nth++) {
		map = mmap(FRESH_REGION(nth), len, PROT_READ,
			   MAP_SHARED | MAP_FIXED_NOREPLACE, self->fd, 0);
		ASSERT_NE(MAP_FAILED, map) TH_LOG("%s", strerror(errno));
		/* EINVAL on a kernel without THP, which maps no PMD anyway. */
		madvise(map, len, MADV_NOHUGEPAGE);
		i = (nth * 7 % (len / page)) * page;
		/*
		 * Once only: a page table allocation that kept failing would
		 * have the kernel retry the access for ever.
		 */
		ASSERT_EQ(0, arm(nth, ONCE));
		sig = read_byte(map + i, &value);
		if (!failure_came()) {
			EXPECT_EQ(0, sig);
			EXPECT_EQ(want[i], value);
			munmap(map, len);
			break;
		}
		failures++;
		EXPECT_EQ(0, sig) TH_LOG("allocation %u: SIGBUS", nth);
		EXPECT_EQ(want[i], value) TH_LOG("allocation %u: wrong data", nth);
		munmap(map, len);
	}
	EXPECT_LT(0U, failures) TH_LOG("no allocation of the fault failed");
	check_holds(_metadata, self->fd, len);
	free(want);
}

/*
 * The allocation of a quantum of the PMD size itself, alone: fail_page_alloc
 * counting only allocations of that order (slab pages are smaller, and
 * failslab counts nothing here), the first counted allocation of a write
 * is its quantum's.  A write that starts in that quantum gives ENOMEM and
 * changes nothing; one that starts in a quantum already there gives a
 * short count of the bytes it could store.  A fault never allocates one.
 */
FIXTURE(huge) {
	int fd;
	size_t quantum;
};

FIXTURE_SETUP(huge)
{
	char text[32];

	setup_or_die(_metadata);
	snprintf(text, sizeof(text), "%d", TEST_HUGE_ORDER);
	ASSERT_EQ(0, write_text(FAIL_PAGE_ALLOC "min-order", text));
	/* An empty range of addresses: no stack is in it. */
	snprintf(text, sizeof(text), "%lu", above_kernel_text());
	ASSERT_EQ(0, write_text(FAILSLAB "require-end", text));
	self->fd = open("/dev/scullmap3", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd) TH_LOG("/dev/scullmap3: %s", strerror(errno));
	ASSERT_EQ(0, ioctl(self->fd, SCULLMAP_IOC_RESET));
	ASSERT_EQ(0, set_geometry(self->fd, TEST_HUGE_ORDER, TEST_QSET));
	self->quantum = (size_t)getpagesize() << TEST_HUGE_ORDER;
}

FIXTURE_TEARDOWN(huge)
{
	teardown_injection();
	ioctl(self->fd, SCULLMAP_IOC_RESET);
	set_geometry(self->fd, 0, 500);
	close(self->fd);
	check_usage_adds_up(_metadata);
}

TEST_F(huge, quantum_allocation_fails)
{
	const size_t q = self->quantum;
	struct scullmap_info info;
	char buf[200], *map, value;
	ssize_t ret;
	int came;

	pattern_fill(buf, 0, 100, OLD_GEN);
	ASSERT_EQ(0, arm(1, ONCE));
	ret = pwrite(self->fd, buf, 100, 0);
	came = failure_came();
	EXPECT_TRUE(came) TH_LOG("the write allocated no quantum of order %d", TEST_HUGE_ORDER);
	EXPECT_EQ(-1, ret) TH_LOG("the write whose quantum failed returned %zd", ret);
	EXPECT_EQ(ENOMEM, errno);
	ASSERT_EQ(0, ioctl(self->fd, SCULLMAP_IOC_GET_INFO, &info));
	EXPECT_EQ(0ULL, info.size);
	EXPECT_EQ(0ULL, info.quanta);

	ASSERT_EQ(100, pwrite(self->fd, buf, 100, 0)) TH_LOG("%s", strerror(errno));
	pattern_fill(buf, q - 100, sizeof(buf), OLD_GEN + 1);
	ASSERT_EQ(0, arm(1, ONCE));
	ret = pwrite(self->fd, buf, sizeof(buf), q - 100);
	came = failure_came();
	EXPECT_TRUE(came) TH_LOG("the write allocated no quantum of order %d", TEST_HUGE_ORDER);
	EXPECT_EQ(100, ret) TH_LOG("a write into a quantum there, then one that failed: %s",
				   ret < 0 ? strerror(errno) : "wrong count");
	ASSERT_EQ(0, ioctl(self->fd, SCULLMAP_IOC_GET_INFO, &info));
	EXPECT_EQ(q, info.size);
	EXPECT_EQ(1ULL, info.quanta);
	check_usage_adds_up(_metadata);

	map = mmap(NULL, q, PROT_READ, MAP_SHARED, self->fd, 0);
	ASSERT_NE(MAP_FAILED, map) TH_LOG("%s", strerror(errno));
	ASSERT_EQ(0, arm(1, ONCE));
	EXPECT_EQ(0, read_byte(map + q - 1, &value));
	EXPECT_FALSE(failure_came()) TH_LOG("a fault allocated a quantum");
	EXPECT_EQ((char)pattern_byte(q - 1, OLD_GEN + 1), value);
	munmap(map, q);
}

/*
 * Module init with each of its allocations failing in turn: the load fails
 * with ENOMEM and leaves no trace, or (when the allocation was one whose
 * loss costs only a debugfs file) succeeds.  Ends with the module loaded.
 */
static void sweep_load(struct __test_metadata *_metadata, int mode)
{
	unsigned int nth, failures = 0;
	char when[64];
	int ret;

	for (nth = 1; nth < MAX_SWEEP; nth++) {
		ASSERT_EQ(0, arm(nth, mode));
		ret = load_module("nr_devs=1");
		if (!failure_came()) {
			ASSERT_EQ(0, ret) TH_LOG("load: %s", strerror(errno));
			break;
		}
		failures++;
		if (ret == 0) {
			/* Only the debugfs file may be missing, never a device. */
			EXPECT_EQ(0, access("/dev/scullmap0", F_OK)) TH_LOG("allocation %u", nth);
			EXPECT_EQ(0, access("/dev/scullmapv0", F_OK)) TH_LOG("allocation %u", nth);
			ASSERT_EQ(0, unload_module());
			continue;
		}
		EXPECT_EQ(ENOMEM, errno)
			TH_LOG("%s %u: %s", mode_name[mode], nth, strerror(errno));
		snprintf(when, sizeof(when), "a load whose allocation %u failed", nth);
		check_gone(_metadata, when);
	}
	EXPECT_LT(0U, failures) TH_LOG("no allocation of module init failed");
	TH_LOG("%s: %u allocations failed in turn", mode_name[mode], failures);
}

FIXTURE(load) {
};

FIXTURE_SETUP(load)
{
	setup_or_die(_metadata);
	if (module_loaded())
		ASSERT_EQ(0, unload_module()) TH_LOG("cannot unload: %s", strerror(errno));
}

/* Leave the module loaded with its defaults, as scullmap.sh had it. */
FIXTURE_TEARDOWN(load)
{
	teardown_injection();
	if (module_loaded())
		unload_module();
	load_module("");
}

TEST_F_TIMEOUT(load, each_allocation_fails, 600)
{
	unsigned long start = above_kernel_text();
	int mode;

	for (mode = ONCE; mode < MODES; mode++) {
		sweep_load(_metadata, mode);
		/* The injection counted the module's code: it lies above the kernel's. */
		EXPECT_LE(start, module_address());
		ASSERT_EQ(0, unload_module());
	}
}

/*
 * Without fault injection (Debian's 6.1 and 6.12 kernels) there is nothing
 * to test: say so the kselftest way, a plan of no tests skipped with the
 * reason, rather than not running at all.
 */
int main(int argc, char **argv)
{
	if (access(FAIL_NTH, F_OK) || access(FAILSLAB, F_OK) ||
	    access(FAIL_PAGE_ALLOC, F_OK)) {
		ksft_print_header();
		ksft_exit_skip("no fault injection (%s, %s): needs the rig's debug kernel\n",
			       FAIL_NTH, FAILSLAB);
	}
	return test_harness_run(argc, argv);
}

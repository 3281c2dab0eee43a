// SPDX-License-Identifier: GPL-2.0
/*
 * Quanta of the PMD size mapped with one PMD entry each: where the mapping
 * goes, what /proc/self/smaps and the fault count say, and the data through
 * holes, the end of the device, private copies, emptying, fork, munmap,
 * mremap and mprotect of part of a PMD, and get_user_pages() through it.
 * Runs with the module loaded, on /dev/scullmap2 set to quanta of the PMD
 * size (2 MiB on x86-64), and puts back the geometry it found.
 *
 * Only 7.3 on, with transparent huge pages not "never", has the PMD path
 * (SCULLMAP_HAVE_PMD_MAPPINGS in compat.h); elsewhere the program skips as
 * a whole and says why.  The same quanta mapped by PTEs run everywhere, in
 * the pages_order9 variant of the other programs.
 *
 * Every mapping is placed by hand where its address and file offset agree
 * modulo the PMD size (or, on purpose, where they do not), and gets
 * MADV_HUGEPAGE, which THP's "madvise" mode needs; placement_by_mmap checks
 * that the driver's get_unmapped_area places one so by itself.
 */
#include <errno.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "scullmap_test.h"
#include "uapi/scullmap.h"

#define DEVICE		"/dev/scullmap2"
#define DEVICE_NAME	"scullmap2"	/* its line in the usage file */
#define QSET		4	/* quanta per set: a few tests cross sets */
#define MSG_LEN		200	/* a message from a child process */
/*
 * How far the kernel's count of mapped file pages may stray from what a
 * test expects, in KiB: a page or two of the program's own text or data
 * that a call faults in on the way.  A PMD entry dropped without its
 * count is 2048 KiB.
 */
#define RSS_SLACK	256

static int huge_order;		/* pmd_order(), set by main() */

/* The device's file and quantum, and the mappings a test made of it. */
struct maps {
	int fd;
	size_t q;
	struct map_list list;	/* for the teardown to unmap */
};

FIXTURE(huge) {
	int fd;
	size_t page;
	size_t q;		/* bytes in a quantum: the PMD size */
	long long q_kib;
	struct maps maps;
	struct scullmap_geometry found;
};

FIXTURE_SETUP(huge)
{
	setup_device(_metadata, DEVICE, huge_order, QSET, &self->fd, &self->found);
	self->page = getpagesize();
	self->q = self->page << huge_order;
	self->q_kib = self->q / 1024;
	self->maps.fd = self->fd;
	self->maps.q = self->q;
}

FIXTURE_TEARDOWN(huge)
{
	unmap_listed(&self->maps.list);
	restore_device(_metadata, self->fd, &self->found);
	close(self->fd);
}

/*
 * Map [@off, +@len) of the device @shift bytes past a PMD boundary (0: a
 * PMD entry fits wherever the file offset starts a quantum), shared or
 * private by @flags, and ask for huge pages there.
 */
static char *map_at(struct __test_metadata *_metadata, struct maps *maps,
		    off_t off, size_t len, int flags, size_t shift)
{
	size_t q = maps->q, span = len + 2 * q;
	char *area, *at, *m;

	/* Reserve room, map over the aligned part, give the rest back. */
	area = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, area) TH_LOG("reserving %zu bytes: %s", span, strerror(errno));
	at = (char *)(((uintptr_t)area + q - 1) & ~(uintptr_t)(q - 1)) + shift;
	m = mmap(at, len, PROT_READ | PROT_WRITE, flags | MAP_FIXED, maps->fd, off);
	if (m == MAP_FAILED)
		munmap(area, span);
	ASSERT_EQ(at, m) TH_LOG("mmap of %zu bytes at %#llx: %s", len,
				(unsigned long long)off, strerror(errno));
	if (at > area)
		munmap(area, at - area);
	munmap(at + len, area + span - (at + len));
	track_map(_metadata, &maps->list, m, len);
	ASSERT_EQ(0, madvise(m, len, MADV_HUGEPAGE))
		TH_LOG("MADV_HUGEPAGE: %s", strerror(errno));
	return m;
}

#define map_shared(off, len)	map_at(_metadata, &self->maps, off, len, MAP_SHARED, 0)

/* Read a byte of each quantum of [@m, +@len): the faults that map them. */
static void touch_quanta(struct __test_metadata *_metadata, const char *m,
			 size_t len, size_t q)
{
	size_t i;
	char c;

	for (i = 0; i < len; i += q) {
		ASSERT_EQ(0, read_byte(m + i, &c))
			TH_LOG("SIGBUS at quantum %zu", i / q);
	}
}

/* The smaps entry of the mapping at @addr, asserted to be there. */
static void stats(struct __test_metadata *_metadata, const void *addr,
		  struct map_stats *st)
{
	ASSERT_EQ(0, map_stats(addr, st)) TH_LOG("no VMA at %p in /proc/self/smaps", addr);
}

/* Assert that the mapping at @addr has @kib KiB mapped by PMD entries. */
static void check_pmd_kib(struct __test_metadata *_metadata, const void *addr,
			  long long kib, const char *what)
{
	struct map_stats st;

	stats(_metadata, addr, &st);
	ASSERT_EQ(kib, st.file_pmd)
		TH_LOG("%s: FilePmdMapped %lld kB, expected %lld kB (Rss %lld kB)",
		       what, st.file_pmd, kib, st.rss);
}

/*
 * Assert that the kernel counts @kib KiB of file pages mapped, give or
 * take RSS_SLACK.
 */
static void check_rss_file(struct __test_metadata *_metadata, long long kib,
			   const char *what)
{
	long long got = rss_file_kib();

	ASSERT_LE(0, got) TH_LOG("no RssFile in /proc/self/status");
	ASSERT_TRUE(got >= kib - RSS_SLACK && got <= kib + RSS_SLACK)
		TH_LOG("%s: RssFile %lld kB, expected %lld kB (from the page tables)",
		       what, got, kib);
}

/*
 * Assert that [@m, +@len), a mapping of device offset @off, holds
 * generation @gen, page by page: a page that raises SIGBUS is reported,
 * not fatal.
 */
static void check_map(struct __test_metadata *_metadata, const char *m,
		      off_t off, size_t len, unsigned int gen, const char *what)
{
	size_t page = getpagesize(), i, n;
	ssize_t bad;
	char c;

	for (i = 0; i < len; i += n) {
		/* To the end of the page: a page faults whole or not at all. */
		n = page - (uintptr_t)(m + i) % page;
		if (n > len - i)
			n = len - i;
		ASSERT_EQ(0, read_byte(m + i, &c))
			TH_LOG("%s: SIGBUS at device offset %#llx", what,
			       (unsigned long long)(off + i));
		bad = pattern_mismatch(m + i, off + i, n, gen);
		ASSERT_EQ(-1, bad)
			TH_LOG("%s: device offset %#llx is %#x, not %#x", what,
			       (unsigned long long)(off + i + bad),
			       (unsigned char)m[i + bad], pattern_byte(off + i + bad, gen));
	}
}

/* Assert that read() finds generation @gen at [@off, +@len). */
static void check_dev(struct __test_metadata *_metadata, int fd, off_t off,
		      size_t len, unsigned int gen, const char *what)
{
	unsigned char *buf = malloc(len);
	ssize_t n, bad = -1;

	ASSERT_NE(NULL, buf);
	n = full_pread(fd, buf, len, off);
	if (n == (ssize_t)len)
		bad = pattern_mismatch(buf, off, len, gen);
	free(buf);
	ASSERT_EQ((ssize_t)len, n) TH_LOG("%s: pread at %#llx: %s", what,
					  (unsigned long long)off,
					  n < 0 ? strerror(errno) : "short");
	ASSERT_EQ(-1, bad) TH_LOG("%s: read() at device offset %#llx is not generation %u",
				  what, (unsigned long long)(off + bad), gen);
}

/*
 * Whether [@m, +@len) holds generation @gen of device offset @off, in a
 * child process that may not assert: a message in @msg if not.
 */
static int map_ok(const char *m, off_t off, size_t len, unsigned int gen,
		  char *msg, const char *what)
{
	size_t page = getpagesize(), i;
	ssize_t bad;
	char c;

	for (i = 0; i < len; i += page) {	/* @m on a page boundary */
		if (read_byte(m + i, &c)) {
			snprintf(msg, MSG_LEN, "%s: SIGBUS at device offset %#llx",
				 what, (unsigned long long)(off + i));
			return 0;
		}
		bad = pattern_mismatch(m + i, off + i, page, gen);
		if (bad >= 0) {
			snprintf(msg, MSG_LEN, "%s: device offset %#llx is not generation %u",
				 what, (unsigned long long)(off + i + bad), gen);
			return 0;
		}
	}
	return 1;
}

/* The minor faults of this process so far. */
static long minor_faults(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

/*
 * mmap(NULL) of 2 MiB or more: the driver's get_unmapped_area puts the
 * address where it agrees with the file offset modulo the PMD size, so
 * that whole quanta can be PMD-mapped, at file offset 0 and at an offset
 * a page into a quantum alike.
 */
TEST_F(huge, placement_by_mmap)
{
	const size_t q = self->q, page = self->page;
	char *m, *m2;

	write_device(_metadata, self->fd, 0, 3 * q, 1);
	m = mmap(NULL, 2 * q, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd, 0);
	ASSERT_NE(MAP_FAILED, m) TH_LOG("mmap: %s", strerror(errno));
	track_map(_metadata, &self->maps.list, m, 2 * q);
	EXPECT_EQ(0UL, (uintptr_t)m % q)
		TH_LOG("mmap(NULL) of %zu bytes at offset 0 gave %p: not on a PMD boundary",
		       2 * q, m);
	m2 = mmap(NULL, 2 * q, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd, page);
	ASSERT_NE(MAP_FAILED, m2) TH_LOG("mmap: %s", strerror(errno));
	track_map(_metadata, &self->maps.list, m2, 2 * q);
	ASSERT_EQ(page, (uintptr_t)m2 % q)
		TH_LOG("mmap(NULL) at file offset %zu gave %p: not so modulo %zu",
		       page, m2, q);

	/* In the second, quantum 1 lies whole at m2 + q - page. */
	ASSERT_EQ(0, madvise(m2, 2 * q, MADV_HUGEPAGE));
	touch_quanta(_metadata, m2 + q - page, q, q);
	check_pmd_kib(_metadata, m2, self->q_kib, "quantum 1, a page into the mapping");
	check_map(_metadata, m2, page, 2 * q, 1, "the mapping at offset one page");
}

/*
 * A touch of each quantum maps it whole: FilePmdMapped and Rss both count
 * every byte, nothing before the touch, and the bytes are the device's.
 * Unmapped, the kernel's count of file pages is back where it was.
 */
TEST_F(huge, pmd_mapped)
{
	const size_t len = 4 * self->q;
	struct map_stats st;
	long long base;
	char *m;

	write_device(_metadata, self->fd, 0, len, 1);
	m = map_shared(0, len);
	base = rss_file_kib();
	stats(_metadata, m, &st);
	EXPECT_EQ(0, st.rss) TH_LOG("pages mapped before any touch");
	touch_quanta(_metadata, m, len, self->q);
	stats(_metadata, m, &st);
	EXPECT_EQ((long long)len / 1024, st.rss);
	ASSERT_EQ((long long)len / 1024, st.file_pmd)
		TH_LOG("FilePmdMapped %lld kB after touching each of 4 quanta, Rss %lld kB",
		       st.file_pmd, st.rss);
	check_rss_file(_metadata, base + len / 1024, "PMD-mapped");
	check_map(_metadata, m, 0, len, 1, "PMD-mapped quanta");
	ASSERT_EQ(0, munmap(m, len));
	moved_map(&self->maps.list, m, NULL, 0);
	check_rss_file(_metadata, base, "unmapped");
}

/*
 * One fault per quantum: touching every page of four quanta costs four
 * minor faults, where PTEs would cost one per fault_window pages (or one
 * per page, in a mapping that may hold PMD entries).  Stores after the
 * loads cost none (the entries are writable), and stores first cost one
 * fault per quantum too; the entries stay PMDs either way.
 */
TEST_F(huge, one_fault_per_quantum)
{
	const size_t len = 4 * self->q, page = self->page;
	long before, faults;
	char *m, *m2;
	size_t i;

	write_device(_metadata, self->fd, 0, len, 1);
	m = map_shared(0, len);
	m2 = map_shared(0, len);
	minor_faults();		/* its own code and stack, faulted in */

	before = minor_faults();
	for (i = 0; i < len; i += page)
		__atomic_load_n(m + i, __ATOMIC_RELAXED);
	faults = minor_faults() - before;
	EXPECT_EQ(4, faults) TH_LOG("%ld faults to read 4 quanta", faults);

	before = minor_faults();
	for (i = 0; i < len; i += page)
		__atomic_store_n(m + i, pattern_byte(i, 1), __ATOMIC_RELAXED);
	faults = minor_faults() - before;
	EXPECT_EQ(0, faults) TH_LOG("%ld faults to store into 4 PMD-mapped quanta", faults);
	check_pmd_kib(_metadata, m, len / 1024, "after loads, then stores");

	before = minor_faults();
	for (i = 0; i < len; i += page)
		__atomic_store_n(m2 + i, pattern_byte(i, 1), __ATOMIC_RELAXED);
	faults = minor_faults() - before;
	EXPECT_EQ(4, faults) TH_LOG("%ld faults for a first store into each page of 4 quanta",
				    faults);
	check_pmd_kib(_metadata, m2, len / 1024, "after stores first");
}

/*
 * The bytes through PMD entries are the device's both ways: what was
 * written, stores through the mapping seen by read(), and a write() seen
 * at once through entries already in place.
 */
TEST_F(huge, data_both_ways)
{
	const size_t q = self->q, len = 3 * q;
	char *m;

	write_device(_metadata, self->fd, 0, len, 1);
	m = map_shared(0, len);
	check_map(_metadata, m, 0, len, 1, "as written");
	check_pmd_kib(_metadata, m, len / 1024, "after reading it all");

	pattern_fill(m + q, q, q, 2);
	check_dev(_metadata, self->fd, q, q, 2, "a quantum stored through the mapping");
	check_dev(_metadata, self->fd, 0, q, 1, "the quantum before it");
	check_dev(_metadata, self->fd, 2 * q, q, 1, "the quantum after it");

	write_device(_metadata, self->fd, 2 * q + 100, q - 200, 3);
	check_map(_metadata, m + 2 * q + 100, 2 * q + 100, q - 200, 3, "after write()");
	check_map(_metadata, m + 2 * q, 2 * q, 100, 1, "before the write()");
	check_pmd_kib(_metadata, m, len / 1024, "after the stores and write()");
}

/*
 * A hole of a quantum between two of data: every page of it raises
 * SIGBUS, and allocates nothing; its neighbours are PMD-mapped.
 */
TEST_F(huge, hole)
{
	const size_t q = self->q;
	struct scullmap_info info;
	char *m;

	write_device(_metadata, self->fd, 0, q, 1);
	write_device(_metadata, self->fd, 2 * q, q, 1);
	m = map_shared(0, 3 * q);
	check_reads_sigbus(_metadata, m + q, q, "the hole");
	ASSERT_EQ(SIGBUS, write_byte(m + q + 5, 1)) TH_LOG("a store into the hole");
	touch_quanta(_metadata, m, 3 * q, 2 * q);
	check_pmd_kib(_metadata, m, 2 * self->q_kib, "the quanta around the hole");
	check_map(_metadata, m, 0, q, 1, "before the hole");
	check_map(_metadata, m + 2 * q, 2 * q, q, 1, "after the hole");
	check_reads_sigbus(_metadata, m + q, q, "the hole, with its neighbours mapped");
	get_info(_metadata, self->fd, &info);
	EXPECT_EQ(2ULL, info.quanta) TH_LOG("a fault in the hole allocated a quantum");
	EXPECT_EQ(3 * q, info.size);
}

/*
 * The end of the device inside a quantum: the quanta before it are
 * PMD-mapped, the partial one by PTEs (its pages past the end must not be
 * mapped), with data up to the end, zeros to the end of its page, and
 * SIGBUS after.  Once data fills the quantum, a new mapping maps it whole.
 */
TEST_F(huge, past_the_end)
{
	const size_t q = self->q, page = self->page;
	const size_t size = q + q / 2 + 100, len = 3 * q;
	const size_t mapped = size - size % page + page;	/* whole pages */
	struct map_stats st;
	char *m;

	write_device(_metadata, self->fd, 0, size, 1);
	m = map_shared(0, len);
	check_map(_metadata, m, 0, size, 1, "up to the end");
	check_map(_metadata, m + size, size, mapped - size, 0,
		  "the rest of the last page (zeros)");
	check_reads_sigbus(_metadata, m + mapped, len - mapped, "past the end");
	ASSERT_EQ(SIGBUS, write_byte(m + mapped, 1)) TH_LOG("a store past the end");
	stats(_metadata, m, &st);
	EXPECT_EQ(self->q_kib, st.file_pmd)
		TH_LOG("FilePmdMapped %lld kB: only quantum 0 lies whole below the end",
		       st.file_pmd);
	EXPECT_EQ((long long)mapped / 1024, st.rss)
		TH_LOG("Rss %lld kB: the partial quantum maps %zu pages",
		       st.rss, (mapped - q) / page);

	/* Quantum 1 filled: the old mapping sees it, a new one maps it whole. */
	write_device(_metadata, self->fd, size, 2 * q - size, 1);
	check_map(_metadata, m, 0, 2 * q, 1, "the old mapping, after appending");
	check_reads_sigbus(_metadata, m + 2 * q, q, "still past the end");
	m = map_shared(0, len);
	touch_quanta(_metadata, m, 2 * q, q);
	check_pmd_kib(_metadata, m, 2 * self->q_kib, "a new mapping, after appending");
	check_map(_metadata, m, 0, 2 * q, 1, "a new mapping, after appending");
}

/*
 * A private mapping beside a PMD-mapped shared one: loads see the device,
 * stores make private copies (anonymous pages) that neither the device nor
 * the shared mapping sees, and the pages not stored to follow write().
 */
TEST_F(huge, private_cow)
{
	const size_t q = self->q, page = self->page, len = 2 * q;
	const size_t w1 = 0, w2 = q + q / 2;	/* the pages stored to */
	struct map_stats st;
	char *m, *p;

	write_device(_metadata, self->fd, 0, len, 1);
	m = map_shared(0, len);
	p = map_at(_metadata, &self->maps, 0, len, MAP_PRIVATE, 0);
	touch_quanta(_metadata, m, len, q);
	check_map(_metadata, p, 0, len, 1, "private, loads");

	pattern_fill(p + w1, w1, page, 2);
	pattern_fill(p + w2 + 10, w2 + 10, 100, 2);
	check_map(_metadata, p + w1, w1, page, 2, "a private copy");
	check_map(_metadata, p + w2 + 10, w2 + 10, 100, 2, "a private copy");
	check_map(_metadata, p + w2, w2, 10, 1, "a private copy, before the store");
	stats(_metadata, p, &st);
	EXPECT_EQ(2 * (long long)page / 1024, st.anon)
		TH_LOG("%lld kB of private copies for stores into 2 pages", st.anon);
	check_dev(_metadata, self->fd, 0, len, 1, "the device under private stores");
	check_map(_metadata, m, 0, len, 1, "the shared mapping under private stores");
	check_pmd_kib(_metadata, m, len / 1024, "the shared mapping under private stores");

	write_device(_metadata, self->fd, 0, len, 3);
	check_map(_metadata, p + w1, w1, page, 2, "a private copy, after write()");
	check_map(_metadata, p + page, page, w2 - page, 3,
		  "private pages not stored to, after write()");
	check_map(_metadata, m, 0, len, 3, "the shared mapping, after write()");
}

/*
 * Emptying (by RESET, or @by_open_trunc an open with O_TRUNC) while PMD
 * entries map the device: they all go at once, the memory with them (the
 * mapping's Rss, the kernel's count, the driver's), every page raises
 * SIGBUS, never old data; written again, the same mapping maps the new
 * data with PMD entries again.
 */
static void empty_while_mapped(struct __test_metadata *_metadata,
			       struct maps *maps, int by_open_trunc)
{
	const size_t q = maps->q, len = 3 * q;
	long long base, held, max, free_before, free_after;
	struct scullmap_info info;
	struct usage usage;
	struct map_stats st;
	char *m;
	int fd;

	write_device(_metadata, maps->fd, 0, len, 1);
	m = map_at(_metadata, maps, 0, len, MAP_SHARED, 0);
	base = rss_file_kib();
	touch_quanta(_metadata, m, len, q);
	check_pmd_kib(_metadata, m, len / 1024, "before emptying");
	check_rss_file(_metadata, base + len / 1024, "before emptying");
	free_before = mem_free_kib();

	if (by_open_trunc) {
		fd = open(DEVICE, O_WRONLY | O_TRUNC);
		ASSERT_LE(0, fd) TH_LOG("O_TRUNC: %s", strerror(errno));
		close(fd);
	} else {
		ASSERT_EQ(0, ioctl(maps->fd, SCULLMAP_IOC_RESET))
			TH_LOG("RESET: %s", strerror(errno));
	}
	stats(_metadata, m, &st);
	EXPECT_EQ(0, st.rss) TH_LOG("%lld kB still mapped after emptying", st.rss);
	EXPECT_EQ(0, st.file_pmd) TH_LOG("%lld kB still PMD-mapped after emptying",
					 st.file_pmd);
	check_rss_file(_metadata, base, "after emptying");
	/* Most of it, whatever else the kernel did meanwhile. */
	free_after = mem_free_kib();
	EXPECT_LE((long long)len / 1024 / 2, free_after - free_before)
		TH_LOG("%lld kB more free after emptying %zu kB", free_after - free_before,
		       len / 1024);
	get_info(_metadata, maps->fd, &info);
	EXPECT_EQ(0ULL, info.size);
	EXPECT_EQ(0ULL, info.quanta);
	EXPECT_EQ(1U, info.mappings) TH_LOG("emptying must not drop the mapping");
	ASSERT_EQ(0, read_usage(DEVICE_NAME, &usage, &held, &max));
	EXPECT_EQ(0, usage.pages) TH_LOG("the driver still counts %lld pages", usage.pages);
	check_reads_sigbus(_metadata, m, len, "after emptying");
	ASSERT_EQ(SIGBUS, write_byte(m + q + 1, 1)) TH_LOG("a store after emptying");

	write_device(_metadata, maps->fd, 0, len, 2);
	check_map(_metadata, m, 0, len, 2, "written again");
	check_pmd_kib(_metadata, m, len / 1024, "written again");
}

TEST_F(huge, empty_with_reset)
{
	empty_while_mapped(_metadata, &self->maps, 0);
}

TEST_F(huge, empty_with_o_trunc)
{
	empty_while_mapped(_metadata, &self->maps, 1);
}

/*
 * fork: the child's copy of a PMD-mapped mapping sees the data, with PMD
 * entries of its own, and keeps working after the parent has exited; its
 * stores reach the device.  Here the parent is a child of the test, and
 * the test, a subreaper, waits for both.
 */
TEST_F(huge, fork)
{
	const size_t q = self->q, len = 2 * q;
	int up[2], alive[2];
	char msg[MSG_LEN] = "", c;
	struct scullmap_info info;
	struct map_stats st;
	pid_t parent, child = 0;
	char *m;

	write_device(_metadata, self->fd, 0, len, 1);
	ASSERT_EQ(0, prctl(PR_SET_CHILD_SUBREAPER, 1));
	ASSERT_EQ(0, pipe(up));
	ASSERT_EQ(0, pipe(alive));
	m = map_shared(0, len);

	parent = fork();
	ASSERT_LE(0, parent);
	if (!parent) {
		/* No ASSERT in here: the messages go up the pipe. */
		close(up[0]);
		close(alive[0]);
		if (map_ok(m, 0, len, 1, msg, "the parent") &&
		    (map_stats(m, &st) || st.file_pmd != (long long)len / 1024))
			snprintf(msg, MSG_LEN, "the parent: FilePmdMapped %lld kB, expected %zu",
				 st.file_pmd, len / 1024);
		if (!msg[0])
			child = fork();
		if (child < 0)
			snprintf(msg, MSG_LEN, "fork: %s", strerror(errno));
		if (child > 0)	/* the parent: exits, closing its end of alive */
			_exit(0);
		if (!msg[0]) {
			close(alive[1]);
			while (read(alive[0], &c, 1) > 0)	/* the parent's exit */
				;
			if (map_ok(m, 0, len, 1, msg, "the child, its parent gone") &&
			    (map_stats(m, &st) || st.file_pmd != (long long)len / 1024))
				snprintf(msg, MSG_LEN,
					 "the child: FilePmdMapped %lld kB, expected %zu",
					 st.file_pmd, len / 1024);
			pattern_fill(m + q, q, 64, 2);
		}
		if (write(up[1], msg, MSG_LEN) != MSG_LEN)
			_exit(2);
		_exit(msg[0] ? 1 : 0);
	}
	close(up[1]);
	close(alive[0]);
	close(alive[1]);
	ASSERT_EQ(MSG_LEN, read(up[0], msg, MSG_LEN)) TH_LOG("no word from the processes");
	close(up[0]);
	/* The parent, then the child (if it was forked) handed to the test. */
	while (wait(NULL) > 0)
		;
	ASSERT_EQ('\0', msg[0]) TH_LOG("%s", msg);
	check_dev(_metadata, self->fd, q, 64, 2, "the child's store");
	check_map(_metadata, m + q, q, 64, 2, "the child's store, in the test's mapping");
	check_map(_metadata, m, 0, q, 1, "the rest");
	get_info(_metadata, self->fd, &info);
	EXPECT_EQ(1U, info.mappings) TH_LOG("the processes' mappings still count");
}

/*
 * munmap() of one page inside a PMD-mapped quantum splits the entry: the
 * rest of that quantum is mapped again by PTEs, the other quantum stays
 * one PMD entry, the data is right, and the kernel's count of mapped file
 * pages follows the page tables all the way (a PMD dropped without its
 * count is the "Bad rss-counter" at exit, which a child tries too).
 */
TEST_F(huge, split_by_munmap)
{
	const size_t q = self->q, page = self->page, len = 2 * q;
	const size_t cut = q / 2;	/* the page unmapped */
	struct map_stats before, after;
	int kmsg, status, i, bad = 0;
	long long base;
	char *m;
	pid_t pid;

	write_device(_metadata, self->fd, 0, len, 1);
	kmsg = kmsg_open();
	m = map_shared(0, len);
	base = rss_file_kib();
	touch_quanta(_metadata, m, len, q);
	check_pmd_kib(_metadata, m, len / 1024, "before the split");
	check_rss_file(_metadata, base + len / 1024, "before the split");

	ASSERT_EQ(0, munmap(m + cut, page));
	stats(_metadata, m, &before);
	stats(_metadata, m + cut + page, &after);
	EXPECT_EQ(0, before.file_pmd + after.file_pmd - self->q_kib)
		TH_LOG("FilePmdMapped %lld + %lld kB: only quantum 1 is whole",
		       before.file_pmd, after.file_pmd);
	check_rss_file(_metadata, base + before.rss + after.rss, "after the split");
	check_map(_metadata, m, 0, cut, 1, "before the unmapped page");
	check_map(_metadata, m + cut + page, cut + page, len - cut - page, 1,
		  "after the unmapped page");
	stats(_metadata, m, &before);
	stats(_metadata, m + cut + page, &after);
	EXPECT_EQ((long long)(len - page) / 1024, before.rss + after.rss);
	check_rss_file(_metadata, base + (len - page) / 1024, "split, all touched");
	pattern_fill(m + q - 8, q - 8, 16, 2);
	check_dev(_metadata, self->fd, q - 8, 16, 2, "a store across the quanta");

	ASSERT_EQ(0, munmap(m, len));
	moved_map(&self->maps.list, m, NULL, 0);
	check_rss_file(_metadata, base, "all unmapped");

	/* The same in a child, which exits with the pieces still mapped. */
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		char *c = mmap(m, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
			       self->fd, 0);
		size_t j;

		if (c != m || madvise(c, len, MADV_HUGEPAGE))
			_exit(2);
		for (j = 0; j < len; j += q)
			__atomic_load_n(c + j, __ATOMIC_RELAXED);
		munmap(c + cut, page);
		for (j = cut + page; j < len; j += page)
			__atomic_load_n(c + j, __ATOMIC_RELAXED);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status)) TH_LOG("status %#x", status);
	/* The mm may outlive the exit a moment, as another CPU's lazy mm. */
	for (i = 0; kmsg >= 0 && i < 5 && !bad; i++) {
		usleep(100000);
		bad = kmsg_find(kmsg, "Bad rss-counter");
	}
	EXPECT_FALSE(bad) TH_LOG("the kernel logged a Bad rss-counter state");
	if (kmsg >= 0)
		close(kmsg);
}

/*
 * mremap() of a PMD-mapped range to a place where PMD entries fit, then to
 * one a page off: the data moves with it, PMD-mapped at the first place,
 * by PTEs at the second, and the count of mapped file pages stays right.
 */
TEST_F(huge, mremap)
{
	const size_t q = self->q, len = 2 * q;
	struct map_stats st;
	long long base;
	char *m, *to, *got;

	write_device(_metadata, self->fd, 0, len, 1);
	m = map_shared(0, len);
	base = rss_file_kib();
	touch_quanta(_metadata, m, len, q);
	check_pmd_kib(_metadata, m, len / 1024, "before mremap");

	/* The targets: reserved, so that nothing else lies there. */
	to = map_at(_metadata, &self->maps, 0, len, MAP_PRIVATE, 0);
	got = mremap(m, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, to);
	ASSERT_EQ(to, got) TH_LOG("mremap to a PMD boundary: %s", strerror(errno));
	moved_map(&self->maps.list, m, NULL, 0);
	check_map(_metadata, to, 0, len, 1, "moved to a PMD boundary");
	check_pmd_kib(_metadata, to, len / 1024, "moved to a PMD boundary");
	check_rss_file(_metadata, base + len / 1024, "moved to a PMD boundary");

	m = to;
	to = map_at(_metadata, &self->maps, 0, len, MAP_PRIVATE, self->page);
	got = mremap(m, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, to);
	ASSERT_EQ(to, got) TH_LOG("mremap a page off a PMD boundary: %s", strerror(errno));
	moved_map(&self->maps.list, m, NULL, 0);
	check_map(_metadata, to, 0, len, 1, "moved a page off a PMD boundary");
	stats(_metadata, to, &st);
	EXPECT_EQ(0, st.file_pmd) TH_LOG("PMD-mapped a page off a PMD boundary");
	EXPECT_EQ((long long)len / 1024, st.rss);
	check_rss_file(_metadata, base + len / 1024, "moved a page off a PMD boundary");
	pattern_fill(to + q - 8, q - 8, 16, 2);
	check_dev(_metadata, self->fd, q - 8, 16, 2, "a store into the moved mapping");
	ASSERT_EQ(0, munmap(to, len));
	moved_map(&self->maps.list, to, NULL, 0);
	check_rss_file(_metadata, base, "unmapped");
}

/*
 * mprotect() of one page inside a PMD-mapped quantum: that page refuses
 * stores, the rest of the quantum takes them (by PTEs now), the other
 * quantum stays PMD-mapped; made writable again, it takes them too.
 */
TEST_F(huge, mprotect_part)
{
	const size_t q = self->q, page = self->page, len = 2 * q;
	const size_t ro = q / 2;
	long long base;
	char *m;

	write_device(_metadata, self->fd, 0, len, 1);
	m = map_shared(0, len);
	base = rss_file_kib();
	touch_quanta(_metadata, m, len, q);
	ASSERT_EQ(0, mprotect(m + ro, page, PROT_READ)) TH_LOG("%s", strerror(errno));
	EXPECT_TRUE(store_segfaults(m + ro + 1)) TH_LOG("a store into the read-only page");
	check_pmd_kib(_metadata, m + q, self->q_kib, "the other quantum");
	pattern_fill(m + ro - 8, ro - 8, 8, 2);
	pattern_fill(m + ro + page, ro + page, 8, 2);
	check_dev(_metadata, self->fd, ro - 8, 8, 2, "a store before the read-only page");
	check_dev(_metadata, self->fd, ro, page, 1, "the read-only page");
	check_dev(_metadata, self->fd, ro + page, 8, 2, "a store after the read-only page");
	check_map(_metadata, m, 0, ro - 8, 1, "quantum 0");
	check_map(_metadata, m + ro, ro, page, 1, "the read-only page");
	check_map(_metadata, m + ro + page + 8, ro + page + 8, len - ro - page - 8, 1,
		  "the rest");

	ASSERT_EQ(0, mprotect(m + ro, page, PROT_READ | PROT_WRITE));
	pattern_fill(m + ro, ro, 16, 3);
	check_dev(_metadata, self->fd, ro, 16, 3, "a store into the page made writable");
	check_rss_file(_metadata, base + len / 1024, "all touched");
}

/*
 * vmsplice() from PMD-mapped quanta into a pipe: the pipe holds the
 * folios.  The device emptied, the pipe still gives the old bytes, the
 * device none of them; drained, the driver counts nothing.
 */
TEST_F(huge, vmsplice)
{
	const size_t len = 2 * self->q;
	struct usage usage;
	long long held, max;
	int pipefd[2];
	char *m, *buf;
	ssize_t n;

	write_device(_metadata, self->fd, 0, len, 1);
	m = map_shared(0, len);
	touch_quanta(_metadata, m, len, self->q);
	check_pmd_kib(_metadata, m, len / 1024, "before vmsplice");
	ASSERT_EQ(0, pipe(pipefd));
	vmsplice_all(_metadata, pipefd[1], m, len);
	ASSERT_EQ(0, ioctl(self->fd, SCULLMAP_IOC_RESET));
	check_reads_sigbus(_metadata, m, len, "the mapping, emptied");
	write_device(_metadata, self->fd, 0, len, 2);

	buf = malloc(len);
	ASSERT_NE(NULL, buf);
	for (n = 0; n < (ssize_t)len; ) {
		ssize_t r = read(pipefd[0], buf + n, len - n);

		if (r <= 0)
			break;
		n += r;
	}
	close(pipefd[0]);
	close(pipefd[1]);
	EXPECT_EQ((ssize_t)len, n) TH_LOG("reading the pipe: %s", strerror(errno));
	EXPECT_EQ(-1, pattern_mismatch(buf, 0, len, 1)) TH_LOG("the pipe's bytes changed");
	free(buf);
	check_dev(_metadata, self->fd, 0, len, 2, "the device, written again");
	check_map(_metadata, m, 0, len, 2, "the mapping, written again");

	ASSERT_EQ(0, ioctl(self->fd, SCULLMAP_IOC_RESET));
	ASSERT_EQ(0, read_usage(DEVICE_NAME, &usage, &held, &max));
	EXPECT_EQ(0, usage.pages);
}

/*
 * process_vm_readv() and process_vm_writev() by a child on the test's
 * PMD-mapped quanta: get_user_pages() of another mm through PMD entries.
 */
TEST_F(huge, process_vm_rw)
{
	const size_t q = self->q, len = 2 * q;
	int up[2], status;
	char msg[MSG_LEN] = "";
	pid_t pid, parent = getpid();
	char *m;

	write_device(_metadata, self->fd, 0, len, 1);
	m = map_shared(0, len);
	touch_quanta(_metadata, m, len, q);
	check_pmd_kib(_metadata, m, len / 1024, "before the child's access");
	ASSERT_EQ(0, pipe(up));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		char *buf = malloc(len);
		struct iovec local = { buf, len }, remote = { m, len };
		ssize_t n;

		/* Its own copy of the mapping is dropped: only the test's is read. */
		munmap(m, len);
		n = buf ? process_vm_readv(parent, &local, 1, &remote, 1, 0) : -1;
		if (n != (ssize_t)len)
			snprintf(msg, MSG_LEN, "process_vm_readv: %zd: %s", n, strerror(errno));
		else if (pattern_mismatch(buf, 0, len, 1) != -1)
			snprintf(msg, MSG_LEN, "process_vm_readv gave the wrong bytes");
		if (!msg[0]) {
			pattern_fill(buf, q - 50, 100, 2);
			local.iov_len = 100;
			remote.iov_len = 100;
			remote.iov_base = m + q - 50;
			n = process_vm_writev(parent, &local, 1, &remote, 1, 0);
			if (n != 100)
				snprintf(msg, MSG_LEN, "process_vm_writev: %zd: %s", n,
					 strerror(errno));
		}
		if (write(up[1], msg, MSG_LEN) != MSG_LEN)
			_exit(2);
		_exit(0);
	}
	close(up[1]);
	ASSERT_EQ(MSG_LEN, read(up[0], msg, MSG_LEN)) TH_LOG("no word from the child");
	close(up[0]);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ('\0', msg[0]) TH_LOG("%s", msg);
	check_map(_metadata, m + q - 50, q - 50, 100, 2, "written by process_vm_writev");
	check_dev(_metadata, self->fd, q - 50, 100, 2, "written by process_vm_writev");
	check_map(_metadata, m, 0, q - 50, 1, "the rest");
	check_pmd_kib(_metadata, m, len / 1024, "after the child's access");
}

/*
 * Where address and file offset disagree modulo the PMD size (a page
 * off), or the range has MADV_NOHUGEPAGE, no PMD entry can or may map a
 * quantum: the mapping works by PTEs, with the same bytes.
 */
TEST_F(huge, no_pmd_where_it_cannot)
{
	const size_t q = self->q, page = self->page, len = 2 * q;
	struct map_stats st;
	long faults;
	char *m;

	write_device(_metadata, self->fd, 0, 3 * q, 1);

	m = map_at(_metadata, &self->maps, 0, len, MAP_SHARED, page);
	check_map(_metadata, m, 0, len, 1, "a page off a PMD boundary");
	stats(_metadata, m, &st);
	EXPECT_EQ(0, st.file_pmd) TH_LOG("PMD-mapped at an address a page off");
	EXPECT_EQ((long long)len / 1024, st.rss);

	m = map_at(_metadata, &self->maps, page, len, MAP_SHARED, 0);
	check_map(_metadata, m, page, len, 1, "at a file offset a page off");
	stats(_metadata, m, &st);
	EXPECT_EQ(0, st.file_pmd) TH_LOG("PMD-mapped at a file offset a page off");

	m = map_shared(0, len);
	ASSERT_EQ(0, madvise(m, len, MADV_NOHUGEPAGE));
	faults = minor_faults();
	check_map(_metadata, m, 0, len, 1, "MADV_NOHUGEPAGE");
	/* Not a requirement: what PTEs cost where a PMD could have been. */
	TH_LOG("MADV_NOHUGEPAGE: %ld faults for %zu pages", minor_faults() - faults,
	       len / page);
	stats(_metadata, m, &st);
	EXPECT_EQ(0, st.file_pmd) TH_LOG("PMD-mapped under MADV_NOHUGEPAGE");
	EXPECT_EQ((long long)len / 1024, st.rss);
}

/*
 * THP's "madvise" mode, and a program that never heard of MADV_HUGEPAGE:
 * the driver marks its PMD-capable mappings VM_HUGEPAGE itself, as device
 * DAX does, so that their quanta still map with PMD entries and not a
 * page per fault.  The mode is put back before anything is asserted.
 */
TEST_F(huge, pmd_without_madvise)
{
	const size_t len = 2 * self->q;
	enum thp_mode was = thp_mode();
	struct map_stats st = { .file_pmd = -1 };
	int set, sigbus = 0;
	size_t i;
	char *m;
	char c;

	write_device(_metadata, self->fd, 0, len, 1);
	set = write_text(THP_DIR "enabled", "madvise");
	m = mmap(NULL, len, PROT_READ, MAP_SHARED, self->fd, 0);
	if (!set && m != MAP_FAILED) {
		for (i = 0; i < len; i += self->q)
			sigbus |= read_byte(m + i, &c);
		map_stats(m, &st);
	}
	if (write_text(THP_DIR "enabled", thp_mode_name(was)))
		TH_LOG("could not put THP back to \"%s\"", thp_mode_name(was));
	ASSERT_EQ(0, set) TH_LOG("setting THP to \"madvise\": %s", strerror(errno));
	ASSERT_NE(MAP_FAILED, m) TH_LOG("mmap: %s", strerror(errno));
	track_map(_metadata, &self->maps.list, m, len);
	ASSERT_EQ(0, sigbus) TH_LOG("SIGBUS touching the quanta");
	EXPECT_EQ((long long)len / 1024, st.file_pmd)
		TH_LOG("THP \"madvise\", no MADV_HUGEPAGE: FilePmdMapped %lld kB, expected %lld kB",
		       st.file_pmd, (long long)len / 1024);
	check_map(_metadata, m, 0, len, 1, "THP madvise, no MADV_HUGEPAGE");
}

int main(int argc, char **argv)
{
	struct utsname u;

	huge_order = pmd_order();
	if (!pmd_mappings_expected() || huge_order < 0 || huge_order > SCULLMAP_MAX_ORDER) {
		ksft_print_header();
		ksft_exit_skip("no PMD mappings on %s, THP %s: they need 7.3 on, THP not never\n",
			       uname(&u) ? "?" : u.release, thp_mode_name(thp_mode()));
	}
	return test_harness_run(argc, argv);
}

// SPDX-License-Identifier: GPL-2.0
/*
 * Mapping scullmap devices: data, holes and the end of the device through
 * shared and private mappings, the run of pages one fault maps, emptying a
 * mapped device, fork, munmap and mremap, I/O between a device and its own
 * mappings, and threads faulting while others read and write.  Runs with
 * the module loaded.
 *
 * Each test runs on four devices: the page allocator with quanta of one and
 * of four pages, vmalloc with quanta of one and of sixteen pages.  A quantum
 * set is always four quanta, so a few quanta cross quantum sets.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#include "kselftest_harness.h"
#include "scullmap_test.h"
#include "uapi/scullmap.h"

#define QSET		4	/* quanta per quantum set in every test */
#define MSG_LEN		160	/* a message from a child process */
#define MAX_RUN_PAGES	2048UL	/* fault_maps_a_run's longest mapping */

/* Where memory first differs from what it should hold. */
struct diff {
	long at;		/* index of the first wrong byte */
	int sig;		/* SIGBUS if reading it raised that */
	unsigned char got;
	unsigned char want;
};

/*
 * Compare @len bytes at @addr, a mapping of device offset @off, with the
 * bytes of generation @gen (0: zeros).  The first byte of every
 * page is read with read_byte(), so that a page that faults is reported
 * rather than killing the test.  Returns 1 if all match, else 0 and @d.
 */
static int find_diff(const char *addr, size_t len, off_t off, unsigned int gen,
		     struct diff *d)
{
	size_t page = getpagesize();
	size_t i, start, end;
	char c;

	for (start = 0; start < len; start = end) {
		end = (((uintptr_t)addr + start) / page + 1) * page -
		      (uintptr_t)addr;
		if (end > len)
			end = len;
		d->sig = read_byte(addr + start, &c);
		if (d->sig) {
			d->at = start;
			return 0;
		}
		for (i = start; i < end; i++) {
			unsigned char want = pattern_byte(off + i, gen);

			if ((unsigned char)addr[i] != want) {
				d->at = i;
				d->got = addr[i];
				d->want = want;
				return 0;
			}
		}
	}
	return 1;
}

static void describe(char *msg, size_t size, const char *what, off_t off,
		     const struct diff *d)
{
	if (d->sig)
		snprintf(msg, size, "%s: byte %ld (device offset %#llx) raised SIGBUS",
			 what, d->at, (unsigned long long)off + d->at);
	else
		snprintf(msg, size, "%s: byte %ld (device offset %#llx) is %#x, not %#x",
			 what, d->at, (unsigned long long)off + d->at,
			 d->got, d->want);
}

/* Assert that mapping @addr of device offset @off holds generation @gen. */
static void check_map(struct __test_metadata *_metadata, const char *addr,
		      size_t len, off_t off, unsigned int gen, const char *what)
{
	char msg[MSG_LEN];
	struct diff d;
	int ok = find_diff(addr, len, off, gen, &d);

	if (!ok)
		describe(msg, sizeof(msg), what, off, &d);
	ASSERT_TRUE(ok) TH_LOG("%s", msg);
}

/*
 * Assert that the device holds, at [@off, @off + @len), generation @gen of
 * device offset @from (bytes copied there from @from).
 */
static void check_dev_as(struct __test_metadata *_metadata, int fd, off_t off,
			 size_t len, off_t from, unsigned int gen, const char *what)
{
	unsigned char got = 0;
	char *buf = malloc(len);
	ssize_t n;
	size_t i;

	ASSERT_NE(NULL, buf);
	n = full_pread(fd, buf, len, off);
	for (i = 0; n == (ssize_t)len && i < len; i++) {
		if ((unsigned char)buf[i] != pattern_byte(from + i, gen)) {
			got = buf[i];
			break;
		}
	}
	free(buf);
	ASSERT_EQ((ssize_t)len, n)
		TH_LOG("%s: pread of %zu bytes at %#llx: %s", what, len,
		       (unsigned long long)off, n < 0 ? strerror(errno) : "short");
	ASSERT_EQ(len, i)
		TH_LOG("%s: read() at device offset %#llx gives %#x, not %#x",
		       what, (unsigned long long)off + i, got,
		       pattern_byte(from + i, gen));
}

/* Assert that the device holds generation @gen at [@off, @off + @len). */
static void check_dev(struct __test_metadata *_metadata, int fd, off_t off,
		      size_t len, unsigned int gen, const char *what)
{
	check_dev_as(_metadata, fd, off, len, off, gen, what);
}

/* Assert that reading and writing every page of [@addr, +@len) raise SIGBUS. */
static void check_sigbus(struct __test_metadata *_metadata, char *addr,
			 size_t len, const char *what)
{
	size_t page = getpagesize(), i;

	check_reads_sigbus(_metadata, addr, len, what);
	for (i = 0; i < len; i += page) {
		ASSERT_EQ(SIGBUS, write_byte(addr + i + page - 1, 0x5a))
			TH_LOG("%s: writing page %zu did not raise SIGBUS",
			       what, i / page);
	}
}

/*
 * Store @value at @addr.  Returns 0, or the signal the store raised:
 * SIGSEGV where the mapping does not allow it, SIGBUS where the driver
 * has no page.
 */
static int store_signal(char *addr, char value)
{
	struct sigaction sa = { .sa_handler = sigbus_handler }, old_segv, old_bus;
	int sig;

	sigaction(SIGSEGV, &sa, &old_segv);
	sigaction(SIGBUS, &sa, &old_bus);
	sig = sigsetjmp(sigbus_jmp, 1);
	if (!sig)
		__atomic_store_n(addr, value, __ATOMIC_RELAXED);
	sigaction(SIGSEGV, &old_segv, NULL);
	sigaction(SIGBUS, &old_bus, NULL);
	return sig;
}

static int mappings(struct __test_metadata *_metadata, int fd)
{
	struct scullmap_info info;

	get_info(_metadata, fd, &info);
	return info.mappings;
}

/* Whether no page of [@addr, +@len) is mapped: msync fails with ENOMEM there. */
static int is_unmapped(char *addr, size_t len)
{
	size_t page = getpagesize(), i;

	for (i = 0; i < len; i += page)
		if (msync(addr + i, page, MS_ASYNC) == 0 || errno != ENOMEM)
			return 0;
	return 1;
}

FIXTURE(map) {
	int fd;
	size_t page;
	size_t quantum;		/* bytes in a quantum */
	size_t qset;		/* bytes in a quantum set */
	off_t max_size;
	struct map_list maps;	/* for the teardown to unmap */
	struct scullmap_geometry found;	/* the geometry to restore */
};

DEVICE_VARIANTS(map, "/dev/scullmap1", "/dev/scullmapv1");

FIXTURE_SETUP(map)
{
	struct scullmap_info info;

	setup_device(_metadata, variant->path, variant->order, QSET,
		     &self->fd, &self->found);
	get_info(_metadata, self->fd, &info);
	ASSERT_EQ(variant->backend, info.backend);
	ASSERT_EQ(0U, info.mappings) TH_LOG("mappings left by an earlier test");
	ASSERT_EQ(getpagesize(), (int)info.page_size);
	self->page = info.page_size;
	self->quantum = self->page << info.order;
	self->qset = self->quantum * QSET;
	self->max_size = info.max_size;
}

FIXTURE_TEARDOWN(map)
{
	unmap_listed(&self->maps);
	/* A test may have closed its file to check what outlives it. */
	if (self->fd < 0)
		self->fd = open(variant->path, O_RDWR);
	restore_device(_metadata, self->fd, &self->found);
	close(self->fd);
}

/* mmap [@off, @off + @len) of @fd, and list it in @maps for the teardown. */
static char *map_fd(struct __test_metadata *_metadata, struct map_list *maps,
		    int fd, off_t off, size_t len, int flags)
{
	char *addr;

	addr = mmap(NULL, len, PROT_READ | PROT_WRITE, flags, fd, off);
	ASSERT_NE(MAP_FAILED, addr)
		TH_LOG("mmap of %zu bytes at %#llx (%s): %s", len,
		       (unsigned long long)off,
		       flags & MAP_SHARED ? "shared" : "private", strerror(errno));
	track_map(_metadata, maps, addr, len);
	return addr;
}

/* The whole device, three quantum sets and a quantum, mapped and compared. */
TEST_F(map, whole_device)
{
	size_t len = 3 * self->qset + self->quantum;
	struct scullmap_info info;
	char *m, *p;

	write_device(_metadata, self->fd, 0, len, 1);
	get_info(_metadata, self->fd, &info);
	ASSERT_EQ(len, info.size);
	ASSERT_EQ(3ULL * QSET + 1, info.quanta);

	m = map_fd(_metadata, &self->maps, self->fd, 0, len, MAP_SHARED);
	ASSERT_EQ(1, mappings(_metadata, self->fd));
	check_map(_metadata, m, len, 0, 1, "shared mapping");

	p = map_fd(_metadata, &self->maps, self->fd, 0, len, MAP_PRIVATE);
	ASSERT_EQ(2, mappings(_metadata, self->fd));
	check_map(_metadata, p, len, 0, 1, "private mapping");

	/* Mapping must not change the device. */
	get_info(_metadata, self->fd, &info);
	ASSERT_EQ(len, info.size);
	ASSERT_EQ(3ULL * QSET + 1, info.quanta);
	check_dev(_metadata, self->fd, 0, len, 1, "after mapping");
}

/* Mappings of parts of the device see the data at their own offset. */
TEST_F(map, sections)
{
	size_t page = self->page, q = self->quantum, qs = self->qset;
	size_t len = 2 * qs + q;
	struct {
		const char *what;
		off_t off;
		size_t len;
	} sec[] = {
		{ "a page inside a quantum", q + page, 2 * page },
		{ "the last page of a quantum", q - page, page },
		{ "across two quanta", q - page, 2 * page },
		{ "across two quanta, whole ones", q, 2 * q },
		{ "across two quantum sets", qs - page, 2 * page },
		{ "across three quantum sets", qs - page, qs + 2 * page },
		{ "the last quantum", 2 * qs, q },
	};
	unsigned int i;
	size_t j;
	char *m;

	write_device(_metadata, self->fd, 0, len, 1);
	for (i = 0; i < ARRAY_SIZE(sec); i++) {
		m = map_fd(_metadata, &self->maps, self->fd, sec[i].off, sec[i].len, MAP_SHARED);
		/* Last page first: the order of faults must not matter. */
		for (j = sec[i].len; j > 0; j -= page)
			check_map(_metadata, m + j - page, page,
				  sec[i].off + j - page, 1, sec[i].what);
		check_map(_metadata, m, sec[i].len, sec[i].off, 1, sec[i].what);
		ASSERT_EQ(0, munmap(m, sec[i].len));
		moved_map(&self->maps, m, NULL, 0);
	}
	ASSERT_EQ(0, mappings(_metadata, self->fd));
}

/*
 * A sparse device: quanta 0, 1 and 3 of quantum set 0, none of set 1, and
 * quantum 0 of set 2 hold data.  The holes fault with SIGBUS and stay holes.
 */
TEST_F(map, sparse)
{
	size_t q = self->quantum, qs = self->qset;
	size_t len = 2 * qs + q;
	struct scullmap_info info;
	char *m, *p;
	char zero[64];

	write_device(_metadata, self->fd, 0, 2 * q, 1);
	write_device(_metadata, self->fd, 3 * q, q, 1);
	write_device(_metadata, self->fd, 2 * qs, q, 1);
	get_info(_metadata, self->fd, &info);
	ASSERT_EQ(len, info.size);
	ASSERT_EQ(4ULL, info.quanta);
	/* The holes are holes: read() gives zeros. */
	memset(zero, 0xff, sizeof(zero));
	ASSERT_EQ((ssize_t)sizeof(zero), full_pread(self->fd, zero, sizeof(zero), 2 * q));
	ASSERT_EQ(0, zero[0] | zero[sizeof(zero) - 1]);

	m = map_fd(_metadata, &self->maps, self->fd, 0, len, MAP_SHARED);
	p = map_fd(_metadata, &self->maps, self->fd, 0, len, MAP_PRIVATE);

	check_map(_metadata, m, 2 * q, 0, 1, "data before the hole");
	check_sigbus(_metadata, m + 2 * q, q, "hole of a quantum");
	check_map(_metadata, m + 3 * q, q, 3 * q, 1, "data after the hole");
	check_sigbus(_metadata, m + qs, qs, "hole of a quantum set");
	check_map(_metadata, m + 2 * qs, q, 2 * qs, 1,
		  "data after the missing quantum set");

	check_sigbus(_metadata, p + 2 * q, q, "private, hole of a quantum");
	check_sigbus(_metadata, p + qs, qs, "private, hole of a quantum set");
	check_map(_metadata, p, 2 * q, 0, 1, "private, data before the hole");
	check_map(_metadata, p + 3 * q, q, 3 * q, 1,
		  "private, data after the hole");
	check_map(_metadata, p + 2 * qs, q, 2 * qs, 1,
		  "private, data after the missing quantum set");

	/* Faulting a hole must not fill it. */
	get_info(_metadata, self->fd, &info);
	ASSERT_EQ(4ULL, info.quanta) TH_LOG("a fault in a hole allocated memory");
	ASSERT_EQ(len, info.size);
}

/*
 * The end of the device: the last partial page maps data then zeros, the
 * pages after it fault, and data appended later shows in the same mapping.
 */
TEST_F(map, past_the_end)
{
	size_t page = self->page, q = self->quantum;
	size_t size = q + page + 100;		/* ends inside a page */
	size_t last = q + page;			/* the partial page */
	size_t size2 = q + 2 * page + q + page / 2;	/* after appending */
	size_t len = size2 - size2 % page + 2 * page;
	char *m, *p;

	write_device(_metadata, self->fd, 0, size, 1);
	m = map_fd(_metadata, &self->maps, self->fd, 0, len, MAP_SHARED);
	p = map_fd(_metadata, &self->maps, self->fd, 0, len, MAP_PRIVATE);

	check_map(_metadata, m, size, 0, 1, "data up to the end");
	check_map(_metadata, m + size, page - 100, size, 0,
		  "the rest of the last page (should be zeros)");
	check_sigbus(_metadata, m + last + page, len - last - page,
		     "pages past the end");
	check_map(_metadata, p, size, 0, 1, "private, data up to the end");
	check_map(_metadata, p + size, page - 100, size, 0,
		  "private, the rest of the last page (should be zeros)");
	check_sigbus(_metadata, p + last + page, page,
		     "private, the page past the end");

	/* Append, into a new quantum; the mapping follows. */
	write_device(_metadata, self->fd, size, size2 - size, 1);
	check_map(_metadata, m, size2, 0, 1, "after appending");
	check_map(_metadata, m + size2, page - size2 % page, size2, 0,
		  "the rest of the new last page (should be zeros)");
	check_sigbus(_metadata, m + len - page, page, "the page past the new end");
	check_map(_metadata, p + last, size2 - last, last, 1,
		  "private, after appending");
}

/*
 * Stores through a shared mapping past the end, in the last page, are not
 * data: once a write further on grows the device past them, they read as
 * zeros, as they do in a file.
 */
TEST_F(map, store_past_end_not_data)
{
	size_t page = self->page, end = page / 2;
	unsigned char buf[64];
	char *m, c;
	size_t i;

	write_device(_metadata, self->fd, 0, end, 1);
	m = map_fd(_metadata, &self->maps, self->fd, 0, page, MAP_SHARED);
	ASSERT_EQ(0, write_byte(m + end + 10, 0x7e))
		TH_LOG("the last page maps whole, its tail too");

	/* A write two pages on: the old tail is now inside the device. */
	write_device(_metadata, self->fd, 2 * page, 16, 2);
	ASSERT_EQ((ssize_t)sizeof(buf), pread(self->fd, buf, sizeof(buf), end));
	for (i = 0; i < sizeof(buf) && !buf[i]; i++)
		;
	ASSERT_EQ(sizeof(buf), i)
		TH_LOG("byte %zu after the old end reads %#x: a store past the end became data",
		       i, buf[i]);
	ASSERT_EQ(0, read_byte(m + end + 10, &c));
	ASSERT_EQ(0, c) TH_LOG("the mapping still shows the store past the old end");
	check_map(_metadata, m, end, 0, 1, "the data before the old end");
}

/* The fault_window the module has now: at most this many pages per fault. */
static size_t window_now(struct __test_metadata *_metadata)
{
	FILE *f = fopen("/sys/module/scullmap/parameters/fault_window", "r");
	unsigned int window = 0;
	int got;

	ASSERT_NE(NULL, f) TH_LOG("fault_window: %s", strerror(errno));
	got = fscanf(f, "%u", &window);
	fclose(f);
	ASSERT_EQ(1, got);
	ASSERT_LT(0U, window);
	return window;
}

/*
 * Assert that, of the @pages pages at @addr, exactly [@first, @end) have a
 * page table entry.  mincore() tells: of a device mapping it reports the
 * entries, since the device's address_space caches no pages.
 */
static void check_mapped(struct __test_metadata *_metadata, char *addr,
			 size_t pages, size_t first, size_t end, const char *what)
{
	unsigned char vec[MAX_RUN_PAGES];
	size_t i;

	ASSERT_GE(sizeof(vec), pages);
	ASSERT_EQ(0, mincore(addr, pages * getpagesize(), vec))
		TH_LOG("%s: mincore: %s", what, strerror(errno));
	for (i = 0; i < pages && (vec[i] & 1) == (i >= first && i < end); i++)
		;
	ASSERT_EQ(pages, i)
		TH_LOG("%s: page %zu is %s; only pages [%zu, %zu) should be",
		       what, i, vec[i] & 1 ? "mapped" : "not mapped", first, end);
}

/* Touch page @at of @addr: one read, which must raise no SIGBUS or SIGSEGV. */
static void touch(struct __test_metadata *_metadata, char *addr, size_t at,
		  const char *what)
{
	char c;

	ASSERT_EQ(0, read_byte(addr + at * getpagesize(), &c))
		TH_LOG("%s: touching page %zu raised a signal", what, at);
}

static size_t min_pages(size_t a, size_t b)
{
	return a < b ? a : b;
}

/*
 * Whether a fault maps the whole quantum at @m with one PMD entry: a quantum
 * of the page allocator of the PMD size, where the kernel has the PMD path
 * and the mapping is shared and placed for it (the driver places one of a
 * PMD or more so; huge_test checks that).  Asks for huge pages there, as
 * THP's "madvise" mode needs.
 */
static int maps_whole_quantum(struct __test_metadata *_metadata, char *m,
			      size_t len, size_t quantum, unsigned int backend)
{
	if (backend != SCULLMAP_BACKEND_PAGES || quantum != pmd_size() ||
	    !pmd_mappings_expected() || (uintptr_t)m % quantum || len < quantum)
		return 0;
	EXPECT_EQ(0, madvise(m, len, MADV_HUGEPAGE)) TH_LOG("%s", strerror(errno));
	return 1;
}

/*
 * One fault maps the faulting page and the pages after it, fault_window of
 * them at most, and stops at a hole, at the end of the device and at the
 * end of the VMA; or maps its whole quantum, with one PMD entry, where it
 * can (maps_whole_quantum()).  Each case starts from a fresh mapping, with
 * no entries.
 */
TEST_F(map, fault_maps_a_run)
{
	size_t page = self->page, qp = self->quantum / page;
	size_t window = window_now(_metadata);
	size_t pages = window + 3;
	int huge;
	char *m;

	ASSERT_GE(MAX_RUN_PAGES, pages)
		TH_LOG("fault_window %zu is too big for the test", window);
	/* Data everywhere: the window is the limit. */
	write_device(_metadata, self->fd, 0, pages * page, 1);
	m = map_fd(_metadata, &self->maps, self->fd, 0, pages * page, MAP_SHARED);
	check_mapped(_metadata, m, pages, 0, 0, "before any touch");
	touch(_metadata, m, 1, "window");
	check_mapped(_metadata, m, pages, 1, 1 + window, "window");
	munmap(m, pages * page);
	moved_map(&self->maps, m, NULL, 0);

	/*
	 * Two VMAs: mprotect splits the mapping.  A fault in the first maps
	 * up to its end, none of the second.
	 */
	m = map_fd(_metadata, &self->maps, self->fd, 0, 8 * page, MAP_SHARED);
	ASSERT_EQ(0, mprotect(m + 5 * page, 3 * page, PROT_READ));
	touch(_metadata, m, 2, "end of the VMA");
	check_mapped(_metadata, m, 8, 2, min_pages(2 + window, 5), "end of the VMA");
	munmap(m, 8 * page);
	moved_map(&self->maps, m, NULL, 0);

	/* A hole of a quantum after two quanta of data, then one of data. */
	ASSERT_EQ(0, ioctl(self->fd, SCULLMAP_IOC_RESET));
	write_device(_metadata, self->fd, 0, 2 * qp * page, 1);
	write_device(_metadata, self->fd, 3 * qp * page, qp * page, 1);
	m = map_fd(_metadata, &self->maps, self->fd, 0, 4 * qp * page, MAP_SHARED);
	huge = maps_whole_quantum(_metadata, m, 4 * qp * page, self->quantum,
				  variant->backend);
	touch(_metadata, m, 0, "hole");
	check_mapped(_metadata, m, 4 * qp, 0, huge ? qp : min_pages(window, 2 * qp),
		     huge ? "hole, a PMD entry" : "hole");
	munmap(m, 4 * qp * page);
	moved_map(&self->maps, m, NULL, 0);

	/* The device ends 100 bytes into its third page. */
	ASSERT_EQ(0, ioctl(self->fd, SCULLMAP_IOC_RESET));
	write_device(_metadata, self->fd, 0, 2 * page + 100, 1);
	m = map_fd(_metadata, &self->maps, self->fd, 0, 6 * page, MAP_SHARED);
	touch(_metadata, m, 0, "end of the device");
	check_mapped(_metadata, m, 6, 0, min_pages(window, 3), "end of the device");
}

/* MAP_SHARED stores are the device's bytes: read() and write() see them. */
TEST_F(map, shared_coherent)
{
	size_t page = self->page, q = self->quantum;
	size_t len = 2 * q + 2 * page;
	char *m, *m2;
	char buf[16];

	write_device(_metadata, self->fd, 0, len, 1);
	m = map_fd(_metadata, &self->maps, self->fd, 0, len, MAP_SHARED);
	m2 = map_fd(_metadata, &self->maps, self->fd, q, len - q, MAP_SHARED);
	check_map(_metadata, m, len, 0, 1, "before the stores");

	/* Stores into the mapping, read back with read(). */
	pattern_fill(m + 10, 10, 16, 2);
	pattern_fill(m + q + page + 3, q + page + 3, 16, 2);
	ASSERT_EQ(16, full_pread(self->fd, buf, 16, 10));
	ASSERT_EQ(0, memcmp(buf, m + 10, 16))
		TH_LOG("read() does not see a store into the mapping");
	ASSERT_EQ(16, full_pread(self->fd, buf, 16, q + page + 3));
	ASSERT_EQ(0, memcmp(buf, m + q + page + 3, 16))
		TH_LOG("read() does not see a store into the mapping");
	check_map(_metadata, m2 + page + 3, 16, q + page + 3, 2,
		  "another mapping, after a store into the first");

	/* write() seen by the mapping, already faulted in, at once. */
	write_device(_metadata, self->fd, 0, len, 3);
	check_map(_metadata, m, len, 0, 3, "after write()");
	check_map(_metadata, m2, len - q, q, 3, "another mapping, after write()");

	/* A whole page stored through the mapping. */
	pattern_fill(m + q, q, page, 4);
	check_dev(_metadata, self->fd, q, page, 4, "a page stored through the mapping");
	check_dev(_metadata, self->fd, q + page, len - q - page, 3,
		  "the page after the stored one");
}

/* MAP_PRIVATE stores are copy-on-write: never in the device. */
TEST_F(map, private_cow)
{
	size_t page = self->page, q = self->quantum;
	size_t len = 2 * q + 2 * page;
	size_t w1 = 0;			/* read, then stored to */
	size_t r = page;		/* only read */
	size_t w2 = q + page;		/* stored to, never read before */
	size_t rest = q + 2 * page;	/* never touched, to the end */
	char *p, *m;
	char c;

	write_device(_metadata, self->fd, 0, len, 1);
	p = map_fd(_metadata, &self->maps, self->fd, 0, len, MAP_PRIVATE);
	m = map_fd(_metadata, &self->maps, self->fd, 0, len, MAP_SHARED);

	ASSERT_EQ(0, read_byte(p + w1, &c));
	ASSERT_EQ(pattern_byte(w1, 1), (unsigned char)c);
	ASSERT_EQ(0, read_byte(p + r, &c));
	ASSERT_EQ(pattern_byte(r, 1), (unsigned char)c);
	pattern_fill(p + w1 + 5, w1 + 5, 20, 2);
	ASSERT_EQ(0, write_byte(p + w2 + 7, pattern_byte(w2 + 7, 2)));
	check_map(_metadata, p + w1 + 5, 20, w1 + 5, 2,
		  "private store after a read");
	check_map(_metadata, p + w2 + 7, 1, w2 + 7, 2,
		  "private store, no read before");

	check_dev(_metadata, self->fd, 0, len, 1, "device after private stores");
	check_map(_metadata, m, len, 0, 1, "shared mapping after private stores");

	/* The pages not stored to still track the device. */
	write_device(_metadata, self->fd, 0, len, 3);
	check_map(_metadata, p + w1 + 5, 20, w1 + 5, 2,
		  "private copy after write()");
	check_map(_metadata, p + w2 + 7, 1, w2 + 7, 2,
		  "private copy after write()");
	check_map(_metadata, p + r, page, r, 3,
		  "private page read before write(), never stored to");
	check_map(_metadata, p + rest, len - rest, rest, 3,
		  "private pages never touched before write()");
	check_map(_metadata, m, len, 0, 3, "shared mapping after write()");
}

/* A child sees the data, its shared stores reach the parent, and its VMAs count. */
TEST_F(map, fork)
{
	size_t page = self->page;
	size_t len = 2 * self->qset;
	int up[2], down[2], status;
	char msg[MSG_LEN];
	char *m, *p, c;
	struct diff d;
	pid_t pid;

	write_device(_metadata, self->fd, 0, len, 1);
	m = map_fd(_metadata, &self->maps, self->fd, 0, len, MAP_SHARED);
	p = map_fd(_metadata, &self->maps, self->fd, 0, len, MAP_PRIVATE);
	/* Leave the last page unfaulted in the parent. */
	check_map(_metadata, m, len - page, 0, 1, "parent, before fork");
	check_map(_metadata, p, page, 0, 1, "parent private, before fork");
	ASSERT_EQ(2, mappings(_metadata, self->fd));
	ASSERT_EQ(0, pipe(up));
	ASSERT_EQ(0, pipe(down));

	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		/* No ASSERT here: the parent reports what the child says. */
		close(up[0]);
		close(down[1]);
		msg[0] = '\0';
		if (!find_diff(m, len, 0, 1, &d)) {
			describe(msg, sizeof(msg), "child, shared", 0, &d);
		} else if (!find_diff(p, len, 0, 1, &d)) {
			describe(msg, sizeof(msg), "child, private", 0, &d);
		} else {
			pattern_fill(m + page, page, page, 2);
			pattern_fill(m + len - page, len - page, page, 2);
			p[0] = ~pattern_byte(0, 1);
		}
		if (write(up[1], msg, sizeof(msg)) != sizeof(msg))
			_exit(2);
		/* Live, with the mappings, until the parent closes the pipe. */
		while (read(down[0], &c, 1) > 0)
			;
		_exit(msg[0] ? 1 : 0);
	}
	close(up[1]);
	close(down[0]);
	ASSERT_EQ((ssize_t)sizeof(msg), read(up[0], msg, sizeof(msg)))
		TH_LOG("the child died before it reported");
	EXPECT_EQ('\0', msg[0]) TH_LOG("%s", msg);
	EXPECT_EQ(4, mappings(_metadata, self->fd))
		TH_LOG("the child's copies of the two mappings are not counted");
	close(down[1]);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
		TH_LOG("child status %#x", status);
	ASSERT_EQ(2, mappings(_metadata, self->fd))
		TH_LOG("the child's mappings are still counted after it exited");

	check_map(_metadata, m, page, 0, 1, "parent, page 0");
	check_map(_metadata, m + page, page, page, 2,
		  "parent, a page the child stored to");
	check_map(_metadata, m + 2 * page, len - 3 * page, 2 * page, 1,
		  "parent, pages the child left alone");
	check_map(_metadata, m + len - page, page, len - page, 2,
		  "parent, a page the child stored to, not faulted in before");
	check_dev(_metadata, self->fd, page, page, 2, "the child's store");
	check_map(_metadata, p, 1, 0, 1, "parent private, after the child's private store");
	check_map(_metadata, p + page, page, page, 2,
		  "parent private, a page the child stored to (shared)");
	close(up[0]);
}

/* munmap of the middle of a mapping leaves two working pieces. */
TEST_F(map, partial_munmap)
{
	size_t q = self->quantum, qs = self->qset;
	size_t len = qs + 2 * q;
	char *m;

	write_device(_metadata, self->fd, 0, len, 1);
	m = map_fd(_metadata, &self->maps, self->fd, 0, len, MAP_SHARED);
	check_map(_metadata, m, q, 0, 1, "before munmap");
	ASSERT_EQ(1, mappings(_metadata, self->fd));

	/* Punch out [q, qs + q): the rest of quantum set 0 and quantum 4. */
	ASSERT_EQ(0, munmap(m + q, qs));
	ASSERT_EQ(2, mappings(_metadata, self->fd))
		TH_LOG("a mapping split in two should count as two");
	ASSERT_TRUE(is_unmapped(m + q, qs)) TH_LOG("the hole is still mapped");
	check_map(_metadata, m, q, 0, 1, "the piece before the hole");
	check_map(_metadata, m + qs + q, q, qs + q, 1, "the piece after the hole");

	ASSERT_EQ(0, munmap(m, q));
	ASSERT_EQ(1, mappings(_metadata, self->fd));
	check_map(_metadata, m + qs + q, q, qs + q, 1,
		  "the piece after the hole, alone");
	pattern_fill(m + qs + q, qs + q, 8, 2);
	check_dev(_metadata, self->fd, qs + q, 8, 2, "a store into the last piece");

	ASSERT_EQ(0, munmap(m + qs + q, q));
	moved_map(&self->maps, m, NULL, 0);
	ASSERT_EQ(0, mappings(_metadata, self->fd));
}

/* mremap to a fixed address: the data moves with the mapping. */
TEST_F(map, mremap_move)
{
	size_t page = self->page, q = self->quantum;
	size_t len = 2 * q + page;
	char *m, *to, *got;

	write_device(_metadata, self->fd, 0, len, 1);
	m = map_fd(_metadata, &self->maps, self->fd, 0, len, MAP_SHARED);
	check_map(_metadata, m, q, 0, 1, "before mremap");	/* half faulted */

	/* Reserve the target so that nothing else is there. */
	to = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, to);
	got = mremap(m, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, to);
	if (got == MAP_FAILED)
		munmap(to, len);
	ASSERT_EQ(to, got) TH_LOG("mremap: %s", strerror(errno));
	moved_map(&self->maps, m, to, len);

	ASSERT_TRUE(is_unmapped(m, len)) TH_LOG("the old address is still mapped");
	ASSERT_EQ(1, mappings(_metadata, self->fd));
	check_map(_metadata, to, len, 0, 1, "after mremap");
	pattern_fill(to + q + 1, q + 1, 8, 2);
	check_dev(_metadata, self->fd, q + 1, 8, 2, "a store into the moved mapping");
}

/* mremap growing a mapping past the end: the new pages fault. */
TEST_F(map, mremap_grow)
{
	size_t page = self->page, q = self->quantum;
	size_t size = q + page + 50;
	size_t len = size - size % page + page;	/* the mapping covers the end */
	size_t len2 = len + 3 * page;
	char *area, *m, *got;

	write_device(_metadata, self->fd, 0, size, 1);
	/*
	 * The mapping is followed by a page of another mapping, so that it
	 * cannot grow in place: growing it must move it.
	 */
	area = map_fd(_metadata, &self->maps, -1, 0, len + page,
		      MAP_PRIVATE | MAP_ANONYMOUS);
	m = mmap(area, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
		 self->fd, 0);
	ASSERT_EQ(area, m) TH_LOG("mmap over a reserved area: %s", strerror(errno));
	check_map(_metadata, m, size, 0, 1, "before mremap");
	ASSERT_EQ(MAP_FAILED, mremap(m, len, len2, 0))
		TH_LOG("the mapping grew in place over another mapping");

	got = mremap(m, len, len2, MREMAP_MAYMOVE);
	ASSERT_NE(MAP_FAILED, got) TH_LOG("mremap growing the mapping: %s", strerror(errno));
	ASSERT_NE(m, got) TH_LOG("the mapping grew in place over another mapping");
	/* Of the reserved area, only the page after the old place is left. */
	moved_map(&self->maps, area, area + len, page);
	track_map(_metadata, &self->maps, got, len2);
	ASSERT_EQ(1, mappings(_metadata, self->fd));
	check_map(_metadata, got, size, 0, 1, "the old part, after mremap");
	check_map(_metadata, got + size, len - size, size, 0,
		  "the rest of the last page, after mremap (should be zeros)");
	check_sigbus(_metadata, got + len, len2 - len, "the new pages, past the end");

	/* Data written there later shows in the grown mapping. */
	write_device(_metadata, self->fd, size, len + page - size, 1);
	check_map(_metadata, got, len + page, 0, 1, "the new page, after a write()");
	check_sigbus(_metadata, got + len + page, len2 - len - page,
		     "the new pages still past the end");
}

/*
 * read() from the device into one of its own mappings, and write() to it
 * from one: the copy faults pages of the device while the driver is inside
 * read() or write().  Nothing may deadlock, and the bytes must be right.
 */
TEST_F(map, io_through_own_mapping)
{
	size_t q = self->quantum, qs = self->qset;
	size_t len = 2 * q;	/* crosses a quantum boundary */
	size_t a = 0, b = qs, c = 2 * qs, d = 3 * qs;
	char *m, *p;

	write_device(_metadata, self->fd, a, len, 1);
	write_device(_metadata, self->fd, b, len, 2);
	write_device(_metadata, self->fd, c, len, 3);
	/* Both cover region d too, which holds no data yet. */
	m = map_fd(_metadata, &self->maps, self->fd, 0, d + len, MAP_SHARED);
	p = map_fd(_metadata, &self->maps, self->fd, 0, d + len, MAP_PRIVATE);

	/* Device region a into the unfaulted shared mapping of region b. */
	ASSERT_EQ((ssize_t)len, full_pread(self->fd, m + b, len, a))
		TH_LOG("read() into a shared mapping of the device: %s",
		       strerror(errno));
	check_map(_metadata, m + b, len, a, 1, "shared mapping read() into");
	check_dev_as(_metadata, self->fd, b, len, a, 1,
		     "device region read() into through its mapping");
	check_map(_metadata, m + a, len, a, 1, "the region read from");

	/* From the unfaulted shared mapping of region c to region d, new. */
	ASSERT_EQ((ssize_t)len, full_pwrite(self->fd, m + c, len, d))
		TH_LOG("write() from a shared mapping of the device: %s",
		       strerror(errno));
	check_dev_as(_metadata, self->fd, d, len, c, 3,
		     "device region written from a shared mapping");
	check_map(_metadata, m + d, len, c, 3,
		  "the shared mapping of the region written");

	/* Device region c into the unfaulted private mapping of region a. */
	ASSERT_EQ((ssize_t)len, full_pread(self->fd, p + a, len, c))
		TH_LOG("read() into a private mapping of the device: %s",
		       strerror(errno));
	check_map(_metadata, p + a, len, c, 3, "private mapping read() into");
	check_dev(_metadata, self->fd, a, len, 1,
		  "device under a private mapping read() into");
	check_map(_metadata, m + a, len, a, 1,
		  "shared mapping of a region read() into privately");

	/* From the unfaulted private mapping of region d over region a. */
	ASSERT_EQ((ssize_t)len, full_pwrite(self->fd, p + d, len, a))
		TH_LOG("write() from a private mapping of the device: %s",
		       strerror(errno));
	check_dev_as(_metadata, self->fd, a, len, c, 3,
		     "device region written from a private mapping");
	check_map(_metadata, m + a, len, c, 3,
		  "the shared mapping of the region written");
}

/*
 * Empty the device while it is mapped (@reset: with RESET, else with an
 * open(O_TRUNC)): every page of every mapping faults, private copies too,
 * and new data written afterwards shows in the same mappings.
 */
static void empty_while_mapped(struct __test_metadata *_metadata,
			       struct map_list *maps, int dev_fd,
			       const char *path, int reset)
{
	struct scullmap_info info;
	size_t page, q, len;
	char *m, *p;
	int fd;

	get_info(_metadata, dev_fd, &info);
	page = info.page_size;
	q = page << info.order;
	len = q * info.qset + q + page;

	write_device(_metadata, dev_fd, 0, len, 1);
	m = map_fd(_metadata, maps, dev_fd, 0, len, MAP_SHARED);
	/* The private mapping through another file, closed at once. */
	fd = open(path, O_RDWR);
	ASSERT_LE(0, fd);
	p = map_fd(_metadata, maps, fd, 0, len, MAP_PRIVATE);
	close(fd);

	check_map(_metadata, m, len, 0, 1, "shared, before emptying");
	check_map(_metadata, p, page, 0, 1, "private, before emptying");
	pattern_fill(p + q, q, 16, 2);	/* a copy-on-write page */
	check_map(_metadata, p + q, 16, q, 2, "private store");

	if (reset) {
		ASSERT_EQ(0, ioctl(dev_fd, SCULLMAP_IOC_RESET))
			TH_LOG("RESET: %s", strerror(errno));
	} else {
		fd = open(path, O_WRONLY | O_TRUNC);
		ASSERT_LE(0, fd) TH_LOG("O_TRUNC: %s", strerror(errno));
		close(fd);
	}
	get_info(_metadata, dev_fd, &info);
	ASSERT_EQ(0ULL, info.size);
	ASSERT_EQ(0ULL, info.quanta);
	ASSERT_EQ(2U, info.mappings) TH_LOG("emptying must not drop mappings");

	check_sigbus(_metadata, m, len, "shared, after emptying");
	check_sigbus(_metadata, p + q, page, "private copy-on-write page, after emptying");
	check_sigbus(_metadata, p, len, "private, after emptying");

	/* Written again: the same mappings show the new data. */
	write_device(_metadata, dev_fd, 0, len, 3);
	check_map(_metadata, m, len, 0, 3, "shared, after writing again");
	check_map(_metadata, p, len, 0, 3, "private, after writing again");
}

/* Quanta of 2 MiB, page by page, on the debug kernel: more than 30 s. */
TEST_F_TIMEOUT(map, empty_with_o_trunc, 120)
{
	empty_while_mapped(_metadata, &self->maps, self->fd, variant->path, 0);
}

TEST_F_TIMEOUT(map, empty_with_reset, 120)
{
	empty_while_mapped(_metadata, &self->maps, self->fd, variant->path, 1);
}

/* Threads faulting a mapping while others read() and write() the device. */
#define FAULTERS	4
#define READERS		2
#define WRITERS		2
#define WORKERS		(FAULTERS + READERS + WRITERS)
#define ROUNDS		8

struct worker {
	pthread_t thread;
	pthread_barrier_t *start;
	int fd;
	char *map;		/* the mapping of the whole device */
	off_t off;		/* this thread's region */
	size_t len;
	char *buf;		/* len bytes */
	char *want;		/* len bytes */
	void *(*fn)(struct worker *w);
	char err[MSG_LEN];	/* empty if all went well */
};

/* Compare w->len bytes at @got with generation @gen; 0 if they match. */
static int worker_check(struct worker *w, const char *got, unsigned int gen,
			const char *what, int round)
{
	size_t i;

	pattern_fill(w->want, w->off, w->len, gen);
	if (!memcmp(got, w->want, w->len))
		return 0;
	for (i = 0; got[i] == w->want[i]; i++)
		;
	snprintf(w->err, sizeof(w->err),
		 "%s, round %d: device offset %#llx is %#x, not %#x", what,
		 round, (unsigned long long)w->off + i, (unsigned char)got[i],
		 (unsigned char)w->want[i]);
	return -1;
}

/*
 * Each round: check the region through the mapping, store the next round's
 * data through it, check that read() sees it, and drop the pages.
 */
static void *faulter(struct worker *w)
{
	char *region = w->map + w->off;
	int r;

	for (r = 0; r < ROUNDS; r++) {
		if (worker_check(w, region, 1 + r, "faulting thread, mapping", r))
			break;
		pattern_fill(region, w->off, w->len, 2 + r);
		if (full_pread(w->fd, w->buf, w->len, w->off) != (ssize_t)w->len) {
			snprintf(w->err, sizeof(w->err), "faulting thread: pread: %s",
				 strerror(errno));
			break;
		}
		if (worker_check(w, w->buf, 2 + r, "faulting thread, read()", r))
			break;
		madvise(region, w->len, MADV_DONTNEED);
	}
	return NULL;
}

/*
 * The reading threads share their regions, never written: each round they
 * check them with read() and through the mapping, and drop the pages, so
 * that they fault the same pages at the same time.
 */
static void *reader(struct worker *w)
{
	int r;

	for (r = 0; r < ROUNDS; r++) {
		if (full_pread(w->fd, w->buf, w->len, w->off) != (ssize_t)w->len) {
			snprintf(w->err, sizeof(w->err), "reading thread: pread: %s",
				 strerror(errno));
			break;
		}
		if (worker_check(w, w->buf, 1, "reading thread, read()", r))
			break;
		if (worker_check(w, w->map + w->off, 1, "reading thread, mapping", r))
			break;
		madvise(w->map + w->off, w->len, MADV_DONTNEED);
	}
	return NULL;
}

/* Writes its region (beyond the end at first) each round, and reads it back. */
static void *writer(struct worker *w)
{
	int r;

	for (r = 0; r < ROUNDS; r++) {
		pattern_fill(w->buf, w->off, w->len, 10 + r);
		if (full_pwrite(w->fd, w->buf, w->len, w->off) != (ssize_t)w->len) {
			snprintf(w->err, sizeof(w->err), "writing thread: pwrite: %s",
				 strerror(errno));
			break;
		}
		memset(w->buf, 0, w->len);
		if (full_pread(w->fd, w->buf, w->len, w->off) != (ssize_t)w->len) {
			snprintf(w->err, sizeof(w->err), "writing thread: pread: %s",
				 strerror(errno));
			break;
		}
		if (worker_check(w, w->buf, 10 + r, "writing thread, read()", r))
			break;
	}
	return NULL;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	pthread_barrier_wait(w->start);
	return w->fn(w);
}

TEST_F(map, threads)
{
	size_t region = self->quantum > 16 * self->page ?
			self->quantum : 16 * self->page;
	size_t len = WORKERS * region;
	struct worker w[WORKERS];
	pthread_barrier_t start;
	char name[32];
	char *m;
	int i;

	/*
	 * Regions in order: one per faulting thread, those the reading threads
	 * share, one per writing thread.  The writers' hold no data yet.
	 */
	write_device(_metadata, self->fd, 0, (FAULTERS + READERS) * region, 1);
	m = map_fd(_metadata, &self->maps, self->fd, 0, len, MAP_SHARED);
	ASSERT_EQ(0, pthread_barrier_init(&start, NULL, WORKERS));
	memset(w, 0, sizeof(w));
	for (i = 0; i < WORKERS; i++) {
		w[i].start = &start;
		w[i].fd = self->fd;
		w[i].map = m;
		w[i].off = i * region;
		w[i].len = region;
		if (i >= FAULTERS && i < FAULTERS + READERS) {
			w[i].off = FAULTERS * region;
			w[i].len = READERS * region;
		}
		w[i].buf = malloc(w[i].len);
		w[i].want = malloc(w[i].len);
		ASSERT_TRUE(w[i].buf && w[i].want);
		w[i].fn = i < FAULTERS ? faulter :
			  i < FAULTERS + READERS ? reader : writer;
	}
	for (i = 0; i < WORKERS; i++)
		ASSERT_EQ(0, pthread_create(&w[i].thread, NULL, worker_main, &w[i]));
	for (i = 0; i < WORKERS; i++)
		ASSERT_EQ(0, pthread_join(w[i].thread, NULL));
	/*
	 * The first thread that failed, found before the assertion: an
	 * EXPECT_*() ... TH_LOG() as the body of a loop without braces logs
	 * after the loop, with i past the end.
	 */
	for (i = 0; i < WORKERS && !w[i].err[0]; i++)
		;
	EXPECT_EQ(WORKERS, i) TH_LOG("thread %d: %s", i, w[i].err);

	/* Everything, through the mapping and read(). */
	for (i = 0; i < WORKERS; i++) {
		unsigned int gen = i < FAULTERS ? 1 + ROUNDS :
			   i < FAULTERS + READERS ? 1 : 10 + ROUNDS - 1;

		snprintf(name, sizeof(name), "region %d, at the end", i);
		check_map(_metadata, m + i * region, region, i * region, gen, name);
		check_dev(_metadata, self->fd, i * region, region, gen, name);
		free(w[i].buf);
		free(w[i].want);
	}
	pthread_barrier_destroy(&start);
}

/*
 * Emptying the device while other threads fault its pages.  The main
 * thread empties the device, alternately with RESET and open(O_TRUNC),
 * and writes it again, generation after generation, each with its own
 * bytes.  Reading threads walk shared and private mappings of it all the
 * while.  Every access must give SIGBUS (the device is empty or not yet
 * written that far) or the bytes of a generation that is current: never a
 * generation emptied before the access began (a mapping left onto old
 * pages), never zeros or anything else (a page freed and reused).  A hang
 * is a failure too, by the harness's timeout.
 */
#define RACE_READERS	3
#define RACE_MSEC	1500
#define RACE_MIN_GENS	4	/* a debug kernel takes seconds for each */
#define RACE_MAX_GENS	200

struct fault_race {
	unsigned int gen;	/* the oldest generation an access may see */
	int stop;
	size_t page;
	size_t pages;		/* pages in the device when it is written */
};

struct race_reader {
	pthread_t thread;
	struct fault_race *race;
	const char *map;
	unsigned long data, sigbus;	/* accesses that gave each answer */
	char err[MSG_LEN];
};

/*
 * SIGBUS in a reading thread: each thread jumps back to its own buffer
 * (the signal of a fault goes to the thread that faulted).
 */
static __thread sigjmp_buf race_jmp;

static void race_sigbus(int sig)
{
	siglongjmp(race_jmp, sig);
}

/*
 * Load the byte at @addr into @value: 0, or SIGBUS if the load raised it.
 * Nothing in this frame changes after sigsetjmp(), so nothing needs to be
 * volatile to survive the jump.
 */
static int race_load(const char *addr, unsigned char *value)
{
	if (sigsetjmp(race_jmp, 1))
		return SIGBUS;
	*value = __atomic_load_n(addr, __ATOMIC_SEQ_CST);
	return 0;
}

static void *race_read(void *arg)
{
	struct race_reader *r = arg;
	struct fault_race *race = r->race;
	unsigned int before, after, gen;
	size_t pg, pass = 0;
	unsigned char got;

	while (!__atomic_load_n(&race->stop, __ATOMIC_SEQ_CST)) {
		for (pg = 0; pg < race->pages; pg++) {
			/* A different byte of the page each pass. */
			size_t off = pg * race->page + (pg * 61 + pass * 17) % race->page;
			const char *addr = r->map + off;

			before = __atomic_load_n(&race->gen, __ATOMIC_SEQ_CST);
			if (race_load(addr, &got)) {
				r->sigbus++;
				continue;
			}
			after = __atomic_load_n(&race->gen, __ATOMIC_SEQ_CST);
			for (gen = before; gen <= after; gen++)
				if (got == pattern_byte(off, gen))
					break;
			if (gen > after) {
				snprintf(r->err, sizeof(r->err),
					 "offset %#zx gave %#x, no generation of %u..%u wrote that",
					 off, got, before, after);
				return NULL;
			}
			r->data++;
		}
		pass++;
	}
	return NULL;
}

/* Empty the device, by RESET or open(O_TRUNC); 0 or an errno. */
static int race_empty(int fd, const char *path, int by_reset)
{
	int tfd;

	if (by_reset)
		return ioctl(fd, SCULLMAP_IOC_RESET) ? errno : 0;
	tfd = open(path, O_WRONLY | O_TRUNC);
	if (tfd < 0)
		return errno;
	close(tfd);
	return 0;
}

TEST_F(map, reset_races_faults)
{
	struct fault_race race = { .page = self->page };
	struct race_reader rd[RACE_READERS] = {};
	struct sigaction sa = { .sa_handler = race_sigbus }, old;
	unsigned long data = 0, sigbus = 0;
	unsigned int gen, gens = 0, i;
	struct timespec t0, t;
	size_t len, pg;
	char *buf, *m, *p;
	long msec = 0;
	int err = 0;

	len = 2 * self->qset > 64 * self->page ? 2 * self->qset : 64 * self->page;
	race.pages = len / self->page;
	buf = malloc(len);
	ASSERT_NE(NULL, buf);
	m = map_fd(_metadata, &self->maps, self->fd, 0, len, MAP_SHARED);
	p = map_fd(_metadata, &self->maps, self->fd, 0, len, MAP_PRIVATE);
	ASSERT_EQ(0, sigaction(SIGBUS, &sa, &old));
	for (i = 0; i < RACE_READERS; i++) {
		rd[i].race = &race;
		rd[i].map = i == RACE_READERS - 1 ? p : m;
		ASSERT_EQ(0, pthread_create(&rd[i].thread, NULL, race_read, &rd[i]));
	}

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (gen = 1; gen <= RACE_MAX_GENS; gen++) {
		/* Once emptying returns, nothing older than @gen may be seen. */
		err = race_empty(self->fd, variant->path, gen & 1);
		if (err)
			break;
		__atomic_store_n(&race.gen, gen, __ATOMIC_SEQ_CST);
		for (pg = 0; pg < race.pages; pg++)
			pattern_fill(buf + pg * self->page, pg * self->page, self->page, gen);
		if (full_pwrite(self->fd, buf, len, 0) != (ssize_t)len) {
			err = errno;
			break;
		}
		gens = gen;
		clock_gettime(CLOCK_MONOTONIC, &t);
		msec = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
		if (gen >= RACE_MIN_GENS && msec >= RACE_MSEC)
			break;
	}
	__atomic_store_n(&race.stop, 1, __ATOMIC_SEQ_CST);
	for (i = 0; i < RACE_READERS; i++)
		pthread_join(rd[i].thread, NULL);
	sigaction(SIGBUS, &old, NULL);
	free(buf);

	EXPECT_EQ(0, err) TH_LOG("emptying or writing, generation %u: %s", gen, strerror(err));
	for (i = 0; i < RACE_READERS; i++) {
		EXPECT_EQ('\0', rd[i].err[0]) TH_LOG("reader %u: %s", i, rd[i].err);
		data += rd[i].data;
		sigbus += rd[i].sigbus;
	}
	TH_LOG("%u generations in %ld ms: %lu accesses saw data, %lu SIGBUS",
	       gens, msec, data, sigbus);
	/* Both answers must have come up, or the race was not run. */
	EXPECT_LT(0UL, data);
	EXPECT_LT(0UL, sigbus);
}

/* mmap refuses unaligned offsets and ranges that end past max_size. */
TEST_F(map, mmap_errors)
{
	size_t page = self->page;
	off_t max = self->max_size;
	char *m;

	ASSERT_EQ(1ULL << 40, (unsigned long long)max);
	write_device(_metadata, self->fd, 0, page, 1);

	m = mmap(NULL, page, PROT_READ, MAP_SHARED, self->fd, page / 2);
	EXPECT_EQ(MAP_FAILED, m) TH_LOG("mmap at an unaligned offset worked");
	EXPECT_EQ(EINVAL, errno);

	m = mmap(NULL, 2 * page, PROT_READ, MAP_SHARED, self->fd, max - page);
	EXPECT_EQ(MAP_FAILED, m) TH_LOG("mmap ending a page past max_size worked");
	EXPECT_EQ(ENXIO, errno);

	m = mmap(NULL, page, PROT_READ, MAP_PRIVATE, self->fd, max);
	EXPECT_EQ(MAP_FAILED, m) TH_LOG("mmap at max_size worked");
	EXPECT_EQ(ENXIO, errno);

	ASSERT_EQ(0, mappings(_metadata, self->fd))
		TH_LOG("a refused mmap left a mapping counted");

	/* Ending exactly at max_size is allowed, and past the end of the data. */
	m = map_fd(_metadata, &self->maps, self->fd, max - page, page, MAP_SHARED);
	ASSERT_EQ(1, mappings(_metadata, self->fd));
	check_sigbus(_metadata, m, page, "the last page below max_size");
}

/*
 * Arguments mmap() refuses, and who refuses them.  The core mm checks the
 * length, the flags and the offset arithmetic before the driver is asked:
 * a zero length or a mapping type that is neither shared nor private is
 * EINVAL, a length that cannot fit the address space ENOMEM, an offset
 * whose end wraps past the 64-bit file range EOVERFLOW, MAP_HUGETLB on
 * anything but hugetlbfs EINVAL, and a flag MAP_SHARED_VALIDATE cannot
 * honour for this file (MAP_SYNC, an unknown bit) EOPNOTSUPP.  What is
 * left is the driver's: a range ending past 1 TiB is ENXIO, the error
 * POSIX gives for a range outside what the object can hold.  No attempt
 * leaves a mapping behind.
 */
TEST_F(map, mmap_bad_args)
{
	const size_t page = self->page;
	const struct {
		size_t len;
		off_t off;
		int flags;
		int err;
		const char *what;
	} cases[] = {
		{ 0, 0, MAP_SHARED, EINVAL, "length 0" },
		{ 0, 0, MAP_PRIVATE, EINVAL, "length 0, private" },
		{ page, 0, 0, EINVAL, "neither MAP_SHARED nor MAP_PRIVATE" },
		{ SIZE_MAX, 0, MAP_SHARED, ENOMEM, "length SIZE_MAX" },
		{ 1UL << 62, 0, MAP_SHARED, ENOMEM, "a length beyond the address space" },
		{ page, -(off_t)page, MAP_SHARED, EOVERFLOW,
		  "the last page of the 64-bit range (offset -PAGE_SIZE)" },
		{ page, 1LL << 62, MAP_SHARED, ENXIO, "offset 2^62" },
		{ page, 1LL << 62, MAP_PRIVATE, ENXIO, "offset 2^62, private" },
		{ 1UL << 41, 0, MAP_SHARED, ENXIO, "2 TiB from offset 0" },
		{ page, 0, MAP_PRIVATE | MAP_HUGETLB, EINVAL, "MAP_HUGETLB" },
		{ page, 0, MAP_SHARED_VALIDATE | MAP_SYNC, EOPNOTSUPP,
		  "MAP_SHARED_VALIDATE | MAP_SYNC" },
		{ page, 0, MAP_SHARED_VALIDATE | 0x800000, EOPNOTSUPP,
		  "MAP_SHARED_VALIDATE with an unknown flag" },
	};
	unsigned int i;
	char *m;

	write_device(_metadata, self->fd, 0, page, 1);
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		errno = 0;
		m = mmap(NULL, cases[i].len, PROT_READ, cases[i].flags, self->fd, cases[i].off);
		if (m != MAP_FAILED)
			munmap(m, cases[i].len);
		EXPECT_EQ(MAP_FAILED, m) TH_LOG("mmap, %s, worked", cases[i].what);
		EXPECT_EQ(cases[i].err, errno)
			TH_LOG("mmap, %s: %s, expected %s", cases[i].what,
			       strerror(errno), strerror(cases[i].err));
	}
	ASSERT_EQ(0, mappings(_metadata, self->fd))
		TH_LOG("a refused mmap left a mapping counted");

	/* MAP_SHARED_VALIDATE with nothing more is MAP_SHARED. */
	m = map_fd(_metadata, &self->maps, self->fd, 0, page, MAP_SHARED_VALIDATE);
	check_map(_metadata, m, page, 0, 1, "MAP_SHARED_VALIDATE");
}

/*
 * The access mode of the file limits its mappings, as for any file, and
 * the core mm enforces it: a mapping needs read access (EACCES on an
 * O_WRONLY file), a shared writable one also write access (EACCES on an
 * O_RDONLY file, at mmap() or at a later mprotect()).  A private writable
 * mapping of an O_RDONLY file is allowed, because its stores never reach
 * the file.  A store into a read-only mapping raises SIGSEGV, and changes
 * nothing.
 */
TEST_F(map, mmap_access_mode)
{
	const size_t page = self->page;
	char *m, *p;
	int rfd, wfd;

	write_device(_metadata, self->fd, 0, 2 * page, 1);
	rfd = open(variant->path, O_RDONLY);
	ASSERT_LE(0, rfd);
	wfd = open(variant->path, O_WRONLY);
	ASSERT_LE(0, wfd);

	errno = 0;
	m = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED, rfd, 0);
	EXPECT_EQ(MAP_FAILED, m) TH_LOG("a shared writable mapping of an O_RDONLY file");
	EXPECT_EQ(EACCES, errno) TH_LOG("shared writable, O_RDONLY: %s", strerror(errno));
	errno = 0;
	m = mmap(NULL, page, PROT_READ, MAP_SHARED, wfd, 0);
	EXPECT_EQ(MAP_FAILED, m) TH_LOG("a mapping of an O_WRONLY file");
	EXPECT_EQ(EACCES, errno) TH_LOG("mapping of an O_WRONLY file: %s", strerror(errno));
	close(wfd);

	m = mmap(NULL, 2 * page, PROT_READ, MAP_SHARED, rfd, 0);
	ASSERT_NE(MAP_FAILED, m) TH_LOG("a read-only shared mapping: %s", strerror(errno));
	self->maps.addr[0] = m;
	self->maps.len[0] = 2 * page;
	errno = 0;
	EXPECT_EQ(-1, mprotect(m, page, PROT_READ | PROT_WRITE))
		TH_LOG("mprotect made a shared mapping of an O_RDONLY file writable");
	EXPECT_EQ(EACCES, errno) TH_LOG("mprotect: %s", strerror(errno));
	EXPECT_EQ(SIGSEGV, store_signal(m + 5, 0x5a))
		TH_LOG("a store into a read-only mapping");

	p = map_fd(_metadata, &self->maps, rfd, 0, 2 * page, MAP_PRIVATE);
	EXPECT_EQ(0, store_signal(p + 5, ~pattern_byte(5, 1)))
		TH_LOG("a store into a private writable mapping of an O_RDONLY file");
	close(rfd);

	check_map(_metadata, m, 2 * page, 0, 1, "the read-only mapping, after the stores");
	check_dev(_metadata, self->fd, 0, 2 * page, 1, "the device, after the stores");
}

/*
 * read() and write() whose user buffer is a mapping of the device itself
 * where it cannot serve the copy: a page in a hole (the copy's fault gets
 * the driver's SIGBUS answer, which the kernel turns into EFAULT for a
 * copy, not a signal) or a read-only mapping (read() must not store
 * through it).  Nothing is copied: EFAULT, and the device is unchanged,
 * the hole still a hole.  A buffer that runs from data into a hole gives
 * a short count of the bytes before the hole.
 */
TEST_F(map, io_faulting_buffer)
{
	const size_t q = self->quantum;
	struct scullmap_info info;
	char *m, *ro;

	/* Quanta 0 and 2 hold data; quantum 1 is a hole. */
	write_device(_metadata, self->fd, 0, q, 1);
	write_device(_metadata, self->fd, 2 * q, q, 2);
	m = map_fd(_metadata, &self->maps, self->fd, 0, 3 * q, MAP_SHARED);

	errno = 0;
	EXPECT_EQ(-1, pwrite(self->fd, m + q, 100, 10)) TH_LOG("write() from a hole");
	EXPECT_EQ(EFAULT, errno) TH_LOG("write() from a hole: %s", strerror(errno));
	errno = 0;
	EXPECT_EQ(-1, pread(self->fd, m + q, 100, 10)) TH_LOG("read() into a hole");
	EXPECT_EQ(EFAULT, errno) TH_LOG("read() into a hole: %s", strerror(errno));

	ro = mmap(NULL, q, PROT_READ, MAP_SHARED, self->fd, 0);
	ASSERT_NE(MAP_FAILED, ro);
	self->maps.addr[1] = ro;
	self->maps.len[1] = q;
	errno = 0;
	EXPECT_EQ(-1, pread(self->fd, ro, 100, 2 * q))
		TH_LOG("read() into a read-only mapping of the device");
	EXPECT_EQ(EFAULT, errno)
		TH_LOG("read() into a read-only mapping: %s", strerror(errno));

	get_info(_metadata, self->fd, &info);
	EXPECT_EQ(3 * q, info.size);
	EXPECT_EQ(2ULL, info.quanta) TH_LOG("a failed copy filled the hole");
	check_dev(_metadata, self->fd, 0, q, 1, "quantum 0, after the failed copies");
	check_dev(_metadata, self->fd, 2 * q, q, 2, "quantum 2, after the failed copies");
	check_sigbus(_metadata, m + q, q, "the hole, after the failed copies");

	/* From data into the hole: the bytes before it, and a short count. */
	EXPECT_EQ(100, pread(self->fd, m + q - 100, 200, 2 * q))
		TH_LOG("read() into a buffer that runs into a hole: %s", strerror(errno));
	check_dev_as(_metadata, self->fd, q - 100, 100, 2 * q, 2,
		     "the bytes read() before the hole");
	EXPECT_EQ(100, pwrite(self->fd, m + q - 100, 200, 3 * q))
		TH_LOG("write() from a buffer that runs into a hole: %s", strerror(errno));
	check_dev_as(_metadata, self->fd, 3 * q, 100, 2 * q, 2,
		     "the bytes written before the hole");
	get_info(_metadata, self->fd, &info);
	EXPECT_EQ(3 * q + 100, info.size);
}

/*
 * mremap() can grow a mapping that ends at 1 TiB beyond it (mmap() would
 * have refused that range; mremap() does not ask the driver).  The pages
 * beyond can never hold data, and raise SIGBUS like any page past the end.
 */
TEST_F(map, mremap_past_max_size)
{
	const size_t page = self->page;
	const off_t last = self->max_size - page;
	char *m, *got;

	write_device(_metadata, self->fd, last, page, 1);
	m = map_fd(_metadata, &self->maps, self->fd, last, page, MAP_SHARED);
	check_map(_metadata, m, page, last, 1, "the last page below 1 TiB");
	got = mremap(m, page, 3 * page, MREMAP_MAYMOVE);
	ASSERT_NE(MAP_FAILED, got) TH_LOG("mremap: %s", strerror(errno));
	moved_map(&self->maps, m, got, 3 * page);
	check_map(_metadata, got, page, last, 1, "the last page, after mremap");
	check_sigbus(_metadata, got + page, 2 * page, "pages beyond 1 TiB");
}

/* A mapping lives on after its file is closed. */
TEST_F(map, outlives_close)
{
	size_t len = self->qset + self->quantum;
	char *m;
	int fd;

	write_device(_metadata, self->fd, 0, len, 1);
	m = map_fd(_metadata, &self->maps, self->fd, 0, len, MAP_SHARED);
	ASSERT_EQ(0, close(self->fd));
	self->fd = -1;

	check_map(_metadata, m, len, 0, 1, "after close()");
	pattern_fill(m + self->quantum, self->quantum, 32, 2);

	fd = open(variant->path, O_RDONLY);
	ASSERT_LE(0, fd);
	EXPECT_EQ(1, mappings(_metadata, fd));
	check_dev(_metadata, fd, self->quantum, 32, 2, "a store after close()");
	ASSERT_EQ(0, munmap(m, len));
	moved_map(&self->maps, m, NULL, 0);
	EXPECT_EQ(0, mappings(_metadata, fd));
	close(fd);
}

TEST_HARNESS_MAIN

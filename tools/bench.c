// SPDX-License-Identifier: GPL-2.0
/*
 * bench - measure scullmap's mmap fault path, read and write, each against a
 * tmpfs file of the same size measured in the same run.
 *
 *	bench [--short] [--reps=N]
 *
 * For three back ends (the page allocator with quanta of one and of four
 * pages, vmalloc with quanta of sixteen pages) it measures the first touch
 * of a shared mapping in order and in a shuffled order, read() and write()
 * with a 1 MiB buffer, the first-touch cost at the end of a sparse 1 GiB
 * device against its start, and the speed-up of two faulting threads over
 * one.  On the one-page and the vmalloc device it also times 4 KiB pread()
 * calls at page-aligned offsets in a shuffled order, and on the one-page
 * device it sweeps the module parameter fault_window, when the driver has
 * it.  Each repetition measures the device and then the file, so that the
 * two see the machine in the same state; there are N of them (15 by
 * default) after one untimed round.  The device's and the file's values
 * are the medians of their N, the ratio is the median of the N
 * per-repetition ratios, device over file.  Only the ratios mean much: the
 * absolute numbers depend on the machine, and under emulation a lot.  For
 * threads2 the values are each side's speed-up of two threads over one,
 * so its ratio is the device's gain over the file's.
 *
 * A fourth back end, pages9, is the page allocator with quanta of the PMD
 * size (2 MiB with 4 KiB pages: the order is computed from the page size
 * and the kernel's hpage_pmd_size): first touch in order and shuffled,
 * read() and write().  Its mappings, and the file's it is compared with,
 * start on a PMD boundary (an address range reserved and mapped over with
 * MAP_FIXED, so it holds whether or not the driver aligns them itself),
 * and the device's get madvise(MADV_HUGEPAGE), which the core mm asks for
 * when THP is in "madvise" mode.  Where the kernel and the driver map a
 * quantum with one PMD entry, that is what it measures; elsewhere (6.1,
 * THP off) it measures the PTE path on large quanta.  A line after the
 * table says which: the faults of one first touch and, where
 * /proc/self/smaps has it, how much of the mapping was PMD-mapped; and
 * what a touch in rand_touch's order costs after a TLB flush, with no
 * fault left to take: the floor of rand_touch on this host.  The file
 * stays plain tmpfs, 4 KiB pages.
 *
 * --short is a smoke test: 8 MiB instead of 64, one repetition, and a sweep
 * of only fault_window 1 and the value the module had.
 *
 * The results are a table, then the same as one line per back end and
 * metric for scripts (tools/plot.sh reads them):
 *
 *	BENCH <backend> <metric> dev=<value> tmpfs=<value> ratio=<value>
 *
 * The data is checked as it is measured (the byte read at every page
 * touched, the first byte of every page read(), the first and last byte of
 * every pread(), a few pages of what write() wrote), so that a broken
 * driver fails the run rather than producing numbers.  Exit status: 0 if
 * every measurement ran, 1 if one failed (stderr says what), 2 for bad
 * usage.  Needs root (the geometry ioctl and the module parameter) and the
 * module loaded; bench.sh does both.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "uapi/scullmap.h"

#define MIB		(1024 * 1024UL)
#define FULL_BYTES	(64 * MIB)	/* mapped, read and written per test */
#define SHORT_BYTES	(8 * MIB)	/* the same, for --short */
#define CHUNK		MIB		/* the buffer of read() and write() */
#define SPARSE_BYTES	(1024 * MIB)	/* the length of end_start's device */
#define EDGE_BYTES	MIB		/* the data at each end of it */
#define QSET		500		/* quanta per quantum set, every device */
#define DEFAULT_REPS	15
#define MAX_REPS	99
#define MAX_ROWS	64
#define WINDOW_PARAM	"/sys/module/scullmap/parameters/fault_window"
#define PREAD_BYTES	4096		/* what one pread() of pread4k reads */
#define THP_DIR		"/sys/kernel/mm/transparent_hugepage"
#define PMD_DEFAULT	(2 * MIB)	/* the PMD size if THP_DIR does not say */

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* The settings of the run, and buffers every test shares. */
struct bench {
	long psz;		/* page size */
	size_t bytes;		/* FULL_BYTES or SHORT_BYTES */
	size_t pages;		/* bytes / psz */
	int reps;
	int is_short;
	unsigned long pmd_size;	/* what one PMD entry maps */
	unsigned int pmd_order;	/* pmd_size is psz << pmd_order */
	char thp[16];		/* THP's mode ("always"...), or "absent" */
	unsigned int *shuffled;	/* rand_touch's order of the pages */
	unsigned char *got;	/* byte read at each page touched, per mapping */
	char *rbuf;		/* read()'s buffer; also builds data to write */
	char *wbuf;		/* write()'s source: one chunk of pattern */
};

/* The device or the tmpfs file a test runs on. */
struct subject {
	const char *path;
	int fd;
	int is_dev;		/* a scullmap device, not the tmpfs file */
	unsigned long align;	/* map at a multiple of this, if not 0 */
	int hugepage;		/* madvise(MADV_HUGEPAGE) its mappings */
};

/* The tests of a back end, in the order run_tests() runs them. */
enum {
	T_TOUCH		= 1 << 0,	/* seq_touch and rand_touch */
	T_READ		= 1 << 1,
	T_PREAD		= 1 << 2,	/* pread4k */
	T_THREADS2	= 1 << 3,
	T_SWEEP		= 1 << 4,	/* the fault_window sweep */
	T_WRITE		= 1 << 5,
	T_END_START	= 1 << 6,
	T_PMD_NOTE	= 1 << 7,	/* say whether first touch maps PMDs */
};

#define T_PTE_ALL	(T_TOUCH | T_READ | T_THREADS2 | T_WRITE | T_END_START)

struct backend {
	const char *name;	/* as the BENCH lines spell it */
	const char *path;
	unsigned int type;	/* SCULLMAP_BACKEND_PAGES or _VMALLOC */
	unsigned int order;	/* a quantum is page size << order bytes */
	int pmd;		/* if set, the order is the PMD's, not @order */
	unsigned int tests;	/* T_* */
};

/*
 * pages9 runs no end_start (a 1 MiB range at each end of a 1 GiB device
 * is not what PMD-sized quanta are for) and no threads2.
 */
static const struct backend backends[] = {
	{ "pages0", "/dev/scullmap1", SCULLMAP_BACKEND_PAGES, 0, 0,
	  T_PTE_ALL | T_PREAD | T_SWEEP },
	{ "pages2", "/dev/scullmap2", SCULLMAP_BACKEND_PAGES, 2, 0, T_PTE_ALL },
	{ "vmalloc4", "/dev/scullmapv1", SCULLMAP_BACKEND_VMALLOC, 4, 0,
	  T_PTE_ALL | T_PREAD },
	{ "pages9", "/dev/scullmap3", SCULLMAP_BACKEND_PAGES, 0, 1,
	  T_TOUCH | T_READ | T_WRITE | T_PMD_NOTE },
};

/* One line of the results: a metric of a back end, device and tmpfs. */
struct row {
	const char *backend;
	char metric[16];
	const char *unit;
	double dev;
	double tmpfs;
	double ratio;		/* dev / tmpfs: see measure() */
};

static struct row rows[MAX_ROWS];
static int nr_rows;

/* Why the fault_window sweep did not run, if it did not. */
static char sweep_note[192];

/* What a first touch of pages9 took: faults, and PMDs where smaps says. */
static char pmd_note[320];

/* Set when madvise(MADV_HUGEPAGE) said EINVAL: the kernel refuses it. */
static int hugepage_refused;

/* What the SIGBUS handler names: set before every touch of a mapping. */
static char touching[96];

static int complain(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("bench: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return -1;
}

/*
 * A touch that faults with SIGBUS means the driver lost data it holds:
 * say which test hit it (write() and strlen() are safe in a handler) and
 * stop.
 */
static void sigbus_handler(int sig)
{
	static const char what[] = "bench: SIGBUS while touching ";
	int ok;

	ok = write(STDERR_FILENO, what, sizeof(what) - 1) > 0 &&
	     write(STDERR_FILENO, touching, strlen(touching)) > 0 &&
	     write(STDERR_FILENO, "\n", 1) > 0;
	_exit(ok ? 1 : 128 + sig);
}

static long long now_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts)) {
		perror("bench: clock_gettime");
		exit(1);
	}
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/*
 * The byte every byte of page @page holds in data written with @seed.  It
 * changes from page to page and between pages far apart, so a quantum found
 * at the wrong place reads wrong; it is never 0, which is what a hole reads.
 */
static unsigned char page_byte(unsigned long page, unsigned int seed)
{
	unsigned char c = ((page + 1000003UL * seed) * 2654435761UL) >> 24;

	return c ? c : 0x5a;
}

static void fill_pattern(char *buf, unsigned long first_page, size_t pages,
			 long psz, unsigned int seed)
{
	size_t i;

	for (i = 0; i < pages; i++)
		memset(buf + i * psz, page_byte(first_page + i, seed), psz);
}

/* Check the bytes @got read at @pages pages from @first_page on. */
static int check_got(const unsigned char *got, size_t pages,
		     unsigned long first_page, unsigned int seed,
		     const char *test, const struct subject *s)
{
	unsigned char want;
	size_t i;

	for (i = 0; i < pages; i++) {
		want = page_byte(first_page + i, seed);
		if (got[i] != want)
			return complain("%s of %s: page %lu reads %#x, not %#x",
					test, s->path, first_page + i, got[i], want);
	}
	return 0;
}

static double median(const double *values, int n)
{
	double sorted[MAX_REPS], v;
	int i, j;

	/* Insertion sort: n is small. */
	for (i = 0; i < n; i++) {
		v = values[i];
		for (j = i; j > 0 && sorted[j - 1] > v; j--)
			sorted[j] = sorted[j - 1];
		sorted[j] = v;
	}
	return n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

/* A fixed shuffle of the pages (Fisher-Yates, xorshift with a fixed seed). */
static void shuffle_pages(unsigned int *order, size_t pages)
{
	unsigned long long x = 0x5c0117a9d00dfeedULL;
	unsigned int tmp;
	size_t i, j;

	for (i = 0; i < pages; i++)
		order[i] = i;
	for (i = pages - 1; i > 0; i--) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		j = x % (i + 1);
		tmp = order[i];
		order[i] = order[j];
		order[j] = tmp;
	}
}

/* File I/O that names what failed. */

static int seek_to(const struct subject *s, off_t off)
{
	if (lseek(s->fd, off, SEEK_SET) != off)
		return complain("lseek %s to %lld: %s", s->path, (long long)off,
				strerror(errno));
	return 0;
}

static int put_bytes(const struct subject *s, const char *buf, size_t len)
{
	ssize_t n;

	while (len) {
		n = write(s->fd, buf, len);
		if (n < 0)
			return complain("write %s: %s", s->path, strerror(errno));
		if (!n)
			return complain("write %s: short write, %zu bytes left",
					s->path, len);
		buf += n;
		len -= n;
	}
	return 0;
}

static int get_bytes(const struct subject *s, char *buf, size_t len)
{
	ssize_t n;

	while (len) {
		n = read(s->fd, buf, len);
		if (n < 0)
			return complain("read %s: %s", s->path, strerror(errno));
		if (!n)
			return complain("read %s: short read, end of file %zu bytes early",
					s->path, len);
		buf += n;
		len -= n;
	}
	return 0;
}

static int check_size(const struct subject *s, off_t want)
{
	off_t size = lseek(s->fd, 0, SEEK_END);

	if (size < 0)
		return complain("lseek %s to its end: %s", s->path, strerror(errno));
	if (size != want)
		return complain("%s is %lld bytes long, not %lld", s->path,
				(long long)size, (long long)want);
	return 0;
}

/* Empty the device (RESET) or the file (ftruncate), and rewind it. */
static int empty(const struct subject *s)
{
	if (s->is_dev && ioctl(s->fd, SCULLMAP_IOC_RESET))
		return complain("ioctl RESET %s: %s", s->path, strerror(errno));
	if (!s->is_dev && ftruncate(s->fd, 0))
		return complain("ftruncate %s: %s", s->path, strerror(errno));
	return seek_to(s, 0);
}

static int get_info(const struct subject *s, struct scullmap_info *info)
{
	if (ioctl(s->fd, SCULLMAP_IOC_GET_INFO, info))
		return complain("ioctl GET_INFO %s: %s", s->path, strerror(errno));
	return 0;
}

/*
 * An address at which @len bytes of a subject from offset @off can be
 * mapped with MAP_FIXED: one that is to @off what a multiple of @align is
 * to a multiple of @align, so that each @align-sized, @align-aligned part
 * of the file lands on an @align boundary.  Only a PMD entry whose address
 * and file offset are both PMD-aligned can map a huge quantum.  A driver
 * may align mappings itself (get_unmapped_area), but not every kernel
 * lets it: this works everywhere.  The range is reserved PROT_NONE, and
 * what the mapping will not cover is given back.
 */
static char *aligned_room(const struct subject *s, off_t off, size_t len)
{
	unsigned long area, addr, align = s->align;
	char *p;

	p = mmap(NULL, len + align, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		complain("mmap %zu bytes to place a mapping of %s: %s",
			 len + align, s->path, strerror(errno));
		return NULL;
	}
	area = (unsigned long)p;
	addr = ((area + align - 1) & ~(align - 1)) + (off & (align - 1));
	if (addr >= area + align)
		addr -= align;
	if ((addr > area && munmap(p, addr - area)) ||
	    (area + len + align > addr + len &&
	     munmap((char *)addr + len, area + len + align - addr - len))) {
		complain("munmap around a mapping of %s: %s", s->path,
			 strerror(errno));
		return NULL;
	}
	return (char *)addr;
}

static char *map_range(const struct subject *s, off_t off, size_t len)
{
	int flags = MAP_SHARED;
	char *addr = NULL, *map;

	if (s->align) {
		addr = aligned_room(s, off, len);
		if (!addr)
			return NULL;
		flags |= MAP_FIXED;
	}
	map = mmap(addr, len, PROT_READ, flags, s->fd, off);
	if (map == MAP_FAILED) {
		complain("mmap %s, %zu bytes at %lld: %s", s->path, len,
			 (long long)off, strerror(errno));
		if (addr)
			munmap(addr, len);
		return NULL;
	}
	/*
	 * Where THP is in "madvise" mode, the core mm asks the driver for a
	 * PMD only in a VMA marked so.  EINVAL: the kernel has no THP, or
	 * will not mark this VMA; the PTE path is what is measured then.
	 */
	if (s->hugepage && madvise(map, len, MADV_HUGEPAGE)) {
		if (errno != EINVAL) {
			complain("madvise %s MADV_HUGEPAGE: %s", s->path,
				 strerror(errno));
			munmap(map, len);
			return NULL;
		}
		hugepage_refused = 1;
	}
	return map;
}

static int unmap_range(const struct subject *s, char *map, size_t len)
{
	if (munmap(map, len))
		return complain("munmap %s: %s", s->path, strerror(errno));
	return 0;
}

/* Touching: one byte per page, kept in @got to be checked untimed. */

static void touch_pages(const char *map, size_t pages, long psz,
			unsigned char *got)
{
	size_t i;

	for (i = 0; i < pages; i++)
		got[i] = map[i * psz];
}

static void touch_shuffled(const char *map, const unsigned int *order,
			   size_t pages, long psz, unsigned char *got)
{
	size_t i, page;

	for (i = 0; i < pages; i++) {
		page = order[i];
		got[page] = map[page * psz];
	}
}

static long long time_touch(const char *map, size_t pages, long psz,
			    unsigned char *got)
{
	long long start = now_ns();

	touch_pages(map, pages, psz, got);
	return now_ns() - start;
}

static void name_touch(const char *test, const struct subject *s)
{
	snprintf(touching, sizeof(touching), "%s of %s", test, s->path);
}

/*
 * One repetition of each test on one subject.  Each stores its value in
 * @value and returns 0, or names what failed and returns -1.
 */

static int seq_touch_once(struct bench *b, const struct subject *s,
			  double *value)
{
	long long ns;
	char *map;

	map = map_range(s, 0, b->bytes);
	if (!map)
		return -1;
	name_touch("seq_touch", s);
	ns = time_touch(map, b->pages, b->psz, b->got);
	if (unmap_range(s, map, b->bytes))
		return -1;
	*value = (double)ns / b->pages;
	return check_got(b->got, b->pages, 0, 0, "seq_touch", s);
}

static int rand_touch_once(struct bench *b, const struct subject *s,
			   double *value)
{
	long long start, ns;
	char *map;

	map = map_range(s, 0, b->bytes);
	if (!map)
		return -1;
	name_touch("rand_touch", s);
	start = now_ns();
	touch_shuffled(map, b->shuffled, b->pages, b->psz, b->got);
	ns = now_ns() - start;
	if (unmap_range(s, map, b->bytes))
		return -1;
	*value = (double)ns / b->pages;
	return check_got(b->got, b->pages, 0, 0, "rand_touch", s);
}

/* Check the first byte of each page of a chunk read from page @first on. */
static int check_chunk(const struct bench *b, const struct subject *s,
		       const char *buf, unsigned long first, unsigned int seed)
{
	size_t pages = CHUNK / b->psz, i;
	unsigned char want, got;

	for (i = 0; i < pages; i++) {
		want = page_byte(first + i, seed);
		got = buf[i * b->psz];
		if (got != want)
			return complain("read of %s: page %lu reads %#x, not %#x",
					s->path, first + i, got, want);
	}
	return 0;
}

static int read_once(struct bench *b, const struct subject *s, double *value)
{
	long long start;
	size_t done;

	if (seek_to(s, 0))
		return -1;
	start = now_ns();
	for (done = 0; done < b->bytes; done += CHUNK) {
		if (get_bytes(s, b->rbuf, CHUNK) ||
		    check_chunk(b, s, b->rbuf, done / b->psz, 0))
			return -1;
	}
	*value = b->bytes * 1e3 / (now_ns() - start);
	return 0;
}

/*
 * PREAD_BYTES at the start of each page, the pages in rand_touch's order:
 * ns per call.  What a call read is kept as one byte per page, the first
 * if the last matches it and 0 (which the pattern never is) if not, and
 * checked untimed.  A page never straddles two quanta, so a short read is
 * a failure, not the short read at a quantum's end that read() may give.
 */
static int pread_once(struct bench *b, const struct subject *s,
		      double *value)
{
	const unsigned char *buf = (const unsigned char *)b->rbuf;
	long long start, ns;
	size_t i, page;
	ssize_t n;

	start = now_ns();
	for (i = 0; i < b->pages; i++) {
		page = b->shuffled[i];
		n = pread(s->fd, b->rbuf, PREAD_BYTES, (off_t)page * b->psz);
		if (n != PREAD_BYTES)
			return complain("pread %s, %d bytes at page %zu: %s", s->path,
					PREAD_BYTES, page,
					n < 0 ? strerror(errno) : "short read");
		b->got[page] = buf[0] == buf[PREAD_BYTES - 1] ? buf[0] : 0;
	}
	ns = now_ns() - start;
	*value = (double)ns / b->pages;
	return check_got(b->got, b->pages, 0, 0, "pread4k", s);
}

/* Check one byte of what write_once() wrote, read back with pread(). */
static int check_written(const struct bench *b, const struct subject *s,
			 unsigned long page)
{
	unsigned char want = page_byte(page % (CHUNK / b->psz), 1), got;
	ssize_t n = pread(s->fd, &got, 1, (off_t)page * b->psz);

	if (n < 0)
		return complain("pread %s: %s", s->path, strerror(errno));
	if (n != 1)
		return complain("pread %s at page %lu: short read", s->path, page);
	if (got != want)
		return complain("write of %s: page %lu reads back %#x, not %#x",
				s->path, page, got, want);
	return 0;
}

/* Every chunk written is the same, wbuf, so nothing is computed timed. */
static int write_once(struct bench *b, const struct subject *s, double *value)
{
	long long start;
	size_t done;

	if (empty(s))
		return -1;
	start = now_ns();
	for (done = 0; done < b->bytes; done += CHUNK)
		if (put_bytes(s, b->wbuf, CHUNK))
			return -1;
	*value = b->bytes * 1e3 / (now_ns() - start);

	if (check_size(s, b->bytes) || check_written(b, s, 0) ||
	    check_written(b, s, b->pages / 2 + 1) ||
	    check_written(b, s, b->pages - 1))
		return -1;
	return 0;
}

/*
 * end_start's two ranges, placed so that their page tables cost the same.
 * Left to mmap, they would be neighbours under one page-table page, and
 * whichever was touched first would pay for it.  Here each lies in a
 * PTE_SPAN of its own, so each first touch allocates one page-table page,
 * and both under one page-middle directory that a touch of a third page in
 * the same PMD_SPAN has already allocated.  The area is an address range
 * reserved, PROT_NONE, to put them in; it costs no memory.
 */
struct edges {
	char *area;		/* AREA_BYTES reserved */
	char *start;		/* the first EDGE_BYTES of the subject */
	char *end;		/* the last EDGE_BYTES */
};

#define PTE_SPAN	(2 * MIB)	/* what one page-table page maps */
#define PMD_SPAN	(1024 * MIB)	/* what one page-middle directory maps */
#define AREA_BYTES	(2 * PMD_SPAN)	/* holds a PMD_SPAN, aligned */

static char *map_at(const struct subject *s, char *addr, off_t off)
{
	char *map = mmap(addr, EDGE_BYTES, PROT_READ, MAP_SHARED | MAP_FIXED,
			 s->fd, off);

	if (map == MAP_FAILED) {
		complain("mmap %s at %lld: %s", s->path, (long long)off,
			 strerror(errno));
		return NULL;
	}
	return map;
}

static int map_edges(const struct subject *s, struct edges *e)
{
	unsigned long aligned;
	char *warm;

	e->area = mmap(NULL, AREA_BYTES, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (e->area == MAP_FAILED)
		return complain("mmap %lu bytes to place end_start's ranges: %s",
				AREA_BYTES, strerror(errno));
	aligned = ((unsigned long)e->area + PMD_SPAN - 1) & ~(PMD_SPAN - 1);
	warm = mmap((char *)aligned + 2 * PTE_SPAN, EDGE_BYTES,
		    PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (warm == MAP_FAILED) {
		complain("mmap a page beside end_start's ranges: %s",
			 strerror(errno));
		goto fail;
	}
	warm[0] = 1;
	e->start = map_at(s, (char *)aligned, 0);
	e->end = map_at(s, (char *)aligned + PTE_SPAN, SPARSE_BYTES - EDGE_BYTES);
	if (e->start && e->end)
		return 0;
fail:
	munmap(e->area, AREA_BYTES);
	return -1;
}

/*
 * Map both ends of the sparse subject that make_sparse() made, touch them
 * one after the other, and add the times to @start_ns and @end_ns.
 */
static int touch_edges(struct bench *b, const struct subject *s,
		       int end_first, long long *start_ns, long long *end_ns)
{
	unsigned long end_page = (SPARSE_BYTES - EDGE_BYTES) / b->psz;
	size_t pages = EDGE_BYTES / b->psz;
	struct edges e = { 0 };

	if (map_edges(s, &e))
		return -1;
	name_touch("end_start", s);
	if (end_first) {
		*end_ns += time_touch(e.end, pages, b->psz, b->got + pages);
		*start_ns += time_touch(e.start, pages, b->psz, b->got);
	} else {
		*start_ns += time_touch(e.start, pages, b->psz, b->got);
		*end_ns += time_touch(e.end, pages, b->psz, b->got + pages);
	}
	if (munmap(e.area, AREA_BYTES))
		return complain("munmap end_start's ranges of %s: %s", s->path,
				strerror(errno));
	if (check_got(b->got, pages, 0, 0, "end_start", s) ||
	    check_got(b->got + pages, pages, end_page, 0, "end_start", s))
		return -1;
	return 0;
}

/*
 * Whichever range is touched first after mapping costs some 20% more under
 * TCG, wherever it lies: so each repetition touches both in both orders,
 * on fresh mappings each time.  With the default fault_window a range is
 * one fault, a fraction of a millisecond, so short that a single
 * interruption of the VM shows in it: so a repetition does that
 * END_START_ROUNDS times.
 */
#define END_START_ROUNDS	16

static int end_start_once(struct bench *b, const struct subject *s,
			  double *value)
{
	long long start_ns = 0, end_ns = 0;
	int round;

	for (round = 0; round < END_START_ROUNDS; round++)
		if (touch_edges(b, s, round % 2, &start_ns, &end_ns))
			return -1;
	*value = (double)end_ns / start_ns;
	return 0;
}

/*
 * threads2 touches this many fresh mappings of the subject per measurement,
 * one after the other.  One mapping takes some 15 ms to touch, and giving
 * each thread a core of its own (guest and host scheduler both) takes
 * milliseconds: in the test VM a separate program whose two threads only
 * computed, 12 ms at a time, ran 0.75 to 1.9 times as fast as one thread.
 * Eight mappings make those milliseconds count for less.
 */
#define THREADS2_MAPS	8

/* Half of the pages of each mapping, touched by one of two threads. */
struct half {
	char **maps;		/* THREADS2_MAPS mappings of the subject */
	size_t first;		/* the first page of the half */
	size_t pages;
	size_t map_pages;	/* pages in a mapping, whole */
	long psz;
	unsigned char *got;	/* got[map * map_pages + page] */
	pthread_barrier_t *start_line;
	long long start;
	long long end;
};

static void touch_maps(struct half *h)
{
	size_t off = h->first;
	int i;

	h->start = now_ns();
	for (i = 0; i < THREADS2_MAPS; i++, off += h->map_pages)
		touch_pages(h->maps[i] + h->first * h->psz, h->pages, h->psz,
			    h->got + off);
	h->end = now_ns();
}

static void *touch_half(void *arg)
{
	struct half *h = arg;

	pthread_barrier_wait(h->start_line);
	touch_maps(h);
	return NULL;
}

/*
 * The calling thread touches the first half and a new one the second, both
 * let go by a barrier: if the thread cannot be made, nobody waits forever.
 * The time runs from the first start to the last end.
 */
static int two_threads_touch(struct bench *b, const struct subject *s,
			     char **maps, long long *ns)
{
	size_t first = b->pages / 2;
	pthread_barrier_t start_line;
	struct half h[2] = {
		{ .maps = maps, .first = 0, .pages = first,
		  .map_pages = b->pages, .psz = b->psz, .got = b->got,
		  .start_line = &start_line },
		{ .maps = maps, .first = first, .pages = b->pages - first,
		  .map_pages = b->pages, .psz = b->psz, .got = b->got,
		  .start_line = &start_line },
	};
	pthread_t thread;
	int err;

	err = pthread_barrier_init(&start_line, NULL, 2);
	if (err)
		return complain("pthread_barrier_init: %s", strerror(err));
	err = pthread_create(&thread, NULL, touch_half, &h[1]);
	if (err) {
		pthread_barrier_destroy(&start_line);
		return complain("pthread_create for %s: %s", s->path,
				strerror(err));
	}
	touch_half(&h[0]);
	err = pthread_join(thread, NULL);
	pthread_barrier_destroy(&start_line);
	if (err)
		return complain("pthread_join for %s: %s", s->path,
				strerror(err));
	*ns = (h[0].end > h[1].end ? h[0].end : h[1].end) -
	      (h[0].start < h[1].start ? h[0].start : h[1].start);
	return 0;
}

/* Map the subject THREADS2_MAPS times, or none if one fails. */
static int map_many(struct bench *b, const struct subject *s, char **maps)
{
	int i;

	for (i = 0; i < THREADS2_MAPS; i++) {
		maps[i] = map_range(s, 0, b->bytes);
		if (!maps[i])
			break;
	}
	if (i == THREADS2_MAPS)
		return 0;
	while (i--)
		unmap_range(s, maps[i], b->bytes);
	return -1;
}

/* Unmap them, and check what the touches of each read. */
static int unmap_many(struct bench *b, const struct subject *s, char **maps,
		      const char *test)
{
	int i, err = 0;

	for (i = 0; i < THREADS2_MAPS; i++)
		err |= unmap_range(s, maps[i], b->bytes);
	for (i = 0; i < THREADS2_MAPS && !err; i++)
		err = check_got(b->got + i * b->pages, b->pages, 0, 0, test, s);
	return err ? -1 : 0;
}

static int threads2_once(struct bench *b, const struct subject *s,
			 double *value)
{
	char *maps[THREADS2_MAPS];
	struct half all = { .maps = maps, .pages = b->pages,
			    .map_pages = b->pages, .psz = b->psz, .got = b->got };
	long long two_ns = 0;

	name_touch("threads2 (one thread)", s);
	if (map_many(b, s, maps))
		return -1;
	touch_maps(&all);
	if (unmap_many(b, s, maps, "threads2, one thread,"))
		return -1;

	name_touch("threads2 (two threads)", s);
	if (map_many(b, s, maps))
		return -1;
	if (two_threads_touch(b, s, maps, &two_ns)) {
		unmap_many(b, s, maps, "threads2, two threads,");
		return -1;
	}
	if (unmap_many(b, s, maps, "threads2, two threads,"))
		return -1;
	*value = (double)(all.end - all.start) / two_ns;
	return 0;
}

/*
 * Run @once on the device and the file in turn, b->reps times each, and
 * record the medians as a row.  The ratio is the median of each
 * repetition's own ratio, not the ratio of the two medians: the machine
 * has slow spells of seconds, which may take the device's median from
 * one spell and the file's from another.
 */
static int measure(struct bench *b, const char *backend, const char *metric,
		   const char *unit, const struct subject *dev,
		   const struct subject *tmp,
		   int (*once)(struct bench *b, const struct subject *s,
			       double *value))
{
	double dev_values[MAX_REPS], tmp_values[MAX_REPS], ratios[MAX_REPS];
	struct row *row;
	int rep;

	if (nr_rows == MAX_ROWS)
		return complain("more than %d results", MAX_ROWS);
	printf(" %s", metric);
	fflush(stdout);
	/* An untimed round first: the first after other work runs cold. */
	if (once(b, dev, &dev_values[0]) || once(b, tmp, &tmp_values[0]))
		return -1;
	for (rep = 0; rep < b->reps; rep++) {
		if (once(b, dev, &dev_values[rep]) ||
		    once(b, tmp, &tmp_values[rep]))
			return -1;
		ratios[rep] = dev_values[rep] / tmp_values[rep];
	}
	row = &rows[nr_rows++];
	row->backend = backend;
	snprintf(row->metric, sizeof(row->metric), "%s", metric);
	row->unit = unit;
	row->dev = median(dev_values, b->reps);
	row->tmpfs = median(tmp_values, b->reps);
	row->ratio = median(ratios, b->reps);
	return 0;
}

/* Fill the subject with b->bytes of the pattern of seed 0. */
static int fill(struct bench *b, const struct subject *s)
{
	size_t chunk_pages = CHUNK / b->psz, done;

	if (empty(s))
		return -1;
	for (done = 0; done < b->bytes; done += CHUNK) {
		fill_pattern(b->rbuf, done / b->psz, chunk_pages, b->psz, 0);
		if (put_bytes(s, b->rbuf, CHUNK))
			return -1;
	}
	return check_size(s, b->bytes);
}

/* The data of a sparse subject at @off: the pattern of seed 0 there. */
static int put_edge(struct bench *b, const struct subject *s, off_t off)
{
	fill_pattern(b->rbuf, off / b->psz, EDGE_BYTES / b->psz, b->psz, 0);
	return seek_to(s, off) || put_bytes(s, b->rbuf, EDGE_BYTES) ? -1 : 0;
}

/*
 * SPARSE_BYTES long with EDGE_BYTES of data at each end and a hole between.
 * The device must hold quanta for the data only.
 */
static int make_sparse(struct bench *b, const struct subject *s)
{
	struct scullmap_info info;
	unsigned long long quantum, want;

	if (empty(s))
		return -1;
	if (!s->is_dev && ftruncate(s->fd, SPARSE_BYTES))
		return complain("ftruncate %s: %s", s->path, strerror(errno));
	if (put_edge(b, s, 0) || put_edge(b, s, SPARSE_BYTES - EDGE_BYTES) ||
	    check_size(s, SPARSE_BYTES))
		return -1;
	if (!s->is_dev)
		return 0;
	if (get_info(s, &info))
		return -1;
	quantum = (unsigned long long)info.page_size << info.order;
	want = (2 * EDGE_BYTES + quantum - 1) / quantum;
	if (info.quanta > want)
		return complain("%s holds %llu quanta for %lu bytes of data: not sparse",
				s->path, (unsigned long long)info.quanta,
				2 * EDGE_BYTES);
	return 0;
}

/* The fault_window module parameter. */

static int window_get(unsigned int *value)
{
	char text[32], *end;
	ssize_t n;
	int fd;

	fd = open(WINDOW_PARAM, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return complain("open %s: %s", WINDOW_PARAM, strerror(errno));
	n = read(fd, text, sizeof(text) - 1);
	if (n < 0) {
		complain("read %s: %s", WINDOW_PARAM, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	text[n] = '\0';
	*value = strtoul(text, &end, 10);
	if (end == text || (*end && *end != '\n'))
		return complain("%s holds \"%s\", not a number", WINDOW_PARAM, text);
	return 0;
}

static int window_set(unsigned int value)
{
	unsigned int now;
	char text[16];
	int fd, len;

	fd = open(WINDOW_PARAM, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return complain("open %s: %s", WINDOW_PARAM, strerror(errno));
	len = snprintf(text, sizeof(text), "%u\n", value);
	if (write(fd, text, len) != len) {
		complain("write %u to %s: %s", value, WINDOW_PARAM, strerror(errno));
		close(fd);
		return -1;
	}
	if (close(fd))
		return complain("close %s: %s", WINDOW_PARAM, strerror(errno));
	if (window_get(&now))
		return -1;
	if (now != value)
		return complain("%s reads %u after writing %u", WINDOW_PARAM, now,
				value);
	return 0;
}

/*
 * Whether the sweep can run: the parameter exists and opens for writing.
 * If not, sweep_note says why.  Returns 1 yes, 0 no, -1 on another error.
 */
static int window_writable(void)
{
	int fd = open(WINDOW_PARAM, O_WRONLY | O_CLOEXEC);

	if (fd >= 0) {
		close(fd);
		return 1;
	}
	if (errno != ENOENT && errno != EACCES && errno != EPERM && errno != EROFS)
		return complain("open %s: %s", WINDOW_PARAM, strerror(errno));
	snprintf(sweep_note, sizeof(sweep_note),
		 "window sweep skipped: %s: %s (no writable fault_window parameter)",
		 WINDOW_PARAM, strerror(errno));
	printf(" (window sweep skipped)");
	return 0;
}

/*
 * seq_touch of the device at each fault_window, against tmpfs measured
 * alongside; the parameter gets its old value back whatever happens.
 */
static int sweep_windows(struct bench *b, const char *backend,
			 const struct subject *dev, const struct subject *tmp)
{
	static const unsigned int full[] = { 1, 4, 16, 32, 64, 128, 256 };
	unsigned int old, pair[2], nr, i;
	const unsigned int *windows;
	char metric[16];
	int err = 0;

	err = window_writable();
	if (err <= 0)
		return err;
	if (window_get(&old))
		return -1;
	if (b->is_short) {
		pair[0] = 1;
		pair[1] = old;
		windows = pair;
		nr = old == 1 ? 1 : 2;
	} else {
		windows = full;
		nr = ARRAY_SIZE(full);
	}
	err = 0;
	for (i = 0; i < nr && !err; i++) {
		snprintf(metric, sizeof(metric), "window%u", windows[i]);
		err = window_set(windows[i]) ||
		      measure(b, backend, metric, "ns/page", dev, tmp,
			      seq_touch_once);
	}
	if (window_set(old))
		err = -1;
	return err ? -1 : 0;
}

/*
 * The FilePmdMapped of the mapping at @map in /proc/self/smaps, in kB; -1
 * if the kernel has no smaps (a tinyconfig kernel may lack
 * PROC_PAGE_MONITOR) or no such field.
 */
static long pmd_mapped_kb(const char *map)
{
	unsigned long start, end;
	char line[256];
	int in_vma = 0;
	long kb = -1;
	FILE *f;

	f = fopen("/proc/self/smaps", "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &start, &end) == 2) {
			if (in_vma)
				break;
			in_vma = start == (unsigned long)map;
		} else if (in_vma && sscanf(line, "FilePmdMapped: %ld kB", &kb) == 1) {
			break;
		}
	}
	fclose(f);
	return kb;
}

/*
 * An untimed first touch of the device, to say in pmd_note what the
 * numbers of a PMD-sized back end measured: the faults it took (one per
 * quantum on the PMD path; with PTEs, one per fault_window) and what smaps
 * says was PMD-mapped.  Then, after a TLB flush, a timed second touch in
 * rand_touch's order, which faults no more: the floor of rand_touch on
 * this host, the TLB and cache misses of the user loop (under QEMU, the
 * refill of its emulated TLB, 4 KiB at a time), which no driver can lower.
 */
static int note_pmd(struct bench *b, const struct backend *be,
		    const struct subject *dev)
{
	struct rusage before, after;
	long long start;
	double retouch_ns;
	long faults, kb;
	char pmd[48];
	char *map;

	map = map_range(dev, 0, b->bytes);
	if (!map)
		return -1;
	name_touch("the PMD check", dev);
	if (getrusage(RUSAGE_SELF, &before))
		return complain("getrusage: %s", strerror(errno));
	touch_pages(map, b->pages, b->psz, b->got);
	if (getrusage(RUSAGE_SELF, &after))
		return complain("getrusage: %s", strerror(errno));
	kb = pmd_mapped_kb(map);
	/*
	 * Taking the access away and giving it back keeps every entry but
	 * flushes the TLB, QEMU's emulated one too: the touch after it pays
	 * what a first touch pays besides the faults.
	 */
	if (mprotect(map, b->bytes, PROT_NONE) ||
	    mprotect(map, b->bytes, PROT_READ)) {
		complain("mprotect %s: %s", dev->path, strerror(errno));
		unmap_range(dev, map, b->bytes);
		return -1;
	}
	start = now_ns();
	touch_shuffled(map, b->shuffled, b->pages, b->psz, b->got);
	retouch_ns = (double)(now_ns() - start) / b->pages;
	if (unmap_range(dev, map, b->bytes) ||
	    check_got(b->got, b->pages, 0, 0, "the PMD check", dev))
		return -1;
	faults = (after.ru_minflt - before.ru_minflt) +
		 (after.ru_majflt - before.ru_majflt);
	if (kb < 0)
		snprintf(pmd, sizeof(pmd), "unknown (smaps has no FilePmdMapped)");
	else
		snprintf(pmd, sizeof(pmd), "%ld KiB", kb);
	snprintf(pmd_note, sizeof(pmd_note),
		 "%s: a first touch of %zu MiB (%zu quanta) took %ld faults; PMD-mapped after it: %s; THP \"%s\"%s; after a TLB flush, a touch in rand_touch's order without faults: %.4g ns/page",
		 be->name, b->bytes / MIB, b->bytes / b->pmd_size, faults, pmd,
		 b->thp, hugepage_refused ? ", madvise(MADV_HUGEPAGE) refused" : "",
		 retouch_ns);
	return 0;
}

/*
 * Empty the device and give it the back end's geometry, with quanta of
 * @order; check it took.
 */
static int open_device(struct subject *dev, const struct backend *be,
		       unsigned int order)
{
	struct scullmap_geometry geo = { .order = order, .qset = QSET };
	struct scullmap_info info;

	dev->fd = open(be->path, O_RDWR | O_CLOEXEC);
	if (dev->fd < 0)
		return complain("open %s: %s", be->path, strerror(errno));
	if (empty(dev))
		return -1;
	if (ioctl(dev->fd, SCULLMAP_IOC_SET_GEOMETRY, &geo))
		return complain("ioctl SET_GEOMETRY %s (order %u, qset %u): %s",
				be->path, geo.order, geo.qset, strerror(errno));
	if (get_info(dev, &info))
		return -1;
	if (info.backend != be->type || info.order != order ||
	    info.qset != QSET)
		return complain("%s: GET_INFO: back end %u, order %u, qset %u; wanted %u, %u, %u",
				be->path, info.backend, info.order, info.qset,
				be->type, order, QSET);
	if (info.size || info.quanta)
		return complain("%s: GET_INFO says %llu bytes in %llu quanta after RESET",
				be->path, (unsigned long long)info.size,
				(unsigned long long)info.quanta);
	if (info.page_size != sysconf(_SC_PAGESIZE))
		return complain("%s: GET_INFO says the page size is %u", be->path,
				info.page_size);
	return 0;
}

/* The back end's tests, in an order that needs the fewest fills. */
static int run_tests(struct bench *b, const struct backend *be,
		     const struct subject *dev, const struct subject *tmp)
{
	const char *name = be->name;
	unsigned int t = be->tests;

	if (fill(b, dev) || fill(b, tmp))
		return -1;
	if ((t & T_TOUCH) &&
	    (measure(b, name, "seq_touch", "ns/page", dev, tmp, seq_touch_once) ||
	     measure(b, name, "rand_touch", "ns/page", dev, tmp, rand_touch_once)))
		return -1;
	if ((t & T_PMD_NOTE) && note_pmd(b, be, dev))
		return -1;
	if ((t & T_READ) &&
	    measure(b, name, "read", "MB/s", dev, tmp, read_once))
		return -1;
	if ((t & T_PREAD) &&
	    measure(b, name, "pread4k", "ns/call", dev, tmp, pread_once))
		return -1;
	if ((t & T_THREADS2) &&
	    measure(b, name, "threads2", "T1/T2", dev, tmp, threads2_once))
		return -1;
	if ((t & T_SWEEP) && sweep_windows(b, name, dev, tmp))
		return -1;
	if ((t & T_WRITE) &&
	    measure(b, name, "write", "MB/s", dev, tmp, write_once))
		return -1;
	if ((t & T_END_START) &&
	    (make_sparse(b, dev) || make_sparse(b, tmp) ||
	     measure(b, name, "end_start", "end/start", dev, tmp,
		     end_start_once)))
		return -1;
	return 0;
}

/*
 * One back end's tests; its device and the file are emptied after.  A
 * PMD-sized back end maps both at PMD boundaries, and asks for huge pages
 * on the device's mappings only: the file stays on 4 KiB pages.
 */
static int run_backend(struct bench *b, const struct backend *be,
		       const struct subject *tmp_file)
{
	struct subject dev = { .path = be->path, .fd = -1, .is_dev = 1 };
	struct subject tmp = *tmp_file;
	unsigned int order = be->pmd ? b->pmd_order : be->order;
	int err;

	if (order > SCULLMAP_MAX_ORDER) {
		snprintf(pmd_note, sizeof(pmd_note),
			 "%s skipped: its order, %u, is above SCULLMAP_MAX_ORDER",
			 be->name, order);
		printf("# %s\n", pmd_note);
		return 0;
	}
	if (be->pmd) {
		dev.align = b->pmd_size;
		tmp.align = b->pmd_size;
		dev.hugepage = 1;
	}
	printf("# %s: %s, order %u, qset %d:", be->name, be->path, order, QSET);
	fflush(stdout);
	err = open_device(&dev, be, order) || run_tests(b, be, &dev, &tmp);
	printf("\n");
	if (dev.fd >= 0) {
		if (empty(&dev))
			err = 1;
		if (close(dev.fd))
			err = complain("close %s: %s", dev.path, strerror(errno));
	}
	if (empty(&tmp))
		err = 1;
	return err ? -1 : 0;
}

/*
 * Four significant digits, but whole numbers without an exponent from 10^4
 * on (pread4k's ns/call): 15923, not 1.592e+04.  Both forms are read by
 * scripts as numbers.
 */
static const char *show(char *buf, size_t size, double value)
{
	if (value >= 1e4 && value < 1e12)
		snprintf(buf, size, "%.0f", value);
	else
		snprintf(buf, size, "%.4g", value);
	return buf;
}

static void print_results(void)
{
	char dev[24], tmpfs[24], ratio[24];
	const struct row *r;
	int i;

	printf("\nratio = dev/tmpfs, the median of each repetition's own.\n");
	printf("ns/page, ns/call: lower is better; ratio < 1 means the device is faster.\n");
	printf("MB/s: higher is better; ratio > 1 means the device is faster.\n");
	printf("end/start: first touch at the end of a sparse 1 GiB device over its start.\n");
	printf("  The goal is ~1.0 for the device: lookups that cost the same at any offset.\n");
	printf("T1/T2: threads2's dev and tmpfs are each one's speed-up of two faulting\n");
	printf("  threads over one; its ratio is the device's gain over tmpfs's gain\n");
	printf("  (1.0: the device scales as tmpfs does on this machine).\n\n");
	printf("%-9s %-11s %-9s %11s %11s %9s\n", "backend", "metric", "unit",
	       "dev", "tmpfs", "ratio");
	for (i = 0; i < nr_rows; i++) {
		r = &rows[i];
		printf("%-9s %-11s %-9s %11s %11s %9s\n", r->backend,
		       r->metric, r->unit, show(dev, sizeof(dev), r->dev),
		       show(tmpfs, sizeof(tmpfs), r->tmpfs),
		       show(ratio, sizeof(ratio), r->ratio));
	}
	if (sweep_note[0])
		printf("# %s\n", sweep_note);
	if (pmd_note[0])
		printf("# %s\n", pmd_note);
	printf("\n");
	for (i = 0; i < nr_rows; i++) {
		r = &rows[i];
		printf("BENCH %s %s dev=%s tmpfs=%s ratio=%s\n", r->backend,
		       r->metric, show(dev, sizeof(dev), r->dev),
		       show(tmpfs, sizeof(tmpfs), r->tmpfs),
		       show(ratio, sizeof(ratio), r->ratio));
	}
}

static int parse_args(int argc, char **argv, struct bench *b)
{
	char *end;
	long reps;
	int i;

	b->reps = 0;
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--short")) {
			b->is_short = 1;
		} else if (!strncmp(argv[i], "--reps=", 7)) {
			reps = strtol(argv[i] + 7, &end, 10);
			if (end == argv[i] + 7 || *end || reps < 1 ||
			    reps > MAX_REPS)
				return -1;
			b->reps = reps;
		} else {
			return -1;
		}
	}
	if (!b->reps)
		b->reps = b->is_short ? 1 : DEFAULT_REPS;
	return 0;
}

/*
 * Read a line of sysfs file @path into @buf; -1 if it cannot be read
 * (THP_DIR is absent on a kernel without THP).
 */
static int read_line(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "re");
	int ok;

	if (!f)
		return -1;
	ok = !!fgets(buf, size, f);
	fclose(f);
	if (!ok)
		return -1;
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/*
 * The PMD size and its order, from THP_DIR/hpage_pmd_size where the kernel
 * has it (else PMD_DEFAULT), and THP's mode: the word in brackets in
 * THP_DIR/enabled ("always [madvise] never").
 */
static int find_pmd(struct bench *b)
{
	char line[96], *left, *right;

	b->pmd_size = PMD_DEFAULT;
	if (!read_line(THP_DIR "/hpage_pmd_size", line, sizeof(line)))
		b->pmd_size = strtoul(line, NULL, 10);
	b->pmd_order = 0;
	while (b->pmd_order < 32 &&
	       ((unsigned long)b->psz << b->pmd_order) < b->pmd_size)
		b->pmd_order++;
	if (((unsigned long)b->psz << b->pmd_order) != b->pmd_size)
		return complain("a PMD maps %lu bytes: not a power of two pages",
				b->pmd_size);
	snprintf(b->thp, sizeof(b->thp), "absent");
	if (!read_line(THP_DIR "/enabled", line, sizeof(line))) {
		left = strchr(line, '[');
		right = left ? strchr(left, ']') : NULL;
		if (right)
			snprintf(b->thp, sizeof(b->thp), "%.*s",
				 (int)(right - left - 1), left + 1);
	}
	return 0;
}

/* Buffers, the page order and the PMD's, sized for the run. */
static int setup(struct bench *b)
{
	struct sigaction sa = { .sa_handler = sigbus_handler };

	b->psz = sysconf(_SC_PAGESIZE);
	if (b->psz < PREAD_BYTES)
		return complain("the page size, %ld, is below %d bytes",
				b->psz, PREAD_BYTES);
	if (find_pmd(b))
		return -1;
	b->bytes = b->is_short ? SHORT_BYTES : FULL_BYTES;
	b->pages = b->bytes / b->psz;
	b->shuffled = calloc(b->pages, sizeof(*b->shuffled));
	b->got = calloc(b->pages, THREADS2_MAPS);
	b->rbuf = malloc(CHUNK);
	b->wbuf = malloc(CHUNK);
	if (!b->shuffled || !b->got || !b->rbuf || !b->wbuf)
		return complain("cannot allocate the buffers");
	shuffle_pages(b->shuffled, b->pages);
	fill_pattern(b->wbuf, 0, CHUNK / b->psz, b->psz, 1);
	if (sigaction(SIGBUS, &sa, NULL))
		return complain("sigaction: %s", strerror(errno));
	return 0;
}

int main(int argc, char **argv)
{
	char tmp_path[] = "/tmp/scullmap-bench.XXXXXX";
	struct subject tmp = { .path = tmp_path, .fd = -1 };
	struct bench b = { 0 };
	long long start;
	unsigned int i;
	int err = 0;

	if (parse_args(argc, argv, &b)) {
		fprintf(stderr, "usage: %s [--short] [--reps=N (1..%d)]\n",
			argv[0], MAX_REPS);
		return 2;
	}
	if (setup(&b))
		return 1;
	tmp.fd = mkstemp(tmp_path);
	if (tmp.fd < 0) {
		complain("mkstemp %s: %s", tmp_path, strerror(errno));
		return 1;
	}

	printf("# bench: %zu MiB per test, median of %d, page size %ld, tmpfs file %s\n",
	       b.bytes / MIB, b.reps, b.psz, tmp_path);
	printf("# bench: a PMD maps %lu KiB (order %u); THP \"%s\"\n",
	       b.pmd_size / 1024, b.pmd_order, b.thp);
	start = now_ns();
	for (i = 0; i < ARRAY_SIZE(backends) && !err; i++)
		err = run_backend(&b, &backends[i], &tmp);

	if (close(tmp.fd))
		err = complain("close %s: %s", tmp_path, strerror(errno));
	if (unlink(tmp_path))
		err = complain("unlink %s: %s", tmp_path, strerror(errno));
	if (err) {
		fprintf(stderr, "bench: failed; no results\n");
		return 1;
	}
	print_results();
	printf("# bench: done in %.1f s\n", (now_ns() - start) / 1e9);
	return 0;
}

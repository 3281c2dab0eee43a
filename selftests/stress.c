// SPDX-License-Identifier: GPL-2.0
/*
 * stress - random mixes of every scullmap operation, from several processes
 * of several threads each, on several devices at once, for a given time.
 *
 *	stress [--seconds=N] [--procs=N] [--threads=N] [--seed=N] DEVICE...
 *
 * A device starts with a hole of one quantum, then the race area of
 * RACE_PAGES pages, which only truncations write: each refills it with the
 * next generation of pattern_byte(), so that a reader knows from counters
 * read around its read which bytes it may see.  Then come the bands: every
 * worker thread owns a band of BAND_PAGES pages on every device, at the
 * same offset on each, and is the only one to write there.  It keeps a
 * model of its bands: the byte it last wrote at each offset, 0 where it
 * wrote nothing since the device was last emptied (its data, of a stamp of
 * its own, is never 0).  After the bands come a scratch area and an append
 * area that nobody models.  Four kinds of operations run in a random mix:
 *
 * - Verified ones hold the device's read lock (a process-shared rwlock),
 *   touch only the worker's own band (or append area, for O_APPEND) and
 *   compare every result with the model: write, read, shared and private
 *   mappings read and stored to, SEEK_DATA/SEEK_HOLE, read() and write()
 *   whose buffer is a mapping of the same device, GET_INFO.
 * - Truncations (open with O_TRUNC, RESET, RESET + SET_GEOMETRY) hold the
 *   write lock, bump the device's generation, which throws every model of
 *   it away, and check that data they mapped and read before is gone: the
 *   first pages of the worker's band, just written, and the race area
 *   raise SIGBUS, SEEK_DATA finds nothing, read() gives zeros; then they
 *   refill the race area, which the mapping made before must show.
 * - Racing reads take no lock: read() and shared mappings of the race
 *   area, checked against the generations the truncation counters allow
 *   (race_byte_ok()), and read again once a truncation they overlapped has
 *   returned.  Each worker process has a racer thread that does only
 *   these, and pounces on truncations with a storm of faults (op_pounce()).
 * - Unverified ones take no lock on purpose, so that they race with the
 *   truncations: mappings at random offsets and lengths over the whole
 *   device and past its end, touched (each access gives data or SIGBUS),
 *   partly unmapped, mremap()ed, MADV_DONTNEED-ed and inherited by a forked
 *   child; read() into and write() from those mappings; lseek() with every
 *   whence; the ioctls with arguments they must refuse.  They may store to
 *   the device only in the scratch area (a shared mapping is stored to only
 *   in the pages it maps there), so they never disturb a model; what they
 *   can check is that each call returns a result or one of the errnos
 *   listed for it.
 *
 * Any mismatch, unlisted errno, SIGSEGV or unexpected SIGBUS fails the run
 * with '#' lines naming the device, offset, expected and actual values and
 * the worker's last operations; so does a run in which a class of expected
 * event (report_events()) never happened.  The parent is a watchdog: workers still
 * running GRACE_SECONDS after the end are killed and the run fails.  Output
 * is TAP.  The seed is printed: --seed=N replays each worker's sequence of
 * operations (not the interleaving of the workers, which the scheduler
 * decides).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kselftest.h"		/* __printf, __always_unused */
#include "scullmap_test.h"	/* full_pread() */
#include "uapi/scullmap.h"

#define MAX_DEVS	8
#define MAX_WORKERS	32	/* 32 bands of 256 KiB: 8 MiB per device */
#define BAND_PAGES	64	/* a worker's band on each device */
#define SCRATCH_PAGES	128	/* unverified writes and stores go here */
#define APPEND_PAGES	128	/* O_APPEND writes go here */
#define MAX_ORDER_USED	4	/* so that a band holds whole quanta: 16 <= 64 pages */
#define MAX_QSET_USED	8	/* small sets, so that bands cross many of them */
#define MAX_MAPS	8	/* unverified mappings a worker holds at once */
#define MAX_MAP_PAGES	32
#define PRE_MAP_PAGES	16	/* pages a truncation maps before, checks after */
#define RACE_PAGES	256	/* the race area: whole quanta, a fault_window */
#define RACE_WORDS	(RACE_PAGES / 64)	/* its holes, a bit a page */
#define STORM_MAPS	2	/* mappings of the race area a racer storms */
#define RACE_SAMPLE	64	/* bytes a lock-free reader checks per page it maps */
#define POUNCE_MS	100	/* a racer waits this long for a truncation */
#define RACER_NAP_US	1000	/* and naps this long after its other reads */
#define ANNOUNCE_US	2000	/* a truncation begins this long after its cue */
#define HISTORY		16	/* operations shown when a worker fails */
#define HISTORY_LEN	112
#define GRACE_SECONDS	120	/* TCG and KASAN make single operations slow */
#define MAX_BYTES	0x10000000000ULL	/* the driver's max_size, 1 TiB */

enum op {
	/* verified: under the device's read lock, against the model */
	OP_WRITE,
	OP_READ,
	OP_MAP_SHARED,
	OP_MAP_PRIVATE,
	OP_SEEK_DATA_HOLE,
	OP_SELF_COPY,
	OP_APPEND,
	OP_INFO,
	/* racing: no lock, verified against the generations of the race area */
	OP_RACE_MAP,
	OP_RACE_READ,
	OP_RACE_POUNCE,
	/* truncations: under the write lock */
	OP_OPEN_TRUNC,
	OP_RESET,
	OP_GEOMETRY,
	/* unverified: no lock */
	OP_MMAP,
	OP_TOUCH,
	OP_MUNMAP_PART,
	OP_MREMAP,
	OP_MADVISE,
	OP_FORK,
	OP_READ_INTO_MAP,
	OP_WRITE_FROM_MAP,
	OP_SCRATCH_IO,
	OP_LSEEK,
	OP_IOCTL,
	OP_NR
};

/*
 * The race area of a device, as its truncations leave it.  Truncation n
 * (counting from 1) empties the device, then refills the race area with
 * generation n + 1 of pattern_byte(), some pages left as holes; setup
 * fills generation 1.  Nothing else writes there, so a reader that takes
 * no lock knows what each byte may be from the counters it read before
 * and after (see race_byte_ok()).
 */
struct race {
	unsigned int announced;	/* truncations that began to prepare */
	unsigned int claimed;	/* the last one a racer pounced on */
	unsigned int started;	/* truncations whose system call began */
	unsigned int done;	/* truncations whose system call returned */
	unsigned int filled;	/* the generation whose fill is complete */
	uint64_t holes[RACE_WORDS];	/* the pages that generation left as holes */
};

/* What all processes share: one MAP_SHARED anonymous region. */
struct shared {
	pthread_rwlock_t lock[MAX_DEVS];	/* read: verified ops; write: truncation */
	unsigned int gen[MAX_DEVS];		/* bumped by each truncation */
	struct race race[MAX_DEVS];
	int failed;
	unsigned long done[OP_NR];		/* operations carried out, by kind */
	unsigned long sigbus;			/* expected SIGBUSes seen */
	unsigned long efault;			/* expected EFAULTs seen */
	unsigned long short_count;		/* read() short of its count, at the end */
	unsigned long ebusy;			/* SET_GEOMETRY refused as not empty */
	unsigned long enospc;
	unsigned long trunc_checked;		/* truncations that verified data */
	unsigned long trunc_sigbus;		/* pages verified before, SIGBUS after */
	unsigned long trunc_new;		/* mapped before, new generation after */
	unsigned long race_reads;		/* lock-free reads verified */
	unsigned long race_raced;		/* of those, overlapping a truncation */
	unsigned long race_rechecked;		/* read again after it returned */
};

/* A worker's band on one device, and the model of its bytes. */
struct band {
	int fd;			/* O_RDWR, the worker's own */
	int fd_ro;		/* O_RDONLY */
	unsigned int gen;	/* the generation of the device the model is for */
	unsigned char *model;	/* the byte last written, 0 for none */
	unsigned char *page_has_data;	/* a byte of the page was written */
	size_t written_end;	/* 1 + the highest written offset, 0 if none */
	char *race_map;		/* the race area, MAP_SHARED, read-only */
	char *storm[STORM_MAPS];	/* a racer's, from offset 0: see op_pounce() */
};

/* An unverified mapping. */
struct mapping {
	char *addr;
	size_t len;
	off_t off;		/* device offset of addr */
	int dev;
	bool shared;
};

struct worker {
	int proc, thread, id;
	uint64_t rng;
	int dev;		/* the device of the current operation */
	enum op op;		/* the current operation */
	bool racer;		/* runs the lock-free readers only */
	bool failed;
	struct band band[MAX_DEVS];
	struct mapping map[MAX_MAPS];
	int nr_maps;
	unsigned int nr_ops;
	char history[HISTORY][HISTORY_LEN];
	unsigned char *buf, *buf2;	/* BAND_PAGES pages each */
};

/* Set up before the fork, read-only afterwards. */
static const char *dev_path[MAX_DEVS];
static struct scullmap_info dev_start_info[MAX_DEVS];
static int nr_devs;
static size_t page;
static size_t band_bytes;
static off_t race_start, scratch_start, append_start, append_end;
/* No device grows past this: appends that race may pass append_end a little. */
static off_t size_max;
static unsigned int total_weight;
static int nr_procs = 3, nr_threads = 3;
static unsigned long seconds = 20;
static uint64_t seed;
static struct timespec end_time;
static struct shared *sh;

/* Where the band of worker @w starts, on every device. */
static off_t band_start(const struct worker *w)
{
	return race_start + RACE_PAGES * page + (off_t)w->id * band_bytes;
}

/* One write() per message, so that lines of several workers never mix. */
static void __printf(1, 2) say(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (len > (int)sizeof(line) - 1)
		len = sizeof(line) - 1;
	if (write(STDOUT_FILENO, line, len) < 0)
		return;
}

static void count(unsigned long *counter)
{
	__atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
}

static bool run_failed(void)
{
	return __atomic_load_n(&sh->failed, __ATOMIC_RELAXED);
}

/* xorshift64*: each worker's sequence depends on the seed alone. */
static uint64_t rnd(struct worker *w)
{
	w->rng ^= w->rng >> 12;
	w->rng ^= w->rng << 25;
	w->rng ^= w->rng >> 27;
	return w->rng * 0x2545f4914f6cdd1dULL;
}

/* A number in [0, n). */
static size_t below(struct worker *w, size_t n)
{
	return n ? rnd(w) % n : 0;
}

/* Record what the worker is about to do, for the report of a failure. */
static void __printf(2, 3)
note(struct worker *w, const char *fmt, ...)
{
	char *line = w->history[w->nr_ops % HISTORY];
	va_list ap;
	int len;

	len = snprintf(line, HISTORY_LEN, "%u %s: ", w->nr_ops, dev_path[w->dev]);
	va_start(ap, fmt);
	vsnprintf(line + len, HISTORY_LEN - len, fmt, ap);
	va_end(ap);
	w->nr_ops++;
}

/* Report a failure of worker @w, with its recent history, and stop the run. */
static void __printf(2, 3)
fail(struct worker *w, const char *fmt, ...)
{
	char msg[512];
	unsigned int i, first;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (w->racer)
		say("# FAIL: racer p%d.t%d on %s, %u truncations: %s\n", w->proc, w->thread,
		    dev_path[w->dev], __atomic_load_n(&sh->gen[w->dev], __ATOMIC_RELAXED), msg);
	else
		say("# FAIL: worker p%d.t%d (band at 0x%jx) on %s, %u truncations: %s\n",
		    w->proc, w->thread, (intmax_t)band_start(w), dev_path[w->dev],
		    __atomic_load_n(&sh->gen[w->dev], __ATOMIC_RELAXED), msg);
	say("# last operations of p%d.t%d, oldest first:\n", w->proc, w->thread);
	first = w->nr_ops > HISTORY ? w->nr_ops - HISTORY : 0;
	for (i = first; i < w->nr_ops; i++)
		say("#   %s\n", w->history[i % HISTORY]);
	__atomic_store_n(&sh->failed, 1, __ATOMIC_RELAXED);
	w->failed = true;
}

static void fail_errno(struct worker *w, const char *what, long ret)
{
	fail(w, "%s returned %ld, errno %d (%s): not an allowed result",
	     what, ret, errno, strerror(errno));
}

/*
 * SIGBUS is expected only inside the guarded accesses below, each of which
 * points bus_jmp at its own jump buffer; the handler jumps back there.  Any
 * other SIGBUS, and any SIGSEGV, ends the process as failed.  SA_NODEFER
 * leaves SIGBUS unblocked after the jump, so the jump need not restore the
 * signal mask (a system call per access).
 */
static __thread void *bus_jmp;	/* a sigjmp_buf, or NULL */

static void fatal_signal(const char *name, void *addr)
{
	char line[128];
	int len;

	len = snprintf(line, sizeof(line), "# FAIL: unexpected %s at %p in pid %d\n",
		       name, addr, getpid());
	if (write(STDOUT_FILENO, line, len) < 0)
		len = 0;
	__atomic_store_n(&sh->failed, 1, __ATOMIC_RELAXED);
	_exit(3);
}

static void on_sigbus(int sig __always_unused, siginfo_t *si,
		      void *ctx __always_unused)
{
	if (bus_jmp)
		siglongjmp(bus_jmp, 1);
	fatal_signal("SIGBUS", si->si_addr);
}

static void on_sigsegv(int sig __always_unused, siginfo_t *si,
		       void *ctx __always_unused)
{
	fatal_signal("SIGSEGV", si->si_addr);
}

static void catch_signals(void)
{
	struct sigaction sa = { .sa_flags = SA_SIGINFO | SA_NODEFER };

	sa.sa_sigaction = on_sigbus;
	sigaction(SIGBUS, &sa, NULL);
	sa.sa_sigaction = on_sigsegv;
	sigaction(SIGSEGV, &sa, NULL);
}

/*
 * memcpy() where either side may be a mapping of a device: 0, or SIGBUS if
 * an access raised it (some bytes may have been copied).
 */
static int guarded_copy(void *dst, const void *src, size_t len)
{
	sigjmp_buf env;

	if (sigsetjmp(env, 0)) {
		bus_jmp = NULL;
		return SIGBUS;
	}
	bus_jmp = env;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	memcpy(dst, src, len);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	bus_jmp = NULL;
	return 0;
}

/* Load the byte at @addr into *@value, or store *@value there: 0 or SIGBUS. */
static int guarded_touch(char *addr, bool store, char *value)
{
	return store ? guarded_copy(addr, value, 1) : guarded_copy(value, addr, 1);
}

/*
 * A writer's stamp: the generation of pattern_byte() its data is made of.
 * Stamps have the top bit set and are even (self_copy uses stamp + 1), so
 * they are never 0 and never one of the race area's generations, which
 * count truncations from 1.
 */
static unsigned int writer_stamp(struct worker *w)
{
	return ((unsigned int)rnd(w) | 0x80000000u) & ~1u;
}

/* The bytes of stamp @stamp at band offset @off, for @len bytes. */
static void band_pattern(struct worker *w, unsigned char *buf, size_t off,
			 size_t len, unsigned int stamp)
{
	pattern_fill(buf, band_start(w) + off, len, stamp);
}

/* Forget the model if the device was emptied since it was made. */
static void sync_model(struct worker *w)
{
	struct band *b = &w->band[w->dev];
	unsigned int gen = __atomic_load_n(&sh->gen[w->dev], __ATOMIC_RELAXED);

	if (b->gen == gen)
		return;
	memset(b->model, 0, band_bytes);
	memset(b->page_has_data, 0, BAND_PAGES);
	b->written_end = 0;
	b->gen = gen;
}

static void model_store(struct worker *w, size_t off, const unsigned char *data,
			size_t len)
{
	struct band *b = &w->band[w->dev];
	size_t p;

	memcpy(b->model + off, data, len);
	for (p = off / page; p <= (off + len - 1) / page; p++)
		b->page_has_data[p] = 1;
	if (off + len > b->written_end)
		b->written_end = off + len;
}

/* The first byte of [@off, @off + @len) of the band that is not @expect. */
static bool compare(struct worker *w, const char *what, size_t off,
		    const unsigned char *got, const unsigned char *expect, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (got[i] != expect[i])
			break;
	if (i == len)
		return true;
	fail(w,
	     "%s: device offset 0x%jx: expected 0x%02x, got 0x%02x (%zu bytes from 0x%jx checked)",
	     what, (intmax_t)(band_start(w) + off + i), expect[i], got[i], len,
	     (intmax_t)(band_start(w) + off));
	return false;
}

/*
 * Read band bytes [@off, @off + @len) with read() and compare them with the
 * model.  The device may end before them (it reads short there) only past
 * the last byte the worker wrote.
 */
static void check_band(struct worker *w, int fd, size_t off, size_t len,
		       const char *what)
{
	struct band *b = &w->band[w->dev];
	ssize_t got;
	size_t need = b->written_end > off ? b->written_end - off : 0;

	memset(w->buf, 0xa5, len);
	got = full_pread(fd, w->buf, len, band_start(w) + off);
	if (got < 0) {
		fail_errno(w, what, got);
		return;
	}
	if ((size_t)got < len && (size_t)got < need) {
		fail(w,
		     "%s: read 0x%zx bytes at 0x%jx stopped after 0x%zx, before the written end 0x%jx",
		     what, len, (intmax_t)(band_start(w) + off), got,
		     (intmax_t)(band_start(w) + b->written_end));
		return;
	}
	compare(w, what, off, w->buf, b->model + off, got);
}

/* Pick a range of the band: mostly small, sometimes up to 16 pages. */
static void pick_range(struct worker *w, size_t *off, size_t *len)
{
	size_t max = below(w, 4) ? 2 * page : 16 * page;

	*len = 1 + below(w, max);
	*off = below(w, band_bytes - *len + 1);
}

/*
 * Write @len bytes of @data at band offset @off through @fd, with pwrite(),
 * or with @at_pos, lseek() and write(), and record them in the model.  A
 * write() stops short only at an error; ENOSPC (a cap on the module's
 * memory) may end it.  Returns the bytes written; a failure sets w->failed.
 */
static size_t write_band(struct worker *w, int fd, size_t off,
			 const unsigned char *data, size_t len, bool at_pos)
{
	off_t pos = band_start(w) + off;
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		if (at_pos && lseek(fd, pos + done, SEEK_SET) != pos + (off_t)done) {
			fail_errno(w, "lseek before write", -1);
			break;
		}
		if (at_pos)
			n = write(fd, data + done, len - done);
		else
			n = pwrite(fd, data + done, len - done, pos + done);
		if (n < 0 && errno == ENOSPC) {
			count(&sh->enospc);
			break;
		}
		if (n <= 0 || n > (ssize_t)(len - done)) {
			fail_errno(w, "write", n);
			break;
		}
		done += n;
	}
	if (done)
		model_store(w, off, data, done);
	return done;
}

static void op_write(struct worker *w, struct mapping *unused __always_unused)
{
	struct band *b = &w->band[w->dev];
	unsigned int stamp = writer_stamp(w);
	int how = below(w, 3), fd = b->fd;
	size_t off, len, done;

	pick_range(w, &off, &len);
	note(w, "write 0x%jx+0x%zx how %d", (intmax_t)(band_start(w) + off), len, how);
	band_pattern(w, w->buf, off, len, stamp);
	if (how == 2) {
		/* a file of its own */
		fd = open(dev_path[w->dev], O_WRONLY | O_CLOEXEC);
		if (fd < 0) {
			fail_errno(w, "open O_WRONLY", fd);
			return;
		}
	}
	done = write_band(w, fd, off, w->buf, len, how == 1);
	if (fd != b->fd)
		close(fd);
	if (!w->failed && done)
		check_band(w, b->fd_ro, off, done, "read after write");
}

static void op_read(struct worker *w, struct mapping *unused __always_unused)
{
	struct band *b = &w->band[w->dev];
	int how = below(w, 3), fd = how ? b->fd : b->fd_ro;
	size_t off, len;

	pick_range(w, &off, &len);
	note(w, "read 0x%jx+0x%zx how %d", (intmax_t)(band_start(w) + off), len, how);
	if (how == 2) {
		/* O_TRUNC without write access must not empty the device. */
		fd = open(dev_path[w->dev], O_RDONLY | O_TRUNC | O_CLOEXEC);
		if (fd < 0) {
			fail_errno(w, "open O_RDONLY | O_TRUNC", fd);
			return;
		}
	}
	check_band(w, fd, off, len, how == 2 ? "read (O_RDONLY | O_TRUNC file)" : "read");
	if (how == 2)
		close(fd);
}

/*
 * Map pages of the band, shared or private, and read each page through the
 * mapping: a page with data must map it, a page without may raise SIGBUS
 * (a hole, or past the end) or read zeros (its quantum holds data of other
 * pages).  Then store through the mapping over the bytes that hold data: a
 * shared mapping changes the device (checked with read()), a private one
 * must not.
 */
static void op_map(struct worker *w, struct mapping *unused __always_unused)
{
	bool shared = w->op == OP_MAP_SHARED;
	struct band *b = &w->band[w->dev];
	size_t first = below(w, BAND_PAGES), nr = 1 + below(w, 16), p, i, off;
	unsigned int stamp = writer_stamp(w);
	unsigned char *mem;
	bool store[16];

	if (first + nr > BAND_PAGES)
		nr = BAND_PAGES - first;
	note(w, "map %s 0x%jx+%zu pages", shared ? "shared" : "private",
	     (intmax_t)(band_start(w) + first * page), nr);
	mem = mmap(NULL, nr * page, PROT_READ | PROT_WRITE,
		   shared ? MAP_SHARED : MAP_PRIVATE, b->fd, band_start(w) + first * page);
	if (mem == MAP_FAILED) {
		fail_errno(w, "mmap", -1);
		return;
	}
	for (p = 0; p < nr && !w->failed; p++) {
		off = (first + p) * page;
		store[p] = false;
		if (guarded_copy(w->buf, mem + p * page, page)) {
			if (b->page_has_data[first + p])
				fail(w,
				     "SIGBUS reading page 0x%jx through a %s mapping: it holds data",
				     (intmax_t)(band_start(w) + off),
				     shared ? "shared" : "private");
			count(&sh->sigbus);
			continue;
		}
		if (!compare(w, shared ? "shared mapping" : "private mapping", off,
			     w->buf, b->model + off, page))
			break;
		store[p] = b->page_has_data[first + p] && below(w, 2);
	}
	for (p = 0; p < nr && !w->failed; p++) {
		if (!store[p])
			continue;
		off = (first + p) * page;
		/* New data where there was data, the zeros left as they are. */
		band_pattern(w, w->buf2, off, page, stamp);
		for (i = 0; i < page; i++)
			if (!b->model[off + i])
				w->buf2[i] = 0;
		if (guarded_copy(mem + p * page, w->buf2, page)) {
			fail(w, "SIGBUS storing to page 0x%jx through a %s mapping: it holds data",
			     (intmax_t)(band_start(w) + off), shared ? "shared" : "private");
			break;
		}
		if (shared) {
			memcpy(b->model + off, w->buf2, page);
		} else if (guarded_copy(w->buf, mem + p * page, page) ||
			   !compare(w, "private mapping after a store", off, w->buf,
				    w->buf2, page)) {
			if (!w->failed)
				fail(w, "SIGBUS on a private copy");
			break;
		}
	}
	if (!w->failed)
		check_band(w, b->fd_ro, first * page, nr * page,
			   shared ? "read after shared stores" : "read after private stores");
	munmap(mem, nr * page);
}

static bool quantum_has_data(struct worker *w, size_t qbytes, size_t q)
{
	size_t p, per = qbytes / page;

	for (p = q * per; p < (q + 1) * per; p++)
		if (w->band[w->dev].page_has_data[p])
			return true;
	return false;
}

/*
 * SEEK_DATA and SEEK_HOLE from an offset in the band.  The driver answers
 * a quantum at a time, and a band holds whole quanta, so the worker knows
 * which of its quanta hold data (those it wrote to).  Below its written end
 * the device certainly goes on, and the answer is exact; past it the device
 * may end anywhere, so it must only be consistent with the band.
 */
static void op_seek(struct worker *w, struct mapping *unused __always_unused)
{
	struct band *b = &w->band[w->dev];
	struct scullmap_info info;
	size_t qbytes, nr_q, p = below(w, band_bytes), q, found;
	off_t r, base = band_start(w), band_end = base + band_bytes;
	bool data = below(w, 2), exact = p < b->written_end;
	bool at_p;

	note(w, "lseek 0x%jx %s", (intmax_t)(base + p), data ? "SEEK_DATA" : "SEEK_HOLE");
	if (ioctl(b->fd, SCULLMAP_IOC_GET_INFO, &info)) {
		fail_errno(w, "GET_INFO", -1);
		return;
	}
	qbytes = page << info.order;
	nr_q = band_bytes / qbytes;
	/* The first quantum at or after p that holds data (or not). */
	for (q = p / qbytes; q < nr_q; q++)
		if (quantum_has_data(w, qbytes, q) == data)
			break;
	at_p = q == p / qbytes;
	found = q < nr_q ? (at_p ? p : q * qbytes) : band_bytes;

	r = lseek(b->fd, base + p, data ? SEEK_DATA : SEEK_HOLE);
	if (r < 0 && errno != ENXIO) {
		fail_errno(w, data ? "SEEK_DATA" : "SEEK_HOLE", r);
		return;
	}
	if (data && exact) {
		/* a quantum below the written end holds data: found < band_bytes */
		if (r != base + (off_t)found)
			fail(w, "SEEK_DATA from 0x%jx gave 0x%jx, expected 0x%jx",
			     (intmax_t)(base + p), (intmax_t)r, (intmax_t)(base + found));
	} else if (data) {
		/* p is at or past the written end: ENXIO if the device ends before */
		if (r >= 0 && r != base + (off_t)found && (found < band_bytes || r < band_end))
			fail(w,
			     "SEEK_DATA from 0x%jx (past the written end 0x%jx) gave 0x%jx, expected 0x%jx%s",
			     (intmax_t)(base + p), (intmax_t)(base + b->written_end),
			     (intmax_t)r, (intmax_t)(base + found),
			     found < band_bytes ? "" : " or past the band, or ENXIO");
	} else if (exact) {
		/* the end of the device counts as a hole, and it is at least here */
		off_t low = base + (found < b->written_end ? found : b->written_end);

		if (r < 0 || r < low || (found < band_bytes && r > base + (off_t)found))
			fail(w, "SEEK_HOLE from 0x%jx gave 0x%jx, expected 0x%jx..0x%jx",
			     (intmax_t)(base + p), (intmax_t)r, (intmax_t)low,
			     (intmax_t)(base + found));
	} else {
		if (r >= 0 && (r < base + (off_t)p || (at_p && r != base + (off_t)p)))
			fail(w, "SEEK_HOLE from 0x%jx (past the written end) gave 0x%jx",
			     (intmax_t)(base + p), (intmax_t)r);
	}
}

/*
 * read() and write() whose buffer is a mapping of the same device, not yet
 * faulted in: the copy faults on the device while the driver serves the
 * call.  Both ranges are first written, so every page holds data and the
 * whole count must be copied, never EFAULT.  Source in the first half of
 * the band, destination in the second: their pages never overlap.
 */
static void op_self_copy(struct worker *w, struct mapping *unused __always_unused)
{
	struct band *b = &w->band[w->dev];
	size_t len = 1 + below(w, 4 * page), half = band_bytes / 2;
	size_t src = below(w, half - len), dst = half + below(w, half - len);
	size_t map_off, map_len;
	int how = below(w, 3);
	unsigned int stamp = writer_stamp(w);
	unsigned char *mem;
	ssize_t n;

	note(w, "self_copy 0x%zx -> 0x%zx +0x%zx how %d", (size_t)band_start(w) + src,
	     (size_t)band_start(w) + dst, len, how);
	band_pattern(w, w->buf, src, len, stamp);
	band_pattern(w, w->buf2, dst, len, stamp + 1);
	/* short only after ENOSPC (or a failure): then there is nothing to copy */
	if (write_band(w, b->fd, src, w->buf, len, false) < len ||
	    write_band(w, b->fd, dst, w->buf2, len, false) < len)
		return;

	/* how 0: write() from a mapping of src; 1, 2: read() into one of dst */
	map_off = (how ? dst : src) / page * page;
	map_len = ((how ? dst : src) + len + page - 1) / page * page - map_off;
	mem = mmap(NULL, map_len, PROT_READ | PROT_WRITE,
		   how == 2 ? MAP_PRIVATE : MAP_SHARED, b->fd, band_start(w) + map_off);
	if (mem == MAP_FAILED) {
		fail_errno(w, "mmap for self copy", -1);
		return;
	}
	if (how == 0)
		n = pwrite(b->fd, mem + src - map_off, len, band_start(w) + dst);
	else
		n = pread(b->fd, mem + dst - map_off, len, band_start(w) + src);
	if (n != (ssize_t)len) {
		fail(w, "%s a mapping of the same device: %zd of 0x%zx bytes (errno %d, %s)",
		     how ? "read() into" : "write() from", n, len, errno, strerror(errno));
	} else if (how == 2) {
		/* the private copy has src's bytes, the device keeps dst's */
		if (!guarded_copy(w->buf2, mem + dst - map_off, len))
			compare(w, "private mapping after read() into it", dst, w->buf2,
				b->model + src, len);
		else
			fail(w, "SIGBUS reading a private mapping read() just filled");
	} else {
		memmove(b->model + dst, b->model + src, len);
	}
	munmap(mem, map_len);
	if (!w->failed)
		check_band(w, b->fd_ro, dst, len, "read after self copy");
}

/*
 * O_APPEND writes go to the append area: once the device reaches it, only
 * truncation (excluded by the read lock) can move the end back before it,
 * and only appends write there, so what one writes is what it reads back.
 */
static void op_append(struct worker *w, struct mapping *unused __always_unused)
{
	struct band *b = &w->band[w->dev];
	size_t len = 1 + below(w, 2 * page);
	unsigned int stamp = writer_stamp(w);
	struct scullmap_info info;
	off_t pos;
	ssize_t n;
	int fd;
	char one = 1;

	note(w, "append 0x%zx bytes", len);
	if (ioctl(b->fd, SCULLMAP_IOC_GET_INFO, &info)) {
		fail_errno(w, "GET_INFO", -1);
		return;
	}
	if (info.size + len > (uint64_t)append_end)
		return;		/* the area is full until the next truncation */
	if (info.size < (uint64_t)append_start &&
	    pwrite(b->fd, &one, 1, append_start - 1) != 1) {
		if (errno != ENOSPC)
			fail_errno(w, "pwrite before the append area", -1);
		return;
	}
	fd = open(dev_path[w->dev], O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0) {
		fail_errno(w, "open O_APPEND", fd);
		return;
	}
	/* Where it lands is known after: the stamp alone tells it apart. */
	pattern_fill(w->buf, append_start, len, stamp);
	/* The position must not matter. */
	lseek(fd, below(w, append_start), SEEK_SET);
	n = write(fd, w->buf, len);
	pos = lseek(fd, 0, SEEK_CUR);
	close(fd);
	if (n < 0 && errno == ENOSPC) {
		count(&sh->enospc);
		return;
	}
	if (n != (ssize_t)len) {
		fail_errno(w, "O_APPEND write (a whole write expected)", n);
		return;
	}
	if (pos < append_start + (off_t)len || pos > size_max) {
		fail(w,
		     "O_APPEND write of 0x%zx bytes left the position at 0x%jx, outside 0x%jx..0x%jx",
		     len, (intmax_t)pos, (intmax_t)append_start + len, (intmax_t)size_max);
		return;
	}
	n = full_pread(b->fd_ro, w->buf2, len, pos - len);
	if (n != (ssize_t)len)
		fail(w, "read back of an append at 0x%jx: %zd of 0x%zx bytes",
		     (intmax_t)(pos - len), n, len);
	else if (memcmp(w->buf, w->buf2, len))
		fail(w, "appended bytes at 0x%jx read back different", (intmax_t)(pos - len));
}

static bool info_sane(struct worker *w, const struct scullmap_info *info)
{
	const struct scullmap_info *start = &dev_start_info[w->dev];

	if (info->page_size != page || info->backend != start->backend ||
	    info->max_size != MAX_BYTES || info->size > info->max_size ||
	    info->size > (uint64_t)size_max || info->reserved ||
	    info->order > SCULLMAP_MAX_ORDER || !info->qset ||
	    info->qset > SCULLMAP_MAX_QSET) {
		fail(w,
		     "GET_INFO: size 0x%llx max_size 0x%llx backend %u order %u qset %u page_size %u reserved %u",
		     (unsigned long long)info->size, (unsigned long long)info->max_size,
		     info->backend, info->order, info->qset, info->page_size,
		     info->reserved);
		return false;
	}
	return true;
}

static void op_info(struct worker *w, struct mapping *unused __always_unused)
{
	struct band *b = &w->band[w->dev];
	struct scullmap_info info;

	note(w, "GET_INFO (verified)");
	if (ioctl(b->fd_ro, SCULLMAP_IOC_GET_INFO, &info)) {
		fail_errno(w, "GET_INFO", -1);
		return;
	}
	if (!info_sane(w, &info))
		return;
	if (b->written_end && (info.size < band_start(w) + b->written_end ||
			       !info.quanta || !info.qsets))
		fail(w,
		     "GET_INFO: size 0x%llx, %llu quanta, %llu sets, but the band holds data up to 0x%jx",
		     (unsigned long long)info.size, (unsigned long long)info.quanta,
		     (unsigned long long)info.qsets,
		     (intmax_t)(band_start(w) + b->written_end));
}

/*
 * What a reader that takes no lock saw of the race area of a device: the
 * counters of struct race before its read (s0, c0, f0, holes) and the
 * truncations begun after it (s1).
 */
struct race_view {
	unsigned int s0, c0, f0, s1;
	uint64_t holes[RACE_WORDS];
};

static void race_begin(int d, struct race_view *v)
{
	struct race *r = &sh->race[d];
	int i;

	v->s0 = __atomic_load_n(&r->started, __ATOMIC_SEQ_CST);
	v->c0 = __atomic_load_n(&r->done, __ATOMIC_SEQ_CST);
	v->f0 = __atomic_load_n(&r->filled, __ATOMIC_SEQ_CST);
	for (i = 0; i < RACE_WORDS; i++)
		v->holes[i] = __atomic_load_n(&r->holes[i], __ATOMIC_SEQ_CST);
}

static void race_end(int d, struct race_view *v)
{
	v->s1 = __atomic_load_n(&sh->race[d].started, __ATOMIC_SEQ_CST);
}

/*
 * No truncation ran during the read and the fill after the last one was
 * complete before it: one generation, and its holes, are known exactly.
 */
static bool race_exact(const struct race_view *v)
{
	return v->s1 == v->c0 && v->f0 == v->c0 + 1;
}

static bool race_hole(const struct race_view *v, off_t off)
{
	size_t p = (off - race_start) / page;

	return v->holes[p / 64] >> (p % 64) & 1;
}

/*
 * May a lock-free read see @got at device offset @off?  Exactly known: the
 * generation's byte, or 0 in its holes.  Else 0 (emptied, or not refilled
 * yet) or the byte of a generation from c0 + 1, the one after the last
 * truncation that had returned before the read began, to s1 + 1, the one
 * after the last that began before it ended.  The bytes of generation
 * c0 or older are stale: a truncation that removed them had returned.
 */
static bool race_byte_ok(const struct race_view *v, off_t off, unsigned char got)
{
	unsigned int g;

	if (race_exact(v))
		return got == (race_hole(v, off) ? 0 : pattern_byte(off, v->c0 + 1));
	if (!got)
		return true;
	for (g = v->c0 + 1; g <= v->s1 + 1; g++)
		if (got == pattern_byte(off, g))
			return true;
	return false;
}

/* Check @len bytes read at device offset @off; false after a failure. */
static bool race_check(struct worker *w, const char *what, const struct race_view *v,
		       off_t off, const unsigned char *got, size_t len)
{
	char stale[64] = "";
	unsigned int g;
	size_t i;

	for (i = 0; i < len; i++)
		if (!race_byte_ok(v, off + i, got[i]))
			break;
	if (i == len)
		return true;
	/* Name the generation the byte is from, if it is a recent one. */
	for (g = v->c0; g && g + 64 > v->c0; g--)
		if (got[i] == pattern_byte(off + i, g)) {
			snprintf(stale, sizeof(stale),
				 "; it is the STALE byte of generation %u", g);
			break;
		}
	if (race_exact(v))
		fail(w,
		     "%s: race area offset 0x%jx reads 0x%02x, expected 0x%02x (generation %u%s, no truncation running)%s",
		     what, (intmax_t)(off + i), got[i],
		     race_hole(v, off + i) ? 0 : pattern_byte(off + i, v->c0 + 1),
		     v->c0 + 1, race_hole(v, off + i) ? ", a hole" : "", stale);
	else
		fail(w,
		     "%s: race area offset 0x%jx reads 0x%02x: allowed 0 or generations %u..%u (truncation %u had returned before the read, %u began before it ended)%s",
		     what, (intmax_t)(off + i), got[i], v->c0 + 1, v->s1 + 1, v->c0,
		     v->s1, stale);
	return false;
}

/*
 * Read pages [@first, @first + @nr) of the race area through the worker's
 * shared mapping of it, RACE_SAMPLE bytes of each, and check them: data of
 * an allowed generation, or SIGBUS unless the page surely holds data.
 */
static void race_map_pass(struct worker *w, const char *map, size_t first,
			  size_t nr, struct race_view *v)
{
	size_t p, at[RACE_PAGES];
	int bus[RACE_PAGES];
	off_t off;

	race_begin(w->dev, v);
	for (p = 0; p < nr; p++) {
		at[p] = below(w, page - RACE_SAMPLE + 1);
		bus[p] = guarded_copy(w->buf + p * RACE_SAMPLE,
				      map + (first + p) * page + at[p], RACE_SAMPLE);
	}
	race_end(w->dev, v);
	for (p = 0; p < nr && !w->failed; p++) {
		off = race_start + (first + p) * page;
		if (!bus[p]) {
			race_check(w, "lock-free shared mapping", v, off + at[p],
				   w->buf + p * RACE_SAMPLE, RACE_SAMPLE);
			continue;
		}
		count(&sh->sigbus);
		if (race_exact(v) && !race_hole(v, off))
			fail(w,
			     "SIGBUS reading race area page 0x%jx through a shared mapping: generation %u holds data there, no truncation running",
			     (intmax_t)off, v->c0 + 1);
	}
}

/* read() @len bytes of the race area at @off, and check them. */
static void race_read_pass(struct worker *w, off_t off, size_t len,
			   struct race_view *v)
{
	ssize_t n;

	race_begin(w->dev, v);
	n = full_pread(w->band[w->dev].fd_ro, w->buf, len, off);
	race_end(w->dev, v);
	if (n < 0) {
		fail_errno(w, "lock-free read() of the race area", n);
		return;
	}
	if ((size_t)n < len) {
		count(&sh->short_count);
		/* the last page of the race area always holds data */
		if (race_exact(v)) {
			fail(w,
			     "lock-free read() of 0x%zx bytes at 0x%jx gave 0x%zx, with generation %u filled and no truncation running",
			     len, (intmax_t)off, n, v->c0 + 1);
			return;
		}
	}
	race_check(w, "lock-free read()", v, off, w->buf, n);
}

/* Wait until truncation @n of device @d has returned; false if the run failed. */
static bool race_wait(int d, unsigned int n)
{
	while (__atomic_load_n(&sh->race[d].done, __ATOMIC_SEQ_CST) < n) {
		if (run_failed())
			return false;
		usleep(200);
	}
	return true;
}

/*
 * One racer pounces on each truncation: another's storm mappings, full of
 * page table entries, would come first in the unmapping and delay it.
 */
static bool race_claim(struct race *r, unsigned int n)
{
	unsigned int old = __atomic_load_n(&r->claimed, __ATOMIC_SEQ_CST);

	return old < n && __atomic_compare_exchange_n(&r->claimed, &old, n, false,
						      __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

/*
 * Wait (POUNCE_MS at most, sleeping) until a truncation of some device is
 * announced, claim it and make that device the current one.  Returns the
 * number of the truncation, 0 if none came or another racer claimed it.
 */
static unsigned int race_pounce(struct worker *w)
{
	unsigned int seen[MAX_DEVS], now = 0;
	struct race *r = NULL;
	int d, naps;

	for (d = 0; d < nr_devs; d++)
		seen[d] = __atomic_load_n(&sh->race[d].announced, __ATOMIC_SEQ_CST);
	for (naps = 0; !r && naps < POUNCE_MS * 5 && !run_failed(); naps++) {
		for (d = 0; !r && d < nr_devs; d++) {
			now = __atomic_load_n(&sh->race[d].announced, __ATOMIC_SEQ_CST);
			if (now != seen[d] && race_claim(&sh->race[d], now))
				r = &sh->race[d];
			seen[d] = now;
		}
		if (!r)
			usleep(200);
	}
	if (!r)
		return 0;
	w->dev = d - 1;
	return now;
}

/* A storm mapping: from device offset 0 to the end of the race area. */
static size_t storm_len(void)
{
	return race_start + RACE_PAGES * page;
}

/*
 * A racer's pounce: wait for a truncation to be announced (see
 * race_pounce()), then fault on the race area of its device, one fault of
 * RACE_PAGES pages (fault_window's default) after the other, through a
 * ring of STORM_MAPS mappings, until a fault raises SIGBUS: the system
 * call has replaced the tree (the new one is empty until the truncation
 * has returned and refilled it).  So a fault runs when the tree is
 * replaced, and the fault before it saw the old tree: the mapping it used
 * may be dropped and used again, no later fault can have left a page
 * table entry to the old tree there after the unmapping.  The storm
 * mappings start at device offset 0, before any other mapping, and
 * emptying unmaps in the order of offsets: it reaches them first, while
 * the fault that met the replacing may still run.  Then, once the
 * truncation has returned, read every page of the mappings used, as they
 * are: each must raise SIGBUS or show a later generation, never the one
 * the truncation removed.  Last, drop them.
 */
static void op_pounce(struct worker *w, struct mapping *unused __always_unused)
{
	unsigned int target = race_pounce(w);
	struct band *b;
	struct race_view v;
	char value, *map;
	int i, n;

	if (!target)
		return;
	b = &w->band[w->dev];
	race_begin(w->dev, &v);
	note(w, "pounce on truncation %u", target);
	for (i = 0; __atomic_load_n(&sh->race[w->dev].done, __ATOMIC_SEQ_CST) < target &&
	     !run_failed(); i++) {
		map = b->storm[i % STORM_MAPS];
		if (i >= STORM_MAPS && madvise(map, storm_len(), MADV_DONTNEED)) {
			fail_errno(w, "madvise MADV_DONTNEED", -1);
			break;
		}
		if (guarded_touch(map + race_start, false, &value)) {
			i++;
			break;
		}
	}
	race_end(w->dev, &v);
	if (v.s1 != v.c0)
		count(&sh->race_raced);
	if (i > STORM_MAPS)
		i = STORM_MAPS;
	if (!w->failed && i && race_wait(w->dev, v.s1)) {
		note(w, "  read %d mappings after truncation %u returned", i, v.s1);
		for (n = 0; n < i && !w->failed; n++)
			race_map_pass(w, b->storm[n] + race_start, 0, RACE_PAGES, &v);
		if (!w->failed)
			count(&sh->race_rechecked);
	}
	for (n = 0; n < i; n++)
		if (madvise(b->storm[n], storm_len(), MADV_DONTNEED))
			fail_errno(w, "madvise MADV_DONTNEED", -1);
}

/*
 * Lock-free verified readers of the race area, through the worker's
 * shared mapping (dropping the pages first 3 times in 4, so that they
 * fault again) or with read().  When a truncation overlapped the read,
 * wait until it has returned and read the same range again, the mapped
 * pages as they are: nothing the truncation removed may show now, not
 * even through a page table entry that a fault racing it installed.
 */
static void op_race(struct worker *w, struct mapping *unused __always_unused)
{
	bool map = w->op == OP_RACE_MAP, drop = below(w, 4);
	size_t first = below(w, RACE_PAGES);
	size_t nr = 1 + below(w, RACE_PAGES - first < 32 ? RACE_PAGES - first : 32);
	size_t len = 1 + below(w, below(w, 4) ? page : 8 * page);
	off_t off = race_start + below(w, RACE_PAGES * page - len + 1);
	struct race_view v;
	int pass;

	if (map)
		note(w, "lock-free map 0x%jx+%zu pages%s", (intmax_t)(race_start + first * page),
		     nr, drop ? ", dropped first" : "");
	else
		note(w, "lock-free read 0x%jx+0x%zx", (intmax_t)off, len);
	if (map && drop &&
	    madvise(w->band[w->dev].race_map + first * page, nr * page, MADV_DONTNEED)) {
		fail_errno(w, "madvise MADV_DONTNEED", -1);
		return;
	}
	for (pass = 0; pass < 2; pass++) {
		if (map)
			race_map_pass(w, w->band[w->dev].race_map, first, nr, &v);
		else
			race_read_pass(w, off, len, &v);
		if (w->failed)
			return;
		count(&sh->race_reads);
		if (pass) {
			count(&sh->race_rechecked);
			return;
		}
		if (v.s1 == v.c0)
			return;
		count(&sh->race_raced);
		if (!race_wait(w->dev, v.s1))
			return;
		note(w, "  again, after truncation %u returned", v.s1);
	}
}

/*
 * Fill the race area of device @d with generation @gen through @fd, the
 * pages in @holes left as holes (never the first one, nor the last, so
 * that the device always reaches the end of the area), and publish it.  Only setup and
 * truncations, under the device's write lock, call this.  @buf holds
 * BAND_PAGES pages.
 */
static int race_fill(int fd, int d, unsigned int gen, uint64_t *holes,
		     unsigned char *buf)
{
	size_t p, q, len;
	int i;

	/* the first page is data: a racer's pounce relies on it */
	holes[0] &= ~1ULL;
	holes[RACE_WORDS - 1] &= ~(1ULL << 63);
	for (p = 0; p < RACE_PAGES; p = q) {
		q = p + 1;
		if (holes[p / 64] >> (p % 64) & 1)
			continue;
		/* a run of data pages, BAND_PAGES at most: what @buf holds */
		while (q < RACE_PAGES && q - p < BAND_PAGES && !(holes[q / 64] >> (q % 64) & 1))
			q++;
		len = (q - p) * page;
		pattern_fill(buf, race_start + p * page, len, gen);
		if (full_pwrite(fd, buf, len, race_start + p * page) < 0)
			return -1;
	}
	for (i = 0; i < RACE_WORDS; i++)
		__atomic_store_n(&sh->race[d].holes[i], holes[i], __ATOMIC_SEQ_CST);
	__atomic_store_n(&sh->race[d].filled, gen, __ATOMIC_SEQ_CST);
	return 0;
}

/*
 * What a truncation maps before it empties the device: the first
 * PRE_MAP_PAGES pages of the worker's band, freshly written, shared and
 * private (each page of the private one copied on write), and the whole
 * race area, shared.  Each page is read through them first, and is
 * marked if it showed its data.
 */
struct trunc_maps {
	char *band[2];		/* shared, private */
	char *race;
	bool data[2][PRE_MAP_PAGES];	/* showed the band's data */
	bool race_data[RACE_PAGES];	/* showed the race area's data */
};

static void trunc_unmap(struct trunc_maps *t)
{
	if (t->band[0] != MAP_FAILED)
		munmap(t->band[0], PRE_MAP_PAGES * page);
	if (t->band[1] != MAP_FAILED)
		munmap(t->band[1], PRE_MAP_PAGES * page);
	if (t->race != MAP_FAILED)
		munmap(t->race, RACE_PAGES * page);
}

/* Write and map the band's pages, map the race area, read all; false on failure. */
static bool trunc_map(struct worker *w, struct trunc_maps *t)
{
	struct band *b = &w->band[w->dev];
	size_t len = PRE_MAP_PAGES * page, written, p;
	unsigned int stamp = writer_stamp(w);
	struct race_view v;
	size_t at;
	char value;
	int i;

	band_pattern(w, w->buf2, 0, len, stamp);
	written = write_band(w, b->fd, 0, w->buf2, len, false) / page;
	if (w->failed)
		return false;
	t->race = mmap(NULL, RACE_PAGES * page, PROT_READ, MAP_SHARED, b->fd, race_start);
	for (i = 0; i < 2; i++)
		t->band[i] = mmap(NULL, len, PROT_READ | PROT_WRITE,
				  i ? MAP_PRIVATE : MAP_SHARED, b->fd, band_start(w));
	if (t->race == MAP_FAILED || t->band[0] == MAP_FAILED || t->band[1] == MAP_FAILED) {
		fail_errno(w, "mmap before truncation", -1);
		return false;
	}
	for (i = 0; i < 2; i++)
		for (p = 0; p < PRE_MAP_PAGES && !w->failed; p++) {
			t->data[i][p] = false;
			if (guarded_copy(w->buf, t->band[i] + p * page, page)) {
				if (p < written)
					fail(w,
					     "SIGBUS reading band page %zu, just written, before truncation",
					     p);
				continue;
			}
			if (p < written && !compare(w, "mapping before truncation", p * page,
						    w->buf, w->buf2 + p * page, page))
				break;
			t->data[i][p] = p < written;
			/* a private copy, which the truncation must drop too */
			value = pattern_byte(band_start(w) + p * page, stamp + 1);
			if (i && guarded_touch(t->band[i] + p * page, true, &value))
				fail(w, "SIGBUS storing to band page %zu of a private mapping", p);
		}
	/* No truncation of this device can run: the race area is known exactly. */
	race_begin(w->dev, &v);
	race_end(w->dev, &v);
	if (!race_exact(&v)) {
		fail(w,
		     "race area state: %u truncations begun, %u returned, generation %u filled, under the write lock",
		     v.s1, v.c0, v.f0);
		return false;
	}
	for (p = 0; p < RACE_PAGES && !w->failed; p++) {
		off_t off = race_start + p * page;

		t->race_data[p] = false;
		if (guarded_copy(w->buf, t->race + p * page, page)) {
			if (!race_hole(&v, off))
				fail(w,
				     "SIGBUS reading race area page 0x%jx before truncation: it holds data",
				     (intmax_t)off);
			continue;
		}
		/* a sample of each page: the fill takes long enough */
		at = below(w, page - RACE_SAMPLE + 1);
		if (race_check(w, "race area before truncation", &v, off + at, w->buf + at,
			       RACE_SAMPLE))
			t->race_data[p] = !race_hole(&v, off);
	}
	return !w->failed;
}

/* The truncation itself, the way w->op says. */
static void trunc_syscall(struct worker *w)
{
	struct band *b = &w->band[w->dev];
	struct scullmap_geometry geo = {
		.order = below(w, MAX_ORDER_USED + 1),
		.qset = 1 + below(w, MAX_QSET_USED),
	};
	struct scullmap_info info;
	int fd, ret;

	note(w, "empty with %s (order %u qset %u)",
	     w->op == OP_OPEN_TRUNC ? "open O_TRUNC" :
	     w->op == OP_RESET ? "RESET" : "RESET + SET_GEOMETRY", geo.order, geo.qset);
	switch (w->op) {
	case OP_OPEN_TRUNC:
		fd = open(dev_path[w->dev], (below(w, 2) ? O_WRONLY : O_RDWR) |
			  O_TRUNC | O_CLOEXEC);
		if (fd < 0)
			fail_errno(w, "open O_TRUNC", fd);
		else
			close(fd);
		break;
	case OP_RESET:
		ret = ioctl(b->fd, SCULLMAP_IOC_RESET);
		if (ret)
			fail_errno(w, "RESET", ret);
		break;
	default:
		ret = ioctl(b->fd, SCULLMAP_IOC_RESET);
		if (ret) {
			fail_errno(w, "RESET", ret);
			break;
		}
		/* EBUSY: an unverified write to the scratch area came first */
		ret = ioctl(b->fd, SCULLMAP_IOC_SET_GEOMETRY, &geo);
		if (ret && errno == EBUSY) {
			count(&sh->ebusy);
			break;
		}
		if (ret) {
			fail_errno(w, "SET_GEOMETRY", ret);
			break;
		}
		if (ioctl(b->fd, SCULLMAP_IOC_GET_INFO, &info))
			fail_errno(w, "GET_INFO", -1);
		else if (info.order != geo.order || info.qset != geo.qset)
			fail(w, "SET_GEOMETRY order %u qset %u, GET_INFO says order %u qset %u",
			     geo.order, geo.qset, info.order, info.qset);
		break;
	}
}

/*
 * Every page mapped before must raise SIGBUS now, as the page of a
 * truncated file does: no quantum of any band, nor of the race area, is
 * left (unverified writes go only to the scratch and append areas).
 */
static void trunc_check_gone(struct worker *w, struct trunc_maps *t)
{
	unsigned int gone = 0;
	size_t p, step;
	char value;
	int i;

	/* every page of the band's, an eighth of the race area's: SIGBUS is slow */
	for (i = 0; i < 3 && !w->failed; i++)
		for (p = i == 2 ? below(w, 8) : 0, step = i == 2 ? 8 : 1;
		     p < (i == 2 ? RACE_PAGES : PRE_MAP_PAGES); p += step) {
			char *addr = (i == 2 ? t->race : t->band[i]) + p * page;
			off_t off = i == 2 ? race_start + p * page : band_start(w) + p * page;

			if (!guarded_touch(addr, false, &value)) {
				fail(w,
				     "page 0x%jx of a %s mapping made before emptying still maps (reads 0x%02x), expected SIGBUS",
				     (intmax_t)off, i == 1 ? "private" : "shared",
				     (unsigned char)value);
				return;
			}
			gone += i == 2 ? t->race_data[p] : t->data[i][p];
		}
	__atomic_fetch_add(&sh->trunc_sigbus, gone, __ATOMIC_RELAXED);
	/* A truncation of pages that held nothing checked nothing. */
	if (gone)
		count(&sh->trunc_checked);
}

/* The bands and the race area are empty: SEEK_DATA and read() agree. */
static void trunc_check_empty(struct worker *w)
{
	struct band *b = &w->band[w->dev];
	size_t window = 16 * page, p;
	off_t r, off;

	r = lseek(b->fd, 0, SEEK_DATA);
	if (!(r < 0 && errno == ENXIO) && r < scratch_start) {
		fail(w,
		     "SEEK_DATA from 0 after emptying gave %jd (errno %d), expected ENXIO or >= 0x%jx",
		     (intmax_t)r, r < 0 ? errno : 0, (intmax_t)scratch_start);
		return;
	}
	off = below(w, scratch_start - window);
	r = full_pread(b->fd_ro, w->buf, window, off);
	if (r < 0) {
		fail_errno(w, "read after emptying", r);
		return;
	}
	for (p = 0; p < (size_t)r; p++)
		if (w->buf[p]) {
			fail(w, "byte 0x%jx reads 0x%02x after emptying, expected 0",
			     (intmax_t)(off + p), w->buf[p]);
			return;
		}
}

/*
 * Refill the race area with the next generation, and read it through the
 * mapping made before the truncation: the new data, never the old.
 */
static void trunc_refill(struct worker *w, struct trunc_maps *t)
{
	struct band *b = &w->band[w->dev];
	unsigned int gen = __atomic_load_n(&sh->race[w->dev].done, __ATOMIC_SEQ_CST) + 1;
	uint64_t holes[RACE_WORDS] = { 0 };
	struct race_view v;
	size_t p, at;
	off_t off;
	int i;

	/* few holes: they end a fault's run of pages, and long runs race best */
	if (!below(w, 4))
		for (i = 0; i < RACE_WORDS; i++)
			holes[i] = rnd(w) & rnd(w) & rnd(w);
	note(w, "refill the race area with generation %u", gen);
	if (race_fill(b->fd, w->dev, gen, holes, w->buf)) {
		fail_errno(w, "refilling the race area", -1);
		return;
	}
	race_begin(w->dev, &v);
	race_end(w->dev, &v);
	for (p = 0; p < RACE_PAGES && !w->failed; p++) {
		off = race_start + p * page;
		if (guarded_copy(w->buf, t->race + p * page, page)) {
			if (!race_hole(&v, off))
				fail(w,
				     "SIGBUS reading race area page 0x%jx after its refill, through a mapping made before the truncation",
				     (intmax_t)off);
			continue;
		}
		at = below(w, page - RACE_SAMPLE + 1);
		if (race_check(w, "mapping made before truncation, after the refill",
			       &v, off + at, w->buf + at, RACE_SAMPLE) && !race_hole(&v, off))
			count(&sh->trunc_new);
	}
}

/*
 * Empty the device, three ways, with every other verified operation on it
 * excluded, over pages that hold data and are mapped and read before: the
 * first pages of the worker's band and the race area (see trunc_map()).
 * They must all raise SIGBUS after, SEEK_DATA must find nothing and read()
 * zeros; then the race area gets its next generation, which the mapping
 * made before must show.  The lock-free readers of the race area race all
 * of it; started and done, around the system call, tell them when.
 */
static void op_truncate(struct worker *w, struct mapping *unused __always_unused)
{
	struct trunc_maps t = { .band = { MAP_FAILED, MAP_FAILED }, .race = MAP_FAILED };
	struct race *r = &sh->race[w->dev];

	if (!trunc_map(w, &t)) {
		trunc_unmap(&t);
		return;
	}
	/* The racers' cue, and time for one to wake and start faulting. */
	__atomic_fetch_add(&r->announced, 1, __ATOMIC_SEQ_CST);
	usleep(ANNOUNCE_US);
	__atomic_fetch_add(&r->started, 1, __ATOMIC_SEQ_CST);
	trunc_syscall(w);
	/* Every model of this device is void, whatever happened. */
	__atomic_fetch_add(&sh->gen[w->dev], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&r->done, 1, __ATOMIC_SEQ_CST);
	if (!w->failed)
		trunc_check_gone(w, &t);
	if (!w->failed)
		trunc_check_empty(w);
	if (!w->failed)
		trunc_refill(w, &t);
	trunc_unmap(&t);
}

/* Unverified: a device offset anywhere, a little past the used areas too. */
static off_t any_offset(struct worker *w)
{
	return below(w, append_end / page + 8) * page;
}

static void drop_mapping(struct worker *w, int i)
{
	munmap(w->map[i].addr, w->map[i].len);
	w->map[i] = w->map[--w->nr_maps];
}

static void op_mmap(struct worker *w, struct mapping *unused __always_unused)
{
	struct mapping *m;
	int fd, how = below(w, 3);

	if (w->nr_maps == MAX_MAPS)
		drop_mapping(w, below(w, MAX_MAPS));
	m = &w->map[w->nr_maps];
	m->dev = w->dev;
	m->off = any_offset(w);
	m->len = (1 + below(w, MAX_MAP_PAGES)) * page;
	m->shared = below(w, 2);
	note(w, "mmap %s 0x%jx+0x%zx how %d", m->shared ? "shared" : "private",
	     (intmax_t)m->off, m->len, how);
	/* how 2: a file of its own, closed at once: the mapping outlives it */
	fd = w->band[w->dev].fd;
	if (how == 1 && !m->shared)
		fd = w->band[w->dev].fd_ro;
	if (how == 2)
		fd = open(dev_path[w->dev], O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		fail_errno(w, "open", fd);
		return;
	}
	m->addr = mmap(NULL, m->len, PROT_READ | PROT_WRITE,
		       m->shared ? MAP_SHARED : MAP_PRIVATE, fd, m->off);
	if (how == 2)
		close(fd);
	if (m->addr == MAP_FAILED) {
		fail_errno(w, "mmap", -1);
		return;
	}
	w->nr_maps++;
}

/*
 * May an unverified store through mapping @m change device offset @off?
 * Private mappings: always (the store stays in the process).  Shared ones:
 * only in the scratch area, which nobody models.
 */
static bool may_store(const struct mapping *m, off_t off)
{
	return !m->shared || (off >= scratch_start && off + (off_t)page <= append_start);
}

/* Touch @nr random pages of mapping @m: each gives data or SIGBUS. */
static void touch_pages(struct worker *w, const struct mapping *m, int nr)
{
	size_t p;
	bool store;
	char value;

	while (nr--) {
		p = below(w, m->len / page);
		store = below(w, 2) && may_store(m, m->off + p * page);
		value = rnd(w);
		if (guarded_touch(m->addr + p * page + below(w, page), store, &value))
			count(&sh->sigbus);
	}
}

/* A random mapping of the worker's, its device made the current one. */
static struct mapping *pick_mapping(struct worker *w)
{
	struct mapping *m;

	if (!w->nr_maps)
		return NULL;
	m = &w->map[below(w, w->nr_maps)];
	w->dev = m->dev;
	return m;
}

static void op_touch(struct worker *w, struct mapping *m)
{
	note(w, "touch %s 0x%jx+0x%zx", m->shared ? "shared" : "private",
	     (intmax_t)m->off, m->len);
	touch_pages(w, m, 1 + below(w, 8));
}

/* Unmap the head, the tail or the middle of a mapping. */
static void op_munmap_part(struct worker *w, struct mapping *m)
{
	size_t pages = m->len / page, cut, at;
	int ret;

	if (pages < 2)
		return;
	cut = 1 + below(w, pages - 1);
	at = below(w, 3) == 0 ? 0 : pages - cut;	/* head or tail */
	if (at && pages - cut >= 2 && w->nr_maps < MAX_MAPS && below(w, 2)) {
		at = 1 + below(w, pages - cut - 1);	/* the middle */
		cut = 1 + below(w, pages - at - 1);
	}
	note(w, "munmap pages %zu+%zu of 0x%jx+0x%zx", at, cut, (intmax_t)m->off, m->len);
	ret = munmap(m->addr + at * page, cut * page);
	if (ret) {
		fail_errno(w, "munmap", ret);
		return;
	}
	if (!at) {
		m->addr += cut * page;
		m->off += cut * page;
		m->len -= cut * page;
	} else if (at + cut == pages) {
		m->len -= cut * page;
	} else {
		struct mapping *rest = &w->map[w->nr_maps++];

		*rest = *m;
		rest->addr = m->addr + (at + cut) * page;
		rest->off = m->off + (at + cut) * page;
		rest->len = m->len - (at + cut) * page;
		m->len = at * page;
	}
	touch_pages(w, m, 2);
}

/*
 * Grow or shrink a mapping (it may move), or move it to a given place.
 * Growing may fail with ENOMEM where there is room to grow in place: since
 * the mremap() rework (seen on 7.2), the kernel expands in place by
 * merging, which it refuses for VM_SPECIAL mappings such as these
 * (VM_MIXEDMAP), and does not fall back to moving.  The mapping is left as
 * it was.
 */
static void op_mremap(struct worker *w, struct mapping *m)
{
	size_t len = (1 + below(w, MAX_MAP_PAGES)) * page;
	bool move = below(w, 2);
	void *to = NULL, *got;

	note(w, "mremap 0x%jx+0x%zx %s 0x%zx", (intmax_t)m->off, m->len,
	     move ? "move" : "to length", move ? m->len : len);
	if (move) {
		/* a place of the same size to move to */
		to = mmap(NULL, m->len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (to == MAP_FAILED) {
			fail_errno(w, "mmap of a place to move to", -1);
			return;
		}
		got = mremap(m->addr, m->len, m->len, MREMAP_MAYMOVE | MREMAP_FIXED, to);
	} else {
		got = mremap(m->addr, m->len, len, MREMAP_MAYMOVE);
	}
	if (got == MAP_FAILED && !move && len > m->len && errno == ENOMEM) {
		touch_pages(w, m, 2);
		return;
	}
	if (got == MAP_FAILED) {
		fail_errno(w, "mremap", -1);
		if (move)
			munmap(to, m->len);
		return;
	}
	m->addr = got;
	if (!move)
		m->len = len;
	touch_pages(w, m, 2);
}

static void op_madvise(struct worker *w, struct mapping *m)
{
	size_t pages = m->len / page, first = below(w, pages);
	size_t nr = 1 + below(w, pages - first);
	int ret;

	note(w, "MADV_DONTNEED pages %zu+%zu of 0x%jx+0x%zx", first, nr,
	     (intmax_t)m->off, m->len);
	ret = madvise(m->addr + first * page, nr * page, MADV_DONTNEED);
	if (ret)
		fail_errno(w, "madvise MADV_DONTNEED", ret);
	touch_pages(w, m, 2);
}

/*
 * fork() with the worker's mappings live: the child (one thread, a copy of
 * this one) touches them, then _exits.  Shared mappings are shared with it,
 * private ones copied; either may raise SIGBUS, anything else fails.
 */
static void op_fork(struct worker *w, struct mapping *unused __always_unused)
{
	int i, status;
	pid_t pid;

	note(w, "fork with %d mappings", w->nr_maps);
	pid = fork();
	if (pid < 0) {
		fail_errno(w, "fork", pid);
		return;
	}
	if (!pid) {
		for (i = 0; i < w->nr_maps; i++)
			touch_pages(w, &w->map[i], 4);
		_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid) {
		fail_errno(w, "waitpid", -1);
		return;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		fail(w, "forked child ended with status 0x%x", status);
}

/*
 * read() into a mapping of the device (private, or shared in the scratch
 * area), from anywhere in the device: a count, or EFAULT when the page of
 * the buffer is a hole or past the end.
 */
static void op_read_into_map(struct worker *w, struct mapping *m)
{
	size_t at = below(w, m->len), len = 1 + below(w, m->len - at), p;
	off_t from = below(w, append_end);
	ssize_t n;

	for (p = at / page; p <= (at + len - 1) / page; p++)
		if (!may_store(m, m->off + p * page))
			return;
	note(w, "read 0x%jx+0x%zx into %s mapping 0x%jx+0x%zx at 0x%zx",
	     (intmax_t)from, len, m->shared ? "shared" : "private",
	     (intmax_t)m->off, m->len, at);
	n = pread(w->band[w->dev].fd, m->addr + at, len, from);
	if (n < 0 && errno == EFAULT)
		count(&sh->efault);
	else if (n < 0 || n > (ssize_t)len)
		fail_errno(w, "read() into a mapping", n);
	else if (n < (ssize_t)len)
		count(&sh->short_count);
}

/*
 * write() from a mapping of the device, anywhere in it, into the scratch
 * area: a count, or EFAULT (ENOSPC if the module caps its memory).
 */
static void op_write_from_map(struct worker *w, struct mapping *m)
{
	size_t at = below(w, m->len), len = 1 + below(w, m->len - at);
	off_t to;
	ssize_t n;

	if (len > (size_t)(append_start - scratch_start - 1))
		len = append_start - scratch_start - 1;
	to = scratch_start + below(w, append_start - scratch_start - len);
	note(w, "write 0x%jx+0x%zx from %s mapping 0x%jx+0x%zx at 0x%zx",
	     (intmax_t)to, len, m->shared ? "shared" : "private",
	     (intmax_t)m->off, m->len, at);
	n = pwrite(w->band[w->dev].fd, m->addr + at, len, to);
	if (n < 0 && errno == EFAULT)
		count(&sh->efault);
	else if (n < 0 && errno == ENOSPC)
		count(&sh->enospc);
	else if (n <= 0 || n > (ssize_t)len)
		fail_errno(w, "write() from a mapping", n);
}

/* Plain writes to the scratch area, and reads from anywhere. */
static void op_scratch_io(struct worker *w, struct mapping *unused __always_unused)
{
	size_t len = 1 + below(w, 4 * page);
	off_t to = scratch_start + below(w, append_start - scratch_start - len);
	off_t from = below(w, append_end + page);
	ssize_t n;

	note(w, "scratch write 0x%jx+0x%zx, read 0x%jx", (intmax_t)to, len, (intmax_t)from);
	pattern_fill(w->buf, to, len, writer_stamp(w));
	n = pwrite(w->band[w->dev].fd, w->buf, len, to);
	if (n < 0 && errno == ENOSPC)
		count(&sh->enospc);
	else if (n <= 0)
		fail_errno(w, "pwrite to the scratch area", n);
	n = pread(w->band[w->dev].fd, w->buf, len, from);
	if (n < 0 || n > (ssize_t)len)
		fail_errno(w, "pread", n);
	else if (n < (ssize_t)len)
		count(&sh->short_count);
}

/*
 * lseek() with every whence, including a bad one, from a known position.
 * The size of the device changes under it, but stays within size_max
 * (nothing writes further), which bounds the answers.  A failed seek must
 * leave the position alone.
 */
static void op_lseek(struct worker *w, struct mapping *unused __always_unused)
{
	static const int whences[] = { SEEK_SET, SEEK_CUR, SEEK_END, SEEK_DATA,
				       SEEK_HOLE, 5 };
	int fd = w->band[w->dev].fd, whence = whences[below(w, 6)];
	off_t start = below(w, append_end), off, r, lo, hi;
	bool einval_ok = false, enxio_ok = false;

	switch (below(w, 4)) {
	case 0:
		off = -(off_t)below(w, append_end) - 1;
		break;
	case 1:		/* the largest offsets, and one past */
		off = MAX_BYTES - below(w, 2) + below(w, 2);
		break;
	default:
		off = below(w, append_end);
		break;
	}
	note(w, "lseek %jd whence %d from 0x%jx", (intmax_t)off, whence, (intmax_t)start);
	if (lseek(fd, start, SEEK_SET) != start) {
		fail_errno(w, "lseek SEEK_SET", -1);
		return;
	}
	switch (whence) {
	case SEEK_SET:
		lo = off;
		hi = off;
		break;
	case SEEK_CUR:
		lo = start + off;
		hi = lo;
		break;
	case SEEK_END:	/* the size is in [0, size_max] */
		lo = off;
		hi = off + size_max;
		break;
	case SEEK_DATA:	/* ENXIO, also for a negative offset */
	case SEEK_HOLE:
		lo = off;
		hi = size_max;
		enxio_ok = true;
		break;
	default:
		lo = 0;
		hi = 0;
		einval_ok = true;
		break;
	}
	if (!enxio_ok && (lo < 0 || hi > (off_t)MAX_BYTES))
		einval_ok = true;
	if (lo < 0)
		lo = 0;
	r = lseek(fd, off, whence);
	if (r < 0 && ((errno == EINVAL && einval_ok) ||
		      (errno == ENXIO && enxio_ok))) {
		if (lseek(fd, 0, SEEK_CUR) != start)
			fail(w, "a failed lseek() moved the position from 0x%jx",
			     (intmax_t)start);
		return;
	}
	if (r < 0)
		fail_errno(w, "lseek", r);
	else if (r < lo || r > hi || whence == 5)
		fail(w, "lseek(%jd, whence %d) from 0x%jx gave 0x%jx, outside 0x%jx..0x%jx",
		     (intmax_t)off, whence, (intmax_t)start, (intmax_t)r, (intmax_t)lo,
		     (intmax_t)hi);
}

/* Unverified ioctls: GET_INFO, and the calls the driver must refuse. */
static void op_ioctl(struct worker *w, struct mapping *unused __always_unused)
{
	struct band *b = &w->band[w->dev];
	struct scullmap_geometry bad[] = { { 11, 4 }, { 0, 0 }, { 0, 4097 } };
	struct scullmap_info info;
	int how = below(w, 5), ret, expect;
	const char *what;

	switch (how) {
	case 0:
		note(w, "GET_INFO (unverified)");
		if (ioctl(b->fd_ro, SCULLMAP_IOC_GET_INFO, &info))
			fail_errno(w, "GET_INFO", -1);
		else
			info_sane(w, &info);
		return;
	case 1:
		what = "SET_GEOMETRY out of range";
		expect = EINVAL;
		note(w, "%s", what);
		ret = ioctl(b->fd, SCULLMAP_IOC_SET_GEOMETRY, &bad[below(w, 3)]);
		break;
	case 2:
		what = "RESET on a read-only file";
		expect = EBADF;
		note(w, "%s", what);
		ret = ioctl(b->fd_ro, SCULLMAP_IOC_RESET);
		break;
	case 3:
		what = "an unknown ioctl";
		expect = ENOTTY;
		note(w, "%s", what);
		ret = ioctl(b->fd, _IO(SCULLMAP_IOC_MAGIC, 0x7f));
		break;
	default:
		what = "GET_INFO to a bad pointer";
		expect = EFAULT;
		note(w, "%s", what);
		ret = ioctl(b->fd, SCULLMAP_IOC_GET_INFO, (void *)8);
		break;
	}
	if (ret != -1 || errno != expect)
		fail(w, "%s returned %d, errno %d (%s), expected %s", what, ret, errno,
		     strerror(errno), strerror(expect));
}

/* How an operation runs: which lock it takes, whether it needs a mapping. */
enum op_kind {
	VERIFIED,	/* under the read lock, the model brought up to date */
	RACING,		/* no lock, verified against the race area's generations */
	TRUNCATION,	/* under the write lock */
	UNVERIFIED,	/* no lock */
	ON_MAPPING,	/* no lock, on one of the worker's mappings */
};

static const struct {
	const char *name;
	unsigned int weight;
	enum op_kind kind;
	void (*run)(struct worker *w, struct mapping *m);
} ops[OP_NR] = {
	[OP_WRITE]		= { "write",		12, VERIFIED,	op_write },
	[OP_READ]		= { "read",		8, VERIFIED,	op_read },
	[OP_MAP_SHARED]		= { "map_shared",	5, VERIFIED,	op_map },
	[OP_MAP_PRIVATE]	= { "map_private",	4, VERIFIED,	op_map },
	[OP_SEEK_DATA_HOLE]	= { "seek_data_hole",	5, VERIFIED,	op_seek },
	[OP_SELF_COPY]		= { "self_copy",	3, VERIFIED,	op_self_copy },
	[OP_APPEND]		= { "append",		2, VERIFIED,	op_append },
	[OP_INFO]		= { "info",		2, VERIFIED,	op_info },
	[OP_RACE_MAP]		= { "race_map",		8, RACING,	op_race },
	[OP_RACE_READ]		= { "race_read",	4, RACING,	op_race },
	/* racers only (weight 0): it waits */
	[OP_RACE_POUNCE]	= { "race_pounce",	0, RACING,	op_pounce },
	[OP_OPEN_TRUNC]		= { "open_trunc",	1, TRUNCATION,	op_truncate },
	[OP_RESET]		= { "reset",		1, TRUNCATION,	op_truncate },
	[OP_GEOMETRY]		= { "geometry",		1, TRUNCATION,	op_truncate },
	[OP_MMAP]		= { "mmap",		6, UNVERIFIED,	op_mmap },
	[OP_TOUCH]		= { "touch",		10, ON_MAPPING,	op_touch },
	[OP_MUNMAP_PART]	= { "munmap_part",	3, ON_MAPPING,	op_munmap_part },
	[OP_MREMAP]		= { "mremap",		3, ON_MAPPING,	op_mremap },
	[OP_MADVISE]		= { "madvise",		2, ON_MAPPING,	op_madvise },
	[OP_FORK]		= { "fork",		1, UNVERIFIED,	op_fork },
	[OP_READ_INTO_MAP]	= { "read_into_map",	3, ON_MAPPING,	op_read_into_map },
	[OP_WRITE_FROM_MAP]	= { "write_from_map",	3, ON_MAPPING,	op_write_from_map },
	[OP_SCRATCH_IO]		= { "scratch_io",	3, UNVERIFIED,	op_scratch_io },
	[OP_LSEEK]		= { "lseek",		3, UNVERIFIED,	op_lseek },
	[OP_IOCTL]		= { "ioctl",		2, UNVERIFIED,	op_ioctl },
};

static enum op pick_op(struct worker *w)
{
	unsigned int x = below(w, total_weight);
	enum op op;

	for (op = 0; op < OP_NR - 1; op++) {
		if (x < ops[op].weight)
			break;
		x -= ops[op].weight;
	}
	return op;
}

/* Run one operation; false if it could not run now (no mapping, say). */
static bool run_op(struct worker *w, enum op op)
{
	pthread_rwlock_t *lock;
	struct mapping *m = NULL;

	w->op = op;
	w->dev = below(w, nr_devs);
	lock = &sh->lock[w->dev];
	switch (ops[op].kind) {
	case VERIFIED:
		pthread_rwlock_rdlock(lock);
		sync_model(w);
		ops[op].run(w, NULL);
		pthread_rwlock_unlock(lock);
		break;
	case TRUNCATION:
		pthread_rwlock_wrlock(lock);
		ops[op].run(w, NULL);
		pthread_rwlock_unlock(lock);
		break;
	case ON_MAPPING:
		m = pick_mapping(w);
		if (!m)
			return false;
		ops[op].run(w, m);
		break;
	default:
		ops[op].run(w, NULL);
		break;
	}
	return true;
}

static bool time_is_up(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > end_time.tv_sec ||
	       (now.tv_sec == end_time.tv_sec && now.tv_nsec >= end_time.tv_nsec);
}

/* A racer's next operation: half of them wait for a truncation. */
static enum op racer_op(struct worker *w)
{
	if (below(w, 2))
		return OP_RACE_POUNCE;
	return below(w, 3) ? OP_RACE_MAP : OP_RACE_READ;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	enum op op;
	int d, i;

	for (d = 0; d < nr_devs; d++) {
		struct band *b = &w->band[d];

		b->fd = open(dev_path[d], O_RDWR | O_CLOEXEC);
		b->fd_ro = open(dev_path[d], O_RDONLY | O_CLOEXEC);
		b->model = calloc(1, band_bytes);
		b->page_has_data = calloc(1, BAND_PAGES);
		b->gen = -1;
		w->dev = d;
		b->race_map = MAP_FAILED;
		for (i = 0; i < STORM_MAPS; i++)
			b->storm[i] = MAP_FAILED;
		if (b->fd >= 0)
			b->race_map = mmap(NULL, RACE_PAGES * page, PROT_READ, MAP_SHARED,
					   b->fd, race_start);
		for (i = 0; w->racer && b->fd >= 0 && i < STORM_MAPS; i++)
			b->storm[i] = mmap(NULL, storm_len(), PROT_READ, MAP_SHARED, b->fd, 0);
		if (b->fd < 0 || b->fd_ro < 0 || !b->model || !b->page_has_data ||
		    b->race_map == MAP_FAILED ||
		    (w->racer && b->storm[STORM_MAPS - 1] == MAP_FAILED)) {
			fail(w, "cannot open the device or allocate the model: %s",
			     strerror(errno));
			return NULL;
		}
	}
	w->buf = malloc(band_bytes);
	w->buf2 = malloc(band_bytes);
	if (!w->buf || !w->buf2) {
		fail(w, "out of memory");
		return NULL;
	}
	while (!w->failed && !run_failed() && !time_is_up()) {
		op = w->racer ? racer_op(w) : pick_op(w);
		if (run_op(w, op))
			count(&sh->done[op]);
		/* a racer leaves the workers most of the processors */
		if (w->racer && op != OP_RACE_POUNCE)
			usleep(RACER_NAP_US);
	}
	while (w->nr_maps)
		drop_mapping(w, 0);
	for (d = 0; d < nr_devs; d++) {
		munmap(w->band[d].race_map, RACE_PAGES * page);
		for (i = 0; w->racer && i < STORM_MAPS; i++)
			munmap(w->band[d].storm[i], storm_len());
		close(w->band[d].fd);
		close(w->band[d].fd_ro);
	}
	return NULL;
}

/*
 * One worker process: nr_threads threads, and a racer, which reads the
 * race areas without a lock all the time, so that its faults and reads
 * keep meeting the truncations.  Exit status 0 unless one failed.
 */
static void worker_process(int proc)
{
	pthread_t tid[MAX_WORKERS + 1];
	struct worker *w;
	int t, bad = 0, nr = nr_threads + 1;

	catch_signals();
	w = calloc(nr, sizeof(*w));
	if (!w)
		_exit(1);
	for (t = 0; t < nr; t++) {
		w[t].proc = proc;
		w[t].thread = t;
		w[t].racer = t == nr_threads;
		/* a racer has no band: its id only seeds its numbers */
		w[t].id = w[t].racer ? nr_procs * nr_threads + proc : proc * nr_threads + t;
		/* splitmix-like spreading of the seed over the workers */
		w[t].rng = (seed + 1) * 0x9e3779b97f4a7c15ULL ^
			   (w[t].id + 1) * 0xbf58476d1ce4e5b9ULL;
		if (!w[t].rng)
			w[t].rng = 1;
		if (pthread_create(&tid[t], NULL, worker_main, &w[t])) {
			say("# FAIL: pthread_create failed\n");
			__atomic_store_n(&sh->failed, 1, __ATOMIC_RELAXED);
			nr = t;
			bad = 1;
			break;
		}
	}
	for (t = 0; t < nr; t++) {
		pthread_join(tid[t], NULL);
		bad |= w[t].failed;
	}
	_exit(bad);
}

static long parse_number(const char *arg, const char *name, long min, long max)
{
	/* arg is "NAME=VALUE" */
	const char *digits = arg + strlen(name) + 1;
	char *end;
	long value;

	value = strtol(digits, &end, 0);
	if (!*digits || *end || value < min || value > max) {
		fprintf(stderr, "stress: %s must be %ld..%ld\n", name, min, max);
		exit(2);
	}
	return value;
}

static void print_usage(void)
{
	fprintf(stderr,
		"usage: stress [--seconds=N] [--procs=N] [--threads=N] [--seed=N] DEVICE...\n"
		"Random mixes of every scullmap operation on the devices for N seconds;\n"
		"procs * threads at most %d.  Prints TAP; exit status 0 if all passed.\n",
		MAX_WORKERS);
	exit(2);
}

static void parse_args(int argc, char **argv)
{
	const char *arg;
	int i;

	seed = (uint64_t)time(NULL) * 1000003 + getpid();
	for (i = 1; i < argc; i++) {
		arg = argv[i];
		if (arg[0] != '-') {
			if (nr_devs == MAX_DEVS)
				print_usage();
			dev_path[nr_devs++] = arg;
		} else if (!strncmp(arg, "--seconds=", 10)) {
			seconds = parse_number(arg, "--seconds", 1, 86400);
		} else if (!strncmp(arg, "--procs=", 8)) {
			nr_procs = parse_number(arg, "--procs", 1, MAX_WORKERS);
		} else if (!strncmp(arg, "--threads=", 10)) {
			nr_threads = parse_number(arg, "--threads", 1, MAX_WORKERS);
		} else if (!strncmp(arg, "--seed=", 7)) {
			seed = strtoull(arg + 7, NULL, 0);
		} else {
			print_usage();
		}
	}
	if (!nr_devs || nr_procs * nr_threads > MAX_WORKERS)
		print_usage();
}

/*
 * Empty every device and give it a geometry that makes the set cover both
 * orders on each back end: the first device of a back end gets order 0,
 * the next ones orders above 0.  Truncations change them as they go.
 */
static bool setup_devices(void)
{
	unsigned char *buf = malloc(BAND_PAGES * page);
	uint64_t holes[RACE_WORDS] = { 0 };
	int d, e, same, fd;
	struct scullmap_geometry geo;

	if (!buf)
		return false;
	for (d = 0; d < nr_devs; d++) {
		fd = open(dev_path[d], O_RDWR | O_CLOEXEC);
		if (fd < 0 || ioctl(fd, SCULLMAP_IOC_GET_INFO, &dev_start_info[d])) {
			say("# %s: %s\n", dev_path[d], strerror(errno));
			return false;
		}
		for (same = 0, e = 0; e < d; e++)
			same += dev_start_info[e].backend == dev_start_info[d].backend;
		geo.order = same ? 1 + (same - 1) % MAX_ORDER_USED : 0;
		geo.qset = 2 + d;
		if (ioctl(fd, SCULLMAP_IOC_RESET) ||
		    ioctl(fd, SCULLMAP_IOC_SET_GEOMETRY, &geo) ||
		    race_fill(fd, d, 1, holes, buf)) {
			say("# %s: emptying, setting the geometry, filling: %s\n",
			    dev_path[d], strerror(errno));
			close(fd);
			free(buf);
			return false;
		}
		say("# %s: %s, order %u, qset %u\n", dev_path[d],
		    dev_start_info[d].backend == SCULLMAP_BACKEND_VMALLOC ? "vmalloc" : "pages",
		    geo.order, geo.qset);
		close(fd);
	}
	free(buf);
	return true;
}

/*
 * After the run: no process maps the device any more, so it must count no
 * mapping; it must empty, and take its original geometry back.
 */
static bool finish_device(int d)
{
	struct scullmap_geometry geo = {
		.order = dev_start_info[d].order,
		.qset = dev_start_info[d].qset,
	};
	struct scullmap_info info;
	bool ok = false;
	int fd;

	fd = open(dev_path[d], O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		say("# %s: open: %s\n", dev_path[d], strerror(errno));
		return false;
	}
	if (ioctl(fd, SCULLMAP_IOC_GET_INFO, &info))
		say("# %s: GET_INFO: %s\n", dev_path[d], strerror(errno));
	else if (info.mappings)
		say("# %s: %u mappings counted after every process exited\n",
		    dev_path[d], info.mappings);
	else if (ioctl(fd, SCULLMAP_IOC_RESET) || ioctl(fd, SCULLMAP_IOC_GET_INFO, &info))
		say("# %s: RESET: %s\n", dev_path[d], strerror(errno));
	else if (info.size || info.quanta || info.qsets)
		say("# %s: after RESET: size %llu, %llu quanta, %llu sets\n", dev_path[d],
		    (unsigned long long)info.size, (unsigned long long)info.quanta,
		    (unsigned long long)info.qsets);
	else if (ioctl(fd, SCULLMAP_IOC_SET_GEOMETRY, &geo))
		say("# %s: restoring the geometry: %s\n", dev_path[d], strerror(errno));
	else
		ok = true;
	close(fd);
	return ok;
}

/*
 * Print how often each class of expected event happened; false if one that
 * every run must see never did: a run without it proved nothing about it.
 * (Say so only of a run that did not stop at a failure first.)
 */
static bool report_events(bool stopped)
{
	unsigned long truncs = sh->done[OP_OPEN_TRUNC] + sh->done[OP_RESET] +
			       sh->done[OP_GEOMETRY];
	const struct {
		const char *what;
		unsigned long n;
		bool needed;
	} ev[] = {
		{ "SIGBUS (hole, past the end, emptied)", sh->sigbus, true },
		{ "EFAULT (read/write buffer in a hole)", sh->efault, true },
		{ "short count (read() reaching the end)", sh->short_count, true },
		{ "truncations that verified data", sh->trunc_checked, true },
		{ "  pages verified before, SIGBUS after", sh->trunc_sigbus, true },
		{ "  pages mapped before, new data after", sh->trunc_new, true },
		{ "lock-free reads verified", sh->race_reads, true },
		{ "  overlapping a truncation", sh->race_raced, true },
		{ "  read again after it returned", sh->race_rechecked, true },
		{ "EBUSY (SET_GEOMETRY after a write)", sh->ebusy, false },
		{ "ENOSPC (the module's memory cap)", sh->enospc, false },
	};
	bool all = true;
	size_t i;

	say("# expected events:\n");
	for (i = 0; i < ARRAY_SIZE(ev); i++)
		say("#   %-40s %lu\n", ev[i].what, ev[i].n);
	say("# %lu of %lu truncations verified data (%.1f per second)\n",
	    sh->trunc_checked, truncs, (double)sh->trunc_checked / seconds);
	for (i = 0; i < ARRAY_SIZE(ev); i++)
		if (ev[i].needed && !ev[i].n && !stopped) {
			say("# FAIL: no \"%s\" event in the whole run: that class was not tested\n",
			    ev[i].what);
			all = false;
		}
	return all;
}

/*
 * Wait for the worker processes until the deadline.  Returns true if all
 * ended in time; *bad is set if one failed or was killed by a signal.
 */
static unsigned long total_done(void)
{
	unsigned long total = 0;
	int i;

	for (i = 0; i < OP_NR; i++)
		total += __atomic_load_n(&sh->done[i], __ATOMIC_RELAXED);
	return total;
}

static bool wait_workers(pid_t *pids, time_t deadline, bool *bad)
{
	time_t start = time(NULL), next_report = start + 60;
	int left = nr_procs, i, status;
	char path[320], state[256];
	struct dirent *task;
	DIR *dir;
	pid_t pid;
	FILE *f;

	while (left) {
		pid = waitpid(-1, &status, WNOHANG);
		if (pid > 0) {
			for (i = 0; i < nr_procs; i++)
				if (pids[i] == pid)
					pids[i] = 0;
			left--;
			if (WIFSIGNALED(status))
				say("# worker process %d killed by signal %d\n", pid,
				    WTERMSIG(status));
			if (!WIFEXITED(status) || WEXITSTATUS(status))
				*bad = true;
			continue;
		}
		if (time(NULL) < deadline) {
			/* a sign of life in long runs */
			if (time(NULL) >= next_report) {
				say("# %ld s: %lu operations\n", (long)(time(NULL) - start),
				    total_done());
				next_report += 60;
			}
			usleep(100000);
			continue;
		}
		/* Hung: say where each thread is (its state, its wchan), kill them. */
		for (i = 0; i < nr_procs; i++) {
			if (!pids[i])
				continue;
			snprintf(path, sizeof(path), "/proc/%d/task", pids[i]);
			dir = opendir(path);
			while (dir && (task = readdir(dir))) {
				if (task->d_name[0] == '.')
					continue;
				snprintf(path, sizeof(path), "/proc/%d/task/%s/stat", pids[i],
					 task->d_name);
				f = fopen(path, "r");
				if (f && fgets(state, sizeof(state), f))
					say("# still running: %s", state);
				if (f)
					fclose(f);
			}
			if (dir)
				closedir(dir);
			kill(pids[i], SIGKILL);
		}
		return false;
	}
	return true;
}

int main(int argc, char **argv)
{
	pthread_rwlockattr_t attr;
	pid_t pids[MAX_WORKERS];
	unsigned long total;
	bool bad = false, in_time, all_ran = true, all_seen;
	time_t deadline;
	int i, d, nr_tests;

	parse_args(argc, argv);
	page = getpagesize();
	band_bytes = BAND_PAGES * page;
	/*
	 * The race area first, after a hole of one quantum of the highest
	 * order used, where the racers' storm mappings start (see op_pounce()).
	 */
	race_start = (off_t)page << MAX_ORDER_USED;
	scratch_start = race_start + RACE_PAGES * page +
			(off_t)nr_procs * nr_threads * band_bytes;
	append_start = scratch_start + SCRATCH_PAGES * page;
	append_end = append_start + APPEND_PAGES * page;
	size_max = append_end + MAX_WORKERS * 2 * page;
	for (i = 0; i < OP_NR; i++)
		total_weight += ops[i].weight;
	nr_tests = 4 + nr_devs;

	say("1..%d\n", nr_tests);
	say("# stress: %d devices, %d processes x %d threads, %lu s, --seed=%llu\n",
	    nr_devs, nr_procs, nr_threads, seconds, (unsigned long long)seed);
	say("# race area 0x%jx, bands of 0x%zx from 0x%zx, scratch 0x%jx, appends 0x%jx..0x%jx\n",
	    (intmax_t)race_start, band_bytes, RACE_PAGES * page, (intmax_t)scratch_start,
	    (intmax_t)append_start, (intmax_t)append_end);

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED || !setup_devices()) {
		say("Bail out! cannot set up the devices\n");
		return 1;
	}
	/* Writer preference: readers keep coming, truncation must get in. */
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	for (d = 0; d < nr_devs; d++)
		pthread_rwlock_init(&sh->lock[d], &attr);

	clock_gettime(CLOCK_MONOTONIC, &end_time);
	end_time.tv_sec += seconds;
	deadline = time(NULL) + seconds + GRACE_SECONDS;
	for (i = 0; i < nr_procs; i++) {
		pids[i] = fork();
		if (pids[i] < 0) {
			say("Bail out! fork: %s\n", strerror(errno));
			sh->failed = 1;
			nr_procs = i;
			break;
		}
		if (!pids[i])
			worker_process(i);
	}

	in_time = wait_workers(pids, deadline, &bad);
	say("%sok 1 - workers finished within %lu s\n", in_time ? "" : "not ",
	    seconds + GRACE_SECONDS);
	if (!in_time) {
		/* a worker stuck in the kernel may never die: report, stop here */
		say("Bail out! workers hung\n");
		return 1;
	}

	bad |= sh->failed;
	total = total_done();
	say("%sok 2 - no mismatch, unexpected errno or signal in %lu operations\n",
	    bad ? "not " : "", total);

	for (i = 0; i < OP_NR; i++) {
		say("#   %-16s %lu\n", ops[i].name, sh->done[i]);
		all_ran &= sh->done[i] > 0;
	}
	all_seen = report_events(bad);
	/* A run that skipped a kind of operation proved nothing about it. */
	if (bad) {
		say("ok 3 - every kind of operation ran # SKIP the run stopped at a failure\n");
		say("ok 4 - every class of expected event happened # SKIP stopped at a failure\n");
	} else {
		say("%sok 3 - every kind of operation ran\n", all_ran ? "" : "not ");
		say("%sok 4 - every class of expected event happened\n",
		    all_seen ? "" : "not ");
	}

	for (d = 0; d < nr_devs; d++) {
		bool ok = finish_device(d);

		bad |= !ok;
		say("%sok %d - %s: no mapping left, empties, geometry restored\n",
		    ok ? "" : "not ", 5 + d, dev_path[d]);
	}
	say("# replay the same sequences with --seed=%llu\n", (unsigned long long)seed);
	return bad || !all_ran || !all_seen;
}

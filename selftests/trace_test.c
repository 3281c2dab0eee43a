// SPDX-License-Identifier: GPL-2.0
/*
 * The driver's trace events against what the test did: each touch of a
 * mapping at fault_window=1 gives one scullmap_fault event for that page,
 * mapping one page; at the default window the event's count of pages is
 * the run mincore() finds mapped; holes and pages past the end give SIGBUS
 * events; O_TRUNC and RESET give scullmap_empty with the bytes and pages
 * the device held; disabled events record nothing.  And mapper -v's counts
 * of faults and resident pages at both windows.  Runs with the module
 * loaded, in a trace instance of its own, so that it disturbs no other
 * tracing; it leaves fault_window as it found it.
 */
#include <errno.h>
#include <libgen.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "kselftest_harness.h"
#include "scullmap_test.h"
#include "uapi/scullmap.h"

#define TRACEFS		"/sys/kernel/tracing"
#define INSTANCE	TRACEFS "/instances/scullmap_trace_test"
#define HOLDER		TRACEFS "/instances/scullmap_trace_hold"
#define WINDOW_FILE	"/sys/module/scullmap/parameters/fault_window"
#define DEFAULT_WINDOW	256	/* the module's default fault_window */
#define MAX_EVENTS	64
#define GEN		3	/* the data's pattern generation */

/* One event of the instance's trace, its fields as the event prints them. */
struct event {
	char name[16];		/* "fault" or "empty" */
	unsigned int minor;
	char backend[16];
	unsigned long pgoff;
	int write;
	unsigned long mapped;
	char result[16];	/* of a fault */
	char reason[16];	/* of an empty */
	long long bytes;
	unsigned long pages;
};

/* What the events print, as in their TP_printk() in scullmap/trace.h. */
#define DEV_FMT		"minor=%u backend=%15s %n"
#define FAULT_FMT	"address=%*s pgoff=%lu write=%d mapped=%lu result=%15s"
#define EMPTY_FMT	"reason=%15s bytes=%lld pages=%lu"

/*
 * Read one line of the trace file into @ev: 1 for an event of the driver,
 * 0 for another line, -1 for an event it cannot read.
 */
static int parse_event(const char *line, struct event *ev)
{
	const char *at;
	int len = 0;

	memset(ev, 0, sizeof(*ev));
	at = strstr(line, ": scullmap_");
	if (!at || sscanf(at, ": scullmap_%15[a-z]: ", ev->name) != 1)
		return 0;	/* a comment line of the trace file */
	at = strchr(at + 1, ':') + 2;
	if (sscanf(at, DEV_FMT, &ev->minor, ev->backend, &len) != 2 || !len)
		return -1;
	at += len;
	if (!strcmp(ev->name, "fault"))
		return sscanf(at, FAULT_FMT, &ev->pgoff, &ev->write, &ev->mapped,
			      ev->result) == 4 ? 1 : -1;
	if (!strcmp(ev->name, "empty"))
		return sscanf(at, EMPTY_FMT, ev->reason, &ev->bytes,
			      &ev->pages) == 3 ? 1 : -1;
	return -1;
}

/* The events recorded so far, up to @max; -1 on a line it cannot read. */
static int read_events(struct event *evs, int max)
{
	FILE *f = fopen(INSTANCE "/trace", "r");
	char line[512];
	int n = 0, ret;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		ret = parse_event(line, n < max ? &evs[n] : &evs[max - 1]);
		if (ret < 0) {
			fprintf(stderr, "# cannot read the trace line: %s", line);
			n = -1;
			break;
		}
		n += ret;
	}
	fclose(f);
	return n;
}

/* Empty the instance's buffer: open its trace file with O_TRUNC. */
static int clear_events(void)
{
	int fd = open(INSTANCE "/trace", O_WRONLY | O_TRUNC | O_CLOEXEC);

	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static int enable_events(int on)
{
	return write_text(INSTANCE "/events/scullmap/enable", on ? "1" : "0");
}

static int set_window(unsigned int pages)
{
	char text[16];

	snprintf(text, sizeof(text), "%u", pages);
	return write_text(WINDOW_FILE, text);
}

static long read_window(void)
{
	FILE *f = fopen(WINDOW_FILE, "r");
	long window = -1;

	if (f) {
		if (fscanf(f, "%ld", &window) != 1)
			window = -1;
		fclose(f);
	}
	return window;
}

FIXTURE(trace) {
	int fd;
	unsigned int minor;
	long window;		/* fault_window as found, restored after */
	size_t page;
};

FIXTURE_VARIANT(trace) {
	const char *path;
	const char *backend;
};

FIXTURE_VARIANT_ADD(trace, pages) {
	.path = "/dev/scullmap2",
	.backend = "pages",
};

FIXTURE_VARIANT_ADD(trace, vmalloc) {
	.path = "/dev/scullmapv2",
	.backend = "vmalloc",
};

/*
 * Tracefs where the rig and most systems mount it, mounted if it is not;
 * then an instance of our own with the driver's events on, empty.  Every
 * device starts empty, at one page per quantum, so that holes and counts
 * of pages are page-sized.
 */
/*
 * Enabling an event that no instance has enabled yet patches the kernel's
 * text (the tracepoint's static key), and so does disabling it in the last
 * instance.  Under QEMU's multi-threaded emulation that patching has been
 * seen to trip another CPU ("Oops: int3"), so the tests keep the events
 * enabled in a second instance of their own from the first test to the end
 * of the program: enabling and disabling them in INSTANCE then only adds and
 * removes that instance's probes, and the text is patched twice in all.
 */
static void hold_events(void)
{
	if (mkdir(HOLDER, 0755) && errno != EEXIST)
		return;
	write_text(HOLDER "/events/scullmap/enable", "1");
}

/* After the last test, in the harness's own process (tests end in _exit()). */
static void __attribute__((destructor)) release_events(void)
{
	if (access(HOLDER, F_OK))
		return;
	write_text(HOLDER "/events/scullmap/enable", "0");
	rmdir(HOLDER);
}

FIXTURE_SETUP(trace)
{
	struct scullmap_geometry geo = { .order = 0, .qset = 4 };
	struct stat st;

	if (access(TRACEFS "/instances", F_OK))
		mount("tracefs", TRACEFS, "tracefs", 0, NULL);
	if (access(TRACEFS "/instances", F_OK))
		SKIP(return, "no tracefs at " TRACEFS);
	ASSERT_TRUE(!mkdir(INSTANCE, 0755) || errno == EEXIST)
		TH_LOG("mkdir %s: %s", INSTANCE, strerror(errno));
	ASSERT_EQ(0, access(INSTANCE "/events/scullmap", F_OK))
		TH_LOG("the module has no events in %s", INSTANCE "/events");
	hold_events();

	self->page = getpagesize();
	self->window = read_window();
	ASSERT_LT(0, self->window) TH_LOG("cannot read %s", WINDOW_FILE);
	self->fd = open(variant->path, O_RDWR | O_TRUNC);
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s", variant->path, strerror(errno));
	ASSERT_EQ(0, fstat(self->fd, &st));
	self->minor = minor(st.st_rdev);
	ASSERT_EQ(0, ioctl(self->fd, SCULLMAP_IOC_SET_GEOMETRY, &geo))
		TH_LOG("SET_GEOMETRY: %s", strerror(errno));
	ASSERT_EQ(0, enable_events(1));
	ASSERT_EQ(0, clear_events());
}

FIXTURE_TEARDOWN(trace)
{
	char text[24];

	if (self->window > 0) {
		snprintf(text, sizeof(text), "%ld", self->window);
		EXPECT_EQ(0, write_text(WINDOW_FILE, text));
	}
	if (!access(INSTANCE, F_OK)) {
		enable_events(0);
		rmdir(INSTANCE);
	}
	if (self->fd >= 0) {
		ioctl(self->fd, SCULLMAP_IOC_RESET);
		close(self->fd);
	}
}

/* Write pattern data to pages [@first, @first + @count) of the device. */
static int write_pages(int fd, size_t page, size_t first, size_t count)
{
	size_t len = count * page;
	char *buf = malloc(len);
	ssize_t done;

	if (!buf)
		return -1;
	pattern_fill(buf, first * page, len, GEN);
	done = full_pwrite(fd, buf, len, first * page);
	free(buf);
	return done == (ssize_t)len ? 0 : -1;
}

/* Check that event @ev is a fault of our device with these values. */
#define check_fault(ev, pgoff, mapped, result) \
	fault_is(_metadata, self->minor, variant->backend, ev, pgoff, mapped, result)

static void fault_is(struct __test_metadata *_metadata, unsigned int minor,
		     const char *backend, const struct event *ev,
		     unsigned long pgoff, unsigned long mapped, const char *result)
{
	ASSERT_STREQ("fault", ev->name);
	EXPECT_EQ(minor, ev->minor);
	EXPECT_STREQ(backend, ev->backend);
	EXPECT_EQ(pgoff, ev->pgoff);
	EXPECT_EQ(mapped, ev->mapped);
	EXPECT_STREQ(result, ev->result);
}

/* At fault_window=1 each touch is one fault, one event, one page mapped. */
TEST_F(trace, one_page_per_fault)
{
	struct event evs[MAX_EVENTS];
	char *map, c;
	int n;

	ASSERT_EQ(0, write_pages(self->fd, self->page, 0, 8));
	ASSERT_EQ(0, set_window(1));
	map = mmap(NULL, 8 * self->page, PROT_READ, MAP_SHARED, self->fd, 0);
	ASSERT_NE(MAP_FAILED, map);
	ASSERT_EQ(0, clear_events());

	ASSERT_EQ(0, read_byte(map + 3 * self->page + 5, &c));
	EXPECT_EQ(pattern_byte(3 * self->page + 5, GEN), (unsigned char)c);
	n = read_events(evs, MAX_EVENTS);
	ASSERT_EQ(1, n);
	check_fault(&evs[0], 3, 1, "NOPAGE");
	EXPECT_EQ(0, evs[0].write);

	/* The page is mapped now: touching it again is no fault. */
	ASSERT_EQ(0, read_byte(map + 3 * self->page + 6, &c));
	EXPECT_EQ(1, read_events(evs, MAX_EVENTS));
	munmap(map, 8 * self->page);
}

/* A store through a shared mapping faults as a write. */
TEST_F(trace, write_fault)
{
	struct event evs[MAX_EVENTS];
	char *map;

	ASSERT_EQ(0, write_pages(self->fd, self->page, 0, 2));
	ASSERT_EQ(0, set_window(1));
	map = mmap(NULL, 2 * self->page, PROT_READ | PROT_WRITE, MAP_SHARED,
		   self->fd, 0);
	ASSERT_NE(MAP_FAILED, map);
	ASSERT_EQ(0, clear_events());

	ASSERT_EQ(0, write_byte(map + self->page, pattern_byte(self->page, GEN + 1)));
	ASSERT_EQ(1, read_events(evs, MAX_EVENTS));
	check_fault(&evs[0], 1, 1, "NOPAGE");
	EXPECT_EQ(1, evs[0].write);
	munmap(map, 2 * self->page);
}

/*
 * At the default window one touch maps the run of present pages from the
 * faulting one to the end of the data: the event's count is the run that
 * mincore() finds mapped, page for page.
 */
TEST_F(trace, default_window_maps_the_run)
{
	const size_t data = 20, len = 32, first = 2;
	struct event evs[MAX_EVENTS];
	unsigned char vec[32];
	size_t i, resident = 0;
	char *map, c;

	ASSERT_EQ(0, write_pages(self->fd, self->page, 0, data));
	ASSERT_EQ(0, set_window(DEFAULT_WINDOW));
	map = mmap(NULL, len * self->page, PROT_READ, MAP_SHARED, self->fd, 0);
	ASSERT_NE(MAP_FAILED, map);
	ASSERT_EQ(0, clear_events());

	ASSERT_EQ(0, read_byte(map + first * self->page, &c));
	ASSERT_EQ(1, read_events(evs, MAX_EVENTS));
	ASSERT_EQ(0, mincore(map, len * self->page, vec));
	for (i = 0; i < len; i++) {
		resident += vec[i] & 1;
		EXPECT_EQ(i >= first && i < data, vec[i] & 1) TH_LOG("page %zu", i);
	}
	check_fault(&evs[0], first, resident, "NOPAGE");
	EXPECT_EQ(data - first, evs[0].mapped);
	munmap(map, len * self->page);
}

/* A hole and a page past the end: SIGBUS, and events that say so. */
TEST_F(trace, sigbus_events)
{
	struct event evs[MAX_EVENTS];
	char *map, c;

	/* Data in pages 0 and 4: pages 1..3 are a hole, 5.. past the end. */
	ASSERT_EQ(0, write_pages(self->fd, self->page, 0, 1));
	ASSERT_EQ(0, write_pages(self->fd, self->page, 4, 1));
	map = mmap(NULL, 8 * self->page, PROT_READ, MAP_SHARED, self->fd, 0);
	ASSERT_NE(MAP_FAILED, map);
	ASSERT_EQ(0, clear_events());

	EXPECT_EQ(SIGBUS, read_byte(map + 2 * self->page, &c));
	EXPECT_EQ(SIGBUS, read_byte(map + 6 * self->page, &c));
	ASSERT_EQ(2, read_events(evs, MAX_EVENTS));
	check_fault(&evs[0], 2, 0, "SIGBUS");
	check_fault(&evs[1], 6, 0, "SIGBUS");
	munmap(map, 8 * self->page);
}

/* Check that the only event is an empty of our device with these values. */
#define check_empty(reason, bytes, pages) \
	empty_is(_metadata, self->minor, variant->backend, reason, bytes, pages)

static void empty_is(struct __test_metadata *_metadata, unsigned int minor,
		     const char *backend, const char *reason, long long bytes,
		     unsigned long pages)
{
	struct event evs[MAX_EVENTS];

	ASSERT_EQ(1, read_events(evs, MAX_EVENTS));
	ASSERT_STREQ("empty", evs[0].name);
	EXPECT_EQ(minor, evs[0].minor);
	EXPECT_STREQ(backend, evs[0].backend);
	EXPECT_STREQ(reason, evs[0].reason);
	EXPECT_EQ(bytes, evs[0].bytes);
	EXPECT_EQ(pages, evs[0].pages);
}

/* Three pages and a bit, in four pages: O_TRUNC drops them all. */
TEST_F(trace, empty_o_trunc)
{
	char buf[100];
	int fd;

	ASSERT_EQ(0, write_pages(self->fd, self->page, 0, 3));
	pattern_fill(buf, 3 * self->page, sizeof(buf), GEN);
	ASSERT_EQ((ssize_t)sizeof(buf), full_pwrite(self->fd, buf, sizeof(buf), 3 * self->page));
	ASSERT_EQ(0, clear_events());

	fd = open(variant->path, O_WRONLY | O_TRUNC);
	ASSERT_LE(0, fd);
	close(fd);
	check_empty("O_TRUNC", 3 * self->page + sizeof(buf), 4);
}

/* A sparse device: RESET drops its size, and only the pages it held. */
TEST_F(trace, empty_reset)
{
	ASSERT_EQ(0, write_pages(self->fd, self->page, 0, 1));
	ASSERT_EQ(0, write_pages(self->fd, self->page, 9, 2));
	ASSERT_EQ(0, clear_events());

	ASSERT_EQ(0, ioctl(self->fd, SCULLMAP_IOC_RESET));
	check_empty("RESET", 11 * self->page, 3);
}

/* Events off: faults, SIGBUS and emptying all happen, and nothing is recorded. */
TEST_F(trace, disabled_records_nothing)
{
	struct event evs[MAX_EVENTS];
	char *map, c;

	ASSERT_EQ(0, write_pages(self->fd, self->page, 0, 2));
	ASSERT_EQ(0, set_window(1));
	map = mmap(NULL, 4 * self->page, PROT_READ, MAP_SHARED, self->fd, 0);
	ASSERT_NE(MAP_FAILED, map);
	ASSERT_EQ(0, enable_events(0));
	ASSERT_EQ(0, clear_events());

	EXPECT_EQ(0, read_byte(map, &c));
	EXPECT_EQ(SIGBUS, read_byte(map + 3 * self->page, &c));
	EXPECT_EQ(0, ioctl(self->fd, SCULLMAP_IOC_RESET));
	EXPECT_EQ(0, read_events(evs, MAX_EVENTS));
	munmap(map, 4 * self->page);
}

/*
 * Run "mapper -v" (beside this program) on @pages pages of @path; return
 * its counts of minor faults and of resident pages of how many.
 */
static int run_mapper(const char *path, size_t len, long *faults,
		      long *resident, long *pages)
{
	char exe[512], cmd[1024], line[256];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	int found = 0;
	FILE *p;

	if (n < 0)
		return -1;
	exe[n] = '\0';
	snprintf(cmd, sizeof(cmd), "%s/mapper -v %s 0 %zu 2>&1 >/dev/null",
		 dirname(exe), path, len);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	while (fgets(line, sizeof(line), p))
		if (sscanf(line, "mapper: minor faults: %ld, resident pages: %ld of %ld",
			   faults, resident, pages) == 3)
			found = 1;
		else
			fprintf(stderr, "# mapper: %s", line);
	return pclose(p) == 0 && found ? 0 : -1;
}

/* Sum the pages the recorded faults mapped; return the count of faults. */
static int fault_events(unsigned long *mapped)
{
	struct event evs[MAX_EVENTS];
	int i, n = read_events(evs, MAX_EVENTS);

	*mapped = 0;
	for (i = 0; i < n; i++)
		*mapped += evs[i].mapped;
	return n;
}

/*
 * mapper -v reads 6 pages: at fault_window=1 each page is a fault of its
 * own, at the default one fault maps them all, and either way all 6 end up
 * mapped.  Its fault count is the process's (getrusage), which in the full
 * selftest run has been seen to hold one fault more than the driver's
 * events at both windows: so the counts are compared between the windows,
 * where that constant cancels, and the events are counted exactly.
 */
TEST_F(trace, mapper_counts)
{
	const long pages = 6;
	long faults1, faults, resident, total;
	unsigned long mapped;

	ASSERT_EQ(0, write_pages(self->fd, self->page, 0, pages));

	ASSERT_EQ(0, set_window(1));
	ASSERT_EQ(0, clear_events());
	ASSERT_EQ(0, run_mapper(variant->path, pages * self->page, &faults1,
				&resident, &total));
	EXPECT_LE(pages, faults1);
	EXPECT_EQ(pages, resident);
	EXPECT_EQ(pages, total);
	EXPECT_EQ(pages, fault_events(&mapped));
	EXPECT_EQ(pages, mapped);

	ASSERT_EQ(0, set_window(DEFAULT_WINDOW));
	ASSERT_EQ(0, clear_events());
	ASSERT_EQ(0, run_mapper(variant->path, pages * self->page, &faults,
				&resident, &total));
	EXPECT_LE(1, faults);
	EXPECT_EQ(pages - 1, faults1 - faults)
		TH_LOG("mapper -v: %ld faults at fault_window=1, %ld at %d",
		       faults1, faults, DEFAULT_WINDOW);
	EXPECT_EQ(pages, resident);
	EXPECT_EQ(pages, total);
	EXPECT_EQ(1, fault_events(&mapped));
	EXPECT_EQ(pages, mapped);
}

TEST_HARNESS_MAIN

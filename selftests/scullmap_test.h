/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the scullmap selftests: loading the module, reading the
 * kernel log, and touching memory that may raise SIGBUS.
 */
#ifndef SCULLMAP_TEST_H
#define SCULLMAP_TEST_H

#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "uapi/scullmap.h"

#define MODULE_NAME	"scullmap"

#ifndef ARRAY_SIZE	/* kselftest.h has it, if included first */
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#endif

/* The module file: $SCULLMAP_KO, as scullmap.sh sets it. */
static inline const char *module_path(void)
{
	const char *path = getenv("SCULLMAP_KO");

	return path ? path : "./scullmap.ko";
}

/* Load the module with parameters @params; 0 or -1 with errno set. */
static inline int load_module(const char *params)
{
	int fd = open(module_path(), O_RDONLY | O_CLOEXEC);
	int ret;

	if (fd < 0)
		return -1;
	ret = syscall(SYS_finit_module, fd, params, 0);
	close(fd);
	return ret;
}

/* Unload the module; 0 or -1 with errno set (EWOULDBLOCK while in use). */
static inline int unload_module(void)
{
	return syscall(SYS_delete_module, MODULE_NAME, O_NONBLOCK);
}

static inline int module_loaded(void)
{
	return access("/sys/module/" MODULE_NAME, F_OK) == 0;
}

/*
 * The test data: the byte at device offset @off in generation @gen.  Every
 * program writes and checks data with this one pattern.  Generation 0 is
 * all zeros, as a hole reads.  Any other generation gives bytes that are
 * never 0 and that depend on the whole 64-bit offset and the whole
 * generation through a full mix (splitmix64's finalizer): no period a test
 * could fall into, so a quantum read from the wrong place, a page mapped
 * twice, or the bytes of an earlier generation all show.
 */
static inline unsigned char pattern_byte(uint64_t off, unsigned int gen)
{
	uint64_t x;

	if (!gen)
		return 0;
	x = off * 0x9e3779b97f4a7c15ULL + gen * 0xd1b54a32d192ed03ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x % 255 + 1;
}

/* Fill @buf with the @len bytes of generation @gen from device offset @off. */
static inline void pattern_fill(void *buf, uint64_t off, size_t len,
				unsigned int gen)
{
	unsigned char *p = buf;
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = pattern_byte(off + i, gen);
}

/*
 * The index of the first of the @len bytes at @buf, device offset @off, that
 * is not generation @gen's, or -1 if all are.
 */
static inline ssize_t pattern_mismatch(const void *buf, uint64_t off,
				       size_t len, unsigned int gen)
{
	const unsigned char *p = buf;
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != pattern_byte(off + i, gen))
			return i;
	return -1;
}

/*
 * The order of a quantum as big as what one PMD entry maps: 9 on x86-64
 * (PMD_SHIFT 21 - PAGE_SHIFT 12), the only architecture the rig runs.  The
 * harness's variant tables need a constant.  What the running kernel's
 * PMD maps is pmd_size() below: a test that counts on PMD entries expects
 * them only where its quantum is that size (huge_test takes its order from
 * pmd_order()).
 */
#define TEST_HUGE_ORDER		(21 - 12)

/*
 * The variants every device test runs in, for the kselftest harness: the
 * page allocator with quanta of one and of four pages, vmalloc with quanta
 * of one and of sixteen pages, so that both back ends map pages inside a
 * quantum as well as whole ones; and the page allocator with quanta of the
 * PMD size, which the driver allocates as one folio (and maps with one PMD
 * entry where the kernel allows it).  A program names its fixture and the
 * node of each back end it uses; its setup sets variant->order on the
 * node.  (Use it after including kselftest_harness.h.)
 */
#define DEVICE_VARIANT(fixture, name, node, kind, quantum_order)	\
	FIXTURE_VARIANT_ADD(fixture, name) {				\
		.path = node,						\
		.backend = SCULLMAP_BACKEND_##kind,			\
		.order = quantum_order,					\
	}

#define DEVICE_VARIANTS(fixture, pages_node, vmalloc_node)		\
	FIXTURE_VARIANT(fixture) {					\
		const char *path;					\
		unsigned int backend;					\
		unsigned int order;					\
	};								\
	DEVICE_VARIANT(fixture, pages_order0, pages_node, PAGES, 0);	\
	DEVICE_VARIANT(fixture, pages_order2, pages_node, PAGES, 2);	\
	DEVICE_VARIANT(fixture, pages_order9, pages_node, PAGES,	\
		       TEST_HUGE_ORDER);				\
	DEVICE_VARIANT(fixture, vmalloc_order0, vmalloc_node, VMALLOC, 0); \
	DEVICE_VARIANT(fixture, vmalloc_order4, vmalloc_node, VMALLOC, 4)

/* pread/pwrite the whole of @len bytes, whatever a call transfers. */
static inline ssize_t full_pread(int fd, void *buf, size_t len, off_t off)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = pread(fd, (char *)buf + done, len - done, off + done);
		if (n < 0)
			return -1;
		if (!n)
			break;
		done += n;
	}
	return done;
}

static inline ssize_t full_pwrite(int fd, const void *buf, size_t len, off_t off)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = pwrite(fd, (const char *)buf + done, len - done, off + done);
		if (n <= 0)
			return -1;
		done += n;
	}
	return done;
}

/* Write @text to the file @path (a sysfs, debugfs or proc file); 0 or -1. */
static inline int write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t ret;

	if (fd < 0)
		return -1;
	ret = write(fd, text, strlen(text));
	close(fd);
	return ret < 0 ? -1 : 0;
}

/* The major number the kernel gave the driver, from /proc/devices. */
static inline int scullmap_major(void)
{
	FILE *f = fopen("/proc/devices", "r");
	char line[128], name[64];
	int major, found = -1;

	if (!f)
		return -1;
	/* Lines are "MAJOR NAME", under "Character devices:" first. */
	while (fgets(line, sizeof(line), f) && strcmp(line, "Block devices:\n"))
		if (sscanf(line, "%d %63s", &major, name) == 2 &&
		    !strcmp(name, MODULE_NAME))
			found = major;
	fclose(f);
	return found;
}

/*
 * The kernel log from now on: open /dev/kmsg at its end.  kmsg_find() then
 * reads the records logged since, and tells whether one contains @text.
 */
static inline int kmsg_open(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd >= 0)
		lseek(fd, 0, SEEK_END);
	return fd;
}

static inline int kmsg_find(int fd, const char *text)
{
	char record[2048];
	ssize_t len;
	int found = 0;

	/* Each read() returns one record; EAGAIN once all are read. */
	while ((len = read(fd, record, sizeof(record) - 1)) != 0) {
		if (len < 0) {
			if (errno == EPIPE)	/* records were overwritten */
				continue;
			break;
		}
		record[len] = '\0';
		if (strstr(record, text))
			found = 1;
	}
	return found;
}

#define USAGE_FILE	"/sys/kernel/debug/scullmap/usage"

/* One line of the driver's debugfs file (see scullmap/usage.c). */
struct usage {
	long long size;
	long long pages;
	long long index_bytes;
	long long mappings;
};

/*
 * Read the line of device @name ("scullmap0"; "total" for the sum) from the
 * driver's debugfs file into @usage, and the bytes the cap counts and the
 * cap into @held and @max.  Returns 0, or -1 if the file or line is missing.
 */
static inline int read_usage(const char *name, struct usage *usage,
			     long long *held, long long *max)
{
	FILE *f = fopen(USAGE_FILE, "r");
	char line[256], word[64];
	int found = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "held_bytes %lld", held) == 1 ||
		    sscanf(line, "max_bytes %lld", max) == 1)
			continue;
		if (sscanf(line, "%63s", word) == 1 && !strcmp(word, name))
			found = sscanf(line, "%*s %lld %lld %lld %lld", &usage->size,
				       &usage->pages, &usage->index_bytes,
				       &usage->mappings) == 4;
	}
	fclose(f);
	return found ? 0 : -1;
}

/*
 * Read the first number after the line that starts with @key in the file
 * @path ("/proc/self/status", "RssFile:"), into @value.  Returns 0, or -1
 * if the file or the key is missing.
 */
static inline int read_field(const char *path, const char *key, long long *value)
{
	FILE *f = fopen(path, "r");
	size_t len = strlen(key);
	char line[256];
	int found = 0;

	if (!f)
		return -1;
	while (!found && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, len))
			found = sscanf(line + len, "%lld", value) == 1;
	fclose(f);
	return found ? 0 : -1;
}

/*
 * Free memory in KiB: MemFree, plus the free pages that wait in per-CPU
 * lists (MemFree leaves them out, and they swing by tens of MiB; they hold
 * pages of the PMD order too), after the kernel has dropped what caches it
 * can.  -1 if unknown.
 */
static inline long long mem_free_kib(void)
{
	long long kib = -1, pages = 0, count;
	char line[128];
	FILE *f;

	sync();
	write_text("/proc/sys/vm/drop_caches", "3\n");
	if (read_field("/proc/meminfo", "MemFree:", &kib))
		return -1;

	/* Each CPU's list, in each zone, says "count: N" (pages). */
	f = fopen("/proc/zoneinfo", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, " count: %lld", &count) == 1)
			pages += count;
	fclose(f);
	return kib + pages * (getpagesize() >> 10);
}

/*
 * The file pages this process maps, in KiB: the kernel's count, which
 * every entry added or removed must change by its size (a count that
 * drifts from the page tables is what exit reports as "BUG: Bad
 * rss-counter state").  -1 if unknown.
 */
static inline long long rss_file_kib(void)
{
	long long kib;

	return read_field("/proc/self/status", "RssFile:", &kib) ? -1 : kib;
}

#define THP_DIR	"/sys/kernel/mm/transparent_hugepage/"

/* The bytes one PMD entry maps, or 0 on a kernel without THP. */
static inline unsigned long long pmd_size(void)
{
	FILE *f = fopen(THP_DIR "hpage_pmd_size", "r");
	unsigned long long size = 0;

	if (!f)
		return 0;
	if (fscanf(f, "%llu", &size) != 1)
		size = 0;
	fclose(f);
	return size;
}

/* The order of pmd_size() in pages, or -1 without THP. */
static inline int pmd_order(void)
{
	unsigned long long size = pmd_size();
	int order = 0;

	if (!size)
		return -1;
	while (((unsigned long long)getpagesize() << order) < size)
		order++;
	return order;
}

/* The transparent huge page mode, from THP_DIR "enabled". */
enum thp_mode { THP_NONE, THP_NEVER, THP_MADVISE, THP_ALWAYS };

static inline enum thp_mode thp_mode(void)
{
	static const char * const names[] = { "[never]", "[madvise]", "[always]" };
	FILE *f = fopen(THP_DIR "enabled", "r");
	enum thp_mode mode = THP_NONE;
	char line[128] = "";
	unsigned int i;

	if (!f)
		return THP_NONE;
	if (!fgets(line, sizeof(line), f))
		line[0] = '\0';
	fclose(f);
	/* "always [madvise] never": the one in brackets is the mode. */
	for (i = 0; i < ARRAY_SIZE(names); i++)
		if (strstr(line, names[i]))
			mode = THP_NEVER + i;
	return mode;
}

static inline const char *thp_mode_name(enum thp_mode mode)
{
	static const char * const names[] = { "none (no THP)", "never", "madvise", "always" };

	return names[mode];
}

/* Whether the running kernel is @major.@minor or newer, by uname(). */
static inline int kernel_at_least(unsigned int major, unsigned int minor)
{
	unsigned int got_major, got_minor;
	struct utsname u;

	if (uname(&u) || sscanf(u.release, "%u.%u", &got_major, &got_minor) != 2)
		return 0;
	return got_major > major || (got_major == major && got_minor >= minor);
}

/*
 * Whether the driver maps a whole quantum of the PMD size with one PMD
 * entry here: from 7.3 (SCULLMAP_HAVE_PMD_MAPPINGS in compat.h) on a
 * kernel with THP not "never".  The core asks the driver only where THP
 * is "always", or "madvise" and the range had MADV_HUGEPAGE: tests that
 * count on PMD entries madvise their mappings.  And only for a shared
 * mapping of the page allocator's device whose address and file offset
 * agree modulo the PMD size.
 */
static inline int pmd_mappings_expected(void)
{
	enum thp_mode mode = thp_mode();

	return kernel_at_least(7, 3) && (mode == THP_MADVISE || mode == THP_ALWAYS);
}

/*
 * What /proc/self/smaps says of one mapping (VMA), in KiB: its size, the
 * resident pages, those of them mapped by PMD entries (FilePmdMapped), and
 * the anonymous ones (private copies).
 */
struct map_stats {
	long long size;
	long long rss;
	long long file_pmd;
	long long anon;
};

/*
 * Fill @st from the smaps entry of the VMA that contains @addr.  Returns
 * 0, or -1 if no VMA contains it.  A kernel without THP prints no
 * FilePmdMapped: 0 then.
 */
static inline int map_stats(const void *addr, struct map_stats *st)
{
	static const struct {
		const char *key;
		size_t offset;
	} keys[] = {
		{ "Size:", offsetof(struct map_stats, size) },
		{ "Rss:", offsetof(struct map_stats, rss) },
		{ "FilePmdMapped:", offsetof(struct map_stats, file_pmd) },
		{ "Anonymous:", offsetof(struct map_stats, anon) },
	};
	unsigned long long start, end, at = (uintptr_t)addr;
	FILE *f = fopen("/proc/self/smaps", "r");
	int found = 0;
	char line[512];
	unsigned int i;

	memset(st, 0, sizeof(*st));
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		/* A VMA's first line: "start-end perms offset dev inode path". */
		if (sscanf(line, "%llx-%llx ", &start, &end) == 2) {
			if (found)
				break;
			found = at >= start && at < end;
			continue;
		}
		if (!found)
			continue;
		for (i = 0; i < ARRAY_SIZE(keys); i++)
			if (!strncmp(line, keys[i].key, strlen(keys[i].key)))
				sscanf(line + strlen(keys[i].key), "%lld",
				       (long long *)((char *)st + keys[i].offset));
	}
	fclose(f);
	return found ? 0 : -1;
}

/* Memory access that reports SIGBUS instead of dying of it. */
static sigjmp_buf sigbus_jmp;

static inline void sigbus_handler(int sig)
{
	siglongjmp(sigbus_jmp, sig);
}

/*
 * Read the byte at @addr into @value.  Returns 0, or SIGBUS if the access
 * raised it.  Not for use by several threads at once.
 */
static inline int read_byte(const char *addr, char *value)
{
	struct sigaction sa = { .sa_handler = sigbus_handler }, old;
	int sig;

	sigaction(SIGBUS, &sa, &old);
	sig = sigsetjmp(sigbus_jmp, 1);
	if (!sig)	/* an access the compiler may not drop or move */
		*value = __atomic_load_n(addr, __ATOMIC_RELAXED);
	sigaction(SIGBUS, &old, NULL);
	return sig;
}

/* Write @value to @addr.  Returns 0, or SIGBUS if the access raised it. */
static inline int write_byte(char *addr, char value)
{
	struct sigaction sa = { .sa_handler = sigbus_handler }, old;
	int sig;

	sigaction(SIGBUS, &sa, &old);
	sig = sigsetjmp(sigbus_jmp, 1);
	if (!sig)
		__atomic_store_n(addr, value, __ATOMIC_RELAXED);
	sigaction(SIGBUS, &old, NULL);
	return sig;
}

/* Whether a store at @addr kills a child process with SIGSEGV. */
static inline int store_segfaults(char *addr)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		__atomic_store_n(addr, 1, __ATOMIC_RELAXED);
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return 0;
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV;
}

/*
 * The mappings a test made, listed for its teardown to unmap, so that a
 * failed ASSERT leaves none behind.
 */
#define MAX_MAPS	8

struct map_list {
	char *addr[MAX_MAPS];
	size_t len[MAX_MAPS];
};

/* The mapping at @addr moved to @to (@len bytes), or went if @to is NULL. */
static inline void moved_map(struct map_list *maps, char *addr, char *to,
			     size_t len)
{
	int i;

	for (i = 0; i < MAX_MAPS; i++) {
		if (maps->len[i] && maps->addr[i] == addr) {
			maps->addr[i] = to;
			maps->len[i] = to ? len : 0;
		}
	}
}

/* Unmap what @maps lists: a fixture's teardown. */
static inline void unmap_listed(struct map_list *maps)
{
	int i;

	for (i = 0; i < MAX_MAPS; i++)
		if (maps->len[i])
			munmap(maps->addr[i], maps->len[i]);
}

#ifdef __KSELFTEST_HARNESS_H	/* helpers that assert, for harness tests */

/* List the mapping [@addr, @addr + @len) in @maps, for the teardown. */
static inline void track_map(struct __test_metadata *_metadata,
			     struct map_list *maps, char *addr, size_t len)
{
	int i;

	for (i = 0; i < MAX_MAPS && maps->len[i]; i++)
		;
	ASSERT_GT(MAX_MAPS, i) TH_LOG("too many mappings for the teardown");
	maps->addr[i] = addr;
	maps->len[i] = len;
}

/* GET_INFO into @info, poisoned first so that a field left alone shows. */
static inline void get_info(struct __test_metadata *_metadata, int fd,
			    struct scullmap_info *info)
{
	memset(info, 0xa5, sizeof(*info));
	ASSERT_EQ(0, ioctl(fd, SCULLMAP_IOC_GET_INFO, info))
		TH_LOG("GET_INFO: %s", strerror(errno));
}

/*
 * Check that no trace of the module is left: no module, nodes, class or
 * major number.  @when says after what, in the messages.
 */
static inline void check_gone(struct __test_metadata *_metadata, const char *when)
{
	EXPECT_FALSE(module_loaded()) TH_LOG("%s", when);
	EXPECT_NE(0, access("/dev/scullmap0", F_OK)) TH_LOG("%s", when);
	EXPECT_NE(0, access("/dev/scullmapv0", F_OK)) TH_LOG("%s", when);
	EXPECT_NE(0, access("/sys/class/scullmap", F_OK)) TH_LOG("%s", when);
	EXPECT_EQ(-1, scullmap_major()) TH_LOG("%s", when);
}

/*
 * The setup of a device test: open @path read-write into *@fd, note its
 * geometry in @found (for the teardown to put back), empty it, and give it
 * quanta of @order with @qset to a set.
 */
static inline void setup_device(struct __test_metadata *_metadata,
				const char *path, unsigned int order,
				unsigned int qset, int *fd,
				struct scullmap_geometry *found)
{
	struct scullmap_geometry geo = { .order = order, .qset = qset };
	struct scullmap_info info;

	*fd = open(path, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, *fd) TH_LOG("%s: %s", path, strerror(errno));
	get_info(_metadata, *fd, &info);
	found->order = info.order;
	found->qset = info.qset;
	ASSERT_EQ(0, ioctl(*fd, SCULLMAP_IOC_RESET))
		TH_LOG("RESET: %s", strerror(errno));
	ASSERT_EQ(0, ioctl(*fd, SCULLMAP_IOC_SET_GEOMETRY, &geo))
		TH_LOG("SET_GEOMETRY {%u, %u} on an empty device: %s",
		       order, qset, strerror(errno));
	get_info(_metadata, *fd, &info);
	ASSERT_EQ(order, info.order) TH_LOG("the geometry did not take");
	ASSERT_EQ(qset, info.qset) TH_LOG("the geometry did not take");
	ASSERT_EQ(0ULL, info.size) TH_LOG("RESET left bytes in the device");
	ASSERT_EQ(0ULL, info.quanta) TH_LOG("RESET left quanta in the device");
}

/*
 * The teardown's half of setup_device(): leave the device empty, with the
 * geometry @found.  The messages are printed by hand: after a failed
 * ASSERT the harness runs the teardown with its trigger still set, and a
 * TH_LOG() after an EXPECT would print although the EXPECT passed.
 */
static inline void restore_device(struct __test_metadata *_metadata, int fd,
				  struct scullmap_geometry *found)
{
	int ret;

	ret = ioctl(fd, SCULLMAP_IOC_RESET);
	if (ret)
		TH_LOG("RESET in teardown: %s", strerror(errno));
	EXPECT_EQ(0, ret);
	ret = ioctl(fd, SCULLMAP_IOC_SET_GEOMETRY, found);
	if (ret)
		TH_LOG("restoring the geometry {%u, %u}: %s", found->order,
		       found->qset, strerror(errno));
	EXPECT_EQ(0, ret);
}

/*
 * vmsplice() all of [@addr, +@len) into the pipe whose write end is @fd,
 * made large enough to hold it: the pipe takes a reference to each page.
 */
static inline void vmsplice_all(struct __test_metadata *_metadata, int fd,
				char *addr, size_t len)
{
	struct iovec iov = { .iov_base = addr, .iov_len = len };
	ssize_t n;

	ASSERT_LE((int)len, fcntl(fd, F_SETPIPE_SZ, len))
		TH_LOG("F_SETPIPE_SZ %zu: %s", len, strerror(errno));
	while (iov.iov_len) {
		n = vmsplice(fd, &iov, 1, 0);
		ASSERT_LT(0, n) TH_LOG("vmsplice: %s", n ? strerror(errno) : "0");
		iov.iov_base = (char *)iov.iov_base + n;
		iov.iov_len -= n;
	}
}

/* Write generation @gen to the device at [@off, +@len), all of it. */
static inline void write_device(struct __test_metadata *_metadata, int fd,
				off_t off, size_t len, unsigned int gen)
{
	unsigned char *buf = malloc(len);
	ssize_t n;

	ASSERT_NE(NULL, buf);
	pattern_fill(buf, off, len, gen);
	n = full_pwrite(fd, buf, len, off);
	free(buf);
	ASSERT_EQ((ssize_t)len, n)
		TH_LOG("pwrite of %zu bytes at %#llx: %s", len,
		       (unsigned long long)off, strerror(errno));
}

/* Assert that reading every page of [@addr, +@len) raises SIGBUS. */
static inline void check_reads_sigbus(struct __test_metadata *_metadata,
				      const char *addr, size_t len,
				      const char *what)
{
	size_t page = getpagesize(), i;
	char c;

	/* Braces: an ASSERT is two statements, the check and its message. */
	for (i = 0; i < len; i += page) {
		ASSERT_EQ(SIGBUS, read_byte(addr + i, &c))
			TH_LOG("%s: reading page %zu gave %#x, not SIGBUS",
			       what, i / page, (unsigned char)c);
	}
}

#endif /* __KSELFTEST_HARNESS_H */

#endif /* SCULLMAP_TEST_H */

// SPDX-License-Identifier: GPL-2.0
/*
 * The limits on what the devices hold: the module-wide cap (max_mb) and
 * its ENOSPC, the debugfs usage file, and the charge to the writer's
 * memory cgroup.  Runs with the module unloaded; each test loads it with
 * the parameters it needs.
 */
#include <errno.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/vfs.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "scullmap_test.h"
#include <uapi/scullmap.h>

#define MIB		(1024LL * 1024)
#define CHUNK		(64 * 1024)	/* bytes per write() */
#define MAX_MB_PARAM	"/sys/module/scullmap/parameters/max_mb"
#define CGROUP_ROOT	"/sys/fs/cgroup"
#define CGROUP_DIR	CGROUP_ROOT "/scullmap_test"
#define CGROUP2_MAGIC	0x63677270

/*
 * Write @len bytes of generation @gen from offset @pos, a chunk at a time,
 * until done or a write fails.  Returns the bytes written; *err is the
 * errno of the failing write, 0 if none failed.
 */
static long long write_gen(int fd, size_t pos, size_t len, unsigned int gen,
			   int *err)
{
	static char buf[CHUNK];
	size_t done = 0, want;
	ssize_t ret;

	*err = 0;
	while (done < len) {
		want = len - done < CHUNK ? len - done : CHUNK;
		pattern_fill(buf, pos + done, want, gen);
		ret = pwrite(fd, buf, want, pos + done);
		if (ret < 0) {
			*err = errno;
			break;
		}
		done += ret;
	}
	return done;
}

/* The same for generation 1, the data of most tests. */
static long long write_pattern(int fd, size_t pos, size_t len, int *err)
{
	return write_gen(fd, pos, len, 1, err);
}

/* Whether the @len bytes at @pos read back as generation 1. */
static int pattern_reads_back(int fd, size_t pos, size_t len)
{
	static char got[CHUNK];
	size_t done, n;

	for (done = 0; done < len; done += n) {
		n = len - done < CHUNK ? len - done : CHUNK;
		if (pread(fd, got, n, pos + done) != (ssize_t)n ||
		    pattern_mismatch(got, pos + done, n, 1) != -1)
			return 0;
	}
	return 1;
}

/* pwrite() the one byte of generation @gen at @pos. */
static ssize_t write_one(int fd, size_t pos, unsigned int gen)
{
	unsigned char c = pattern_byte(pos, gen);

	return pwrite(fd, &c, 1, pos);
}

/* The first number in file @path, or -1. */
static long long read_number(const char *path)
{
	FILE *f = fopen(path, "r");
	long long value = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%lld", &value) != 1)
		value = -1;
	fclose(f);
	return value;
}

/* The value of @key in a "key value" file such as memory.events, or -1. */
static long long read_key(const char *path, const char *key)
{
	FILE *f = fopen(path, "r");
	long long value, found = -1;
	char name[64];

	if (!f)
		return -1;
	while (fscanf(f, "%63s %lld", name, &value) == 2)
		if (!strcmp(name, key))
			found = value;
	fclose(f);
	return found;
}

static void reset_device(struct __test_metadata *_metadata, const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);

	ASSERT_LE(0, fd) TH_LOG("%s: %s", path, strerror(errno));
	ASSERT_EQ(0, ioctl(fd, SCULLMAP_IOC_RESET));
	close(fd);
}

/*
 * Check the debugfs file against itself: the cap counts exactly what the
 * devices' lines add up to, and the per-device line of @name agrees with
 * GET_INFO on @fd.
 */
static void check_usage(struct __test_metadata *_metadata, const char *name, int fd)
{
	struct scullmap_info info;
	struct usage dev, total;
	long long max, held;

	ASSERT_EQ(0, read_usage("total", &total, &held, &max)) TH_LOG("no %s", USAGE_FILE);
	EXPECT_EQ(held, total.pages * getpagesize() + total.index_bytes);
	EXPECT_LE(held, max);
	ASSERT_EQ(0, read_usage(name, &dev, &held, &max)) TH_LOG("no line for %s", name);
	ASSERT_EQ(0, ioctl(fd, SCULLMAP_IOC_GET_INFO, &info));
	EXPECT_EQ((long long)info.size, dev.size);
	EXPECT_EQ((long long)info.quanta << info.order, dev.pages);
	EXPECT_EQ((long long)info.mappings, dev.mappings);
}

FIXTURE(cap) {
	int fd;		/* /dev/scullmap0 */
};

/* A cap of 4 MiB: 1024 pages, data and index together. */
FIXTURE_SETUP(cap)
{
	if (module_loaded())
		ASSERT_EQ(0, unload_module());
	ASSERT_EQ(0, load_module("max_mb=4")) TH_LOG("load: %s", strerror(errno));
	self->fd = open("/dev/scullmap0", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd);
}

FIXTURE_TEARDOWN(cap)
{
	close(self->fd);
	if (module_loaded())
		unload_module();
}

/*
 * A write that runs into the cap is short: it stops at the last quantum
 * that fits, with the index counted too.  The next one gets ENOSPC.  What
 * was written reads back.
 */
TEST_F(cap, write_past_cap_gets_enospc)
{
	long long written;
	int err;

	written = write_pattern(self->fd, 0, 8 * MIB, &err);
	EXPECT_EQ(ENOSPC, err);
	EXPECT_LT(written, 4 * MIB);
	EXPECT_LT(4 * MIB - 64 * 1024, written);
	EXPECT_TRUE(pattern_reads_back(self->fd, 0, written));

	EXPECT_EQ(-1, write_one(self->fd, written, 2));
	EXPECT_EQ(ENOSPC, errno);
	/* Bytes in quanta already there need nothing new. */
	EXPECT_EQ(1, write_one(self->fd, 0, 2));
	EXPECT_TRUE(pattern_reads_back(self->fd, 1, written - 1));
	check_usage(_metadata, "scullmap0", self->fd);
}

/* The cap counts all devices together, and emptying one makes room. */
TEST_F(cap, cap_is_module_wide)
{
	int vfd = open("/dev/scullmapv0", O_RDWR | O_CLOEXEC);
	long long written;
	int err;

	ASSERT_LE(0, vfd);
	written = write_pattern(self->fd, 0, 3 * MIB, &err);
	EXPECT_EQ(0, err);
	written = write_pattern(vfd, 0, 3 * MIB, &err);
	EXPECT_EQ(ENOSPC, err);
	EXPECT_GT(1 * MIB, written);

	ASSERT_EQ(0, ioctl(self->fd, SCULLMAP_IOC_RESET));
	written = write_pattern(vfd, 0, 3 * MIB, &err);
	EXPECT_EQ(0, err) TH_LOG("after emptying scullmap0: %s", strerror(err));
	EXPECT_TRUE(pattern_reads_back(vfd, 0, 3 * MIB));
	check_usage(_metadata, "scullmapv0", vfd);
	close(vfd);
}

/*
 * Sparse writes cost index as well as data: one byte in each quantum set
 * takes a quantum and a set's array, so the cap is reached with far less
 * than 4 MiB of quanta.
 */
TEST_F(cap, index_counts_too)
{
	struct scullmap_info info;
	size_t set_bytes, pos;
	struct usage usage;
	long long max, held;
	int i;

	ASSERT_EQ(0, ioctl(self->fd, SCULLMAP_IOC_GET_INFO, &info));
	set_bytes = (size_t)info.qset * info.page_size << info.order;
	for (i = 0, pos = 0; i < 2048; i++, pos += set_bytes)
		if (write_one(self->fd, pos, 1) != 1)
			break;
	EXPECT_EQ(ENOSPC, errno);
	ASSERT_EQ(0, read_usage("scullmap0", &usage, &held, &max));
	EXPECT_EQ(i, usage.pages);
	EXPECT_LT(usage.pages * info.page_size, 3 * MIB);
	EXPECT_LE(4 * MIB - 2 * info.page_size, held);
	check_usage(_metadata, "scullmap0", self->fd);
}

/*
 * A write that gets its quantum set but not its quantum leaves the set,
 * empty; emptying the device must free it, or it would hold the cap for
 * ever.  With 48 KiB left under the cap, a byte on the vmalloc device
 * (64 KiB quanta) gets a set, then ENOSPC.
 */
TEST_F(cap, reset_frees_empty_sets)
{
	int vfd = open("/dev/scullmapv0", O_RDWR | O_CLOEXEC);
	struct usage usage;
	long long written, max, held;
	int err;

	ASSERT_LE(0, vfd);
	written = write_pattern(self->fd, 0, 4 * MIB - 48 * 1024, &err);
	ASSERT_EQ(4 * MIB - 48 * 1024, written);
	EXPECT_EQ(-1, write_one(vfd, 0, 1));
	EXPECT_EQ(ENOSPC, errno);
	ASSERT_EQ(0, read_usage("scullmapv0", &usage, &held, &max));
	EXPECT_EQ(0, usage.pages);
	EXPECT_LT(0, usage.index_bytes) TH_LOG("no empty set was left: the test proves nothing");

	ASSERT_EQ(0, ioctl(vfd, SCULLMAP_IOC_RESET));
	ASSERT_EQ(0, ioctl(self->fd, SCULLMAP_IOC_RESET));
	ASSERT_EQ(0, read_usage("total", &usage, &held, &max));
	EXPECT_EQ(0, usage.index_bytes);
	EXPECT_EQ(0, held);
	close(vfd);
}

/*
 * max_mb may change at run time.  Below what the devices hold, it refuses
 * new quanta and leaves the data alone; 0 and more than the RAM are
 * refused.
 */
TEST_F(cap, lowered_at_run_time)
{
	long long written;
	int err;

	written = write_pattern(self->fd, 0, 2 * MIB, &err);
	ASSERT_EQ(2 * MIB, written);
	ASSERT_EQ(0, write_text(MAX_MB_PARAM, "1"));
	EXPECT_EQ(1, read_number(MAX_MB_PARAM));
	EXPECT_EQ(-1, write_one(self->fd, 2 * MIB, 1));
	EXPECT_EQ(ENOSPC, errno);
	EXPECT_TRUE(pattern_reads_back(self->fd, 0, 2 * MIB));

	EXPECT_EQ(-1, write_text(MAX_MB_PARAM, "0"));
	EXPECT_EQ(-1, write_text(MAX_MB_PARAM, "1099511627776"));
	EXPECT_EQ(1, read_number(MAX_MB_PARAM));

	ASSERT_EQ(0, write_text(MAX_MB_PARAM, "8"));
	written = write_pattern(self->fd, 2 * MIB, 2 * MIB, &err);
	EXPECT_EQ(2 * MIB, written) TH_LOG("after raising the cap: %s", strerror(err));
}

/* With no max_mb given, the cap is a quarter of the RAM. */
TEST(default_cap_is_a_quarter_of_ram)
{
	long long mem_total_kib = -1;
	char line[128];
	FILE *f;

	if (module_loaded())
		ASSERT_EQ(0, unload_module());
	f = fopen("/proc/meminfo", "r");
	ASSERT_NE(NULL, f);
	while (fgets(line, sizeof(line), f))
		sscanf(line, "MemTotal: %lld kB", &mem_total_kib);
	fclose(f);
	ASSERT_LT(0, mem_total_kib);

	ASSERT_EQ(0, load_module("")) TH_LOG("load: %s", strerror(errno));
	EXPECT_EQ(mem_total_kib / 1024 / 4, read_number(MAX_MB_PARAM));
	ASSERT_EQ(0, unload_module());
}

FIXTURE(usage) {
	int fd[2];	/* /dev/scullmap1 and /dev/scullmapv1 */
};

FIXTURE_SETUP(usage)
{
	if (module_loaded())
		ASSERT_EQ(0, unload_module());
	ASSERT_EQ(0, load_module("")) TH_LOG("load: %s", strerror(errno));
	self->fd[0] = open("/dev/scullmap1", O_RDWR | O_CLOEXEC);
	self->fd[1] = open("/dev/scullmapv1", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd[0]);
	ASSERT_LE(0, self->fd[1]);
}

FIXTURE_TEARDOWN(usage)
{
	close(self->fd[0]);
	close(self->fd[1]);
	if (module_loaded())
		unload_module();
}

/*
 * Each device's line shows its size, its pages and its mappings, as
 * GET_INFO does; the totals add them up; emptying every device brings the
 * totals and the cap's count back to zero.
 */
TEST_F(usage, shows_devices_and_totals)
{
	struct usage dev, total;
	long long written, max, held;
	char *map;
	int err;

	written = write_pattern(self->fd[0], 0, 3 * MIB + 100, &err);
	ASSERT_EQ(3 * MIB + 100, written);
	written = write_pattern(self->fd[1], 5 * MIB, 1 * MIB, &err);
	ASSERT_EQ(1 * MIB, written);
	map = mmap(NULL, MIB, PROT_READ, MAP_SHARED, self->fd[1], 5 * MIB);
	ASSERT_NE(MAP_FAILED, map);

	check_usage(_metadata, "scullmap1", self->fd[0]);
	check_usage(_metadata, "scullmapv1", self->fd[1]);
	ASSERT_EQ(0, read_usage("scullmap1", &dev, &held, &max));
	EXPECT_EQ(3 * MIB + 100, dev.size);
	EXPECT_EQ((3 * MIB + 100 + getpagesize() - 1) / getpagesize(), dev.pages);
	EXPECT_EQ(0, dev.mappings);
	ASSERT_EQ(0, read_usage("scullmapv1", &dev, &held, &max));
	EXPECT_EQ(6 * MIB, dev.size);
	EXPECT_EQ(1, dev.mappings);
	ASSERT_EQ(0, read_usage("total", &total, &held, &max));
	EXPECT_EQ(9 * MIB + 100, total.size);
	EXPECT_EQ(1, total.mappings);

	munmap(map, MIB);
	ASSERT_EQ(0, ioctl(self->fd[0], SCULLMAP_IOC_RESET));
	ASSERT_EQ(0, ioctl(self->fd[1], SCULLMAP_IOC_RESET));
	ASSERT_EQ(0, read_usage("total", &total, &held, &max));
	EXPECT_EQ(0, total.size);
	EXPECT_EQ(0, total.pages);
	EXPECT_EQ(0, total.index_bytes);
	EXPECT_EQ(0, total.mappings);
	EXPECT_EQ(0, held);
}

/*
 * A pipe that holds pages of a device (vmsplice() from a mapping) outlives
 * the device's data and the module itself: the pages belong to the pipe
 * until it is read and closed, and must keep their bytes.  The rig's
 * kmemleak scan after the run finds any page or object left behind.
 */
FIXTURE(pinned) {
};

FIXTURE_VARIANT(pinned) {
	const char *params;	/* for the module */
	const char *path;
	size_t len;		/* bytes spliced: three quanta and a page */
};

FIXTURE_VARIANT_ADD(pinned, pages_order0) {
	.params = "order=0",
	.path = "/dev/scullmap0",
	.len = 4 * 4096,
};

FIXTURE_VARIANT_ADD(pinned, pages_order2) {
	.params = "order=2",
	.path = "/dev/scullmap0",
	.len = 13 * 4096,
};

FIXTURE_VARIANT_ADD(pinned, vmalloc_order0) {
	.params = "vorder=0",
	.path = "/dev/scullmapv0",
	.len = 4 * 4096,
};

FIXTURE_VARIANT_ADD(pinned, vmalloc_order4) {
	.params = "vorder=4",
	.path = "/dev/scullmapv0",
	.len = 49 * 4096,
};

FIXTURE_SETUP(pinned)
{
	if (module_loaded())
		ASSERT_EQ(0, unload_module());
	ASSERT_EQ(0, load_module(variant->params)) TH_LOG("load: %s", strerror(errno));
}

FIXTURE_TEARDOWN(pinned)
{
	if (module_loaded())
		unload_module();
}

/* vmsplice() all of [@addr, +@len) into @pipefd; 0 or an errno. */
static int splice_all(int pipefd, char *addr, size_t len)
{
	struct iovec iov = { addr, len };
	ssize_t n;

	while (iov.iov_len) {
		n = vmsplice(pipefd, &iov, 1, 0);
		if (n <= 0)
			return n ? errno : EIO;
		iov.iov_base = (char *)iov.iov_base + n;
		iov.iov_len -= n;
	}
	return 0;
}

TEST_F(pinned, pipe_outlives_rmmod)
{
	size_t len = variant->len;
	int fd, pipefd[2], err;
	unsigned char *buf;
	char *map;

	fd = open(variant->path, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd) TH_LOG("%s: %s", variant->path, strerror(errno));
	ASSERT_EQ((long long)len, write_pattern(fd, 0, len, &err));
	map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, map);
	ASSERT_EQ(0, pipe(pipefd));
	ASSERT_LE((int)len, fcntl(pipefd[1], F_SETPIPE_SZ, len));
	err = splice_all(pipefd[1], map, len);
	ASSERT_EQ(0, err) TH_LOG("vmsplice: %s", strerror(err));
	munmap(map, len);
	close(fd);

	/* The pipe holds pages, not the module: rmmod must go through. */
	ASSERT_EQ(0, unload_module()) TH_LOG("rmmod with a pipe holding pages: %s",
					     strerror(errno));
	/* New allocations, to reuse any page the module freed too early. */
	buf = malloc(len);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, load_module(variant->params)) TH_LOG("reload: %s", strerror(errno));
	fd = open(variant->path, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd);
	EXPECT_EQ((long long)len, write_gen(fd, 0, len, 2, &err));
	close(fd);
	ASSERT_EQ(0, unload_module());

	EXPECT_EQ((ssize_t)len, read(pipefd[0], buf, len));
	EXPECT_EQ(-1, pattern_mismatch(buf, 0, len, 1))
		TH_LOG("the pipe lost its bytes when the module went");
	free(buf);
	close(pipefd[0]);
	close(pipefd[1]);
}

/*
 * The memory cgroup tests: a child in a cgroup of its own writes a device;
 * the charge must show in that cgroup, stay there after the child exits
 * (the device still holds the memory), and go when the device is emptied.
 */
FIXTURE(memcg) {
};

FIXTURE_VARIANT(memcg) {
	const char *path;
};

FIXTURE_VARIANT_ADD(memcg, pages) {
	.path = "/dev/scullmap2",
};

FIXTURE_VARIANT_ADD(memcg, vmalloc) {
	.path = "/dev/scullmapv2",
};

FIXTURE_SETUP(memcg)
{
	struct statfs fs;

	if (module_loaded())
		ASSERT_EQ(0, unload_module());
	ASSERT_EQ(0, load_module("")) TH_LOG("load: %s", strerror(errno));
	if (statfs(CGROUP_ROOT, &fs) || fs.f_type != CGROUP2_MAGIC)
		ASSERT_EQ(0, mount("none", CGROUP_ROOT, "cgroup2", 0, NULL))
			TH_LOG("mount cgroup2: %s", strerror(errno));
	ASSERT_EQ(0, write_text(CGROUP_ROOT "/cgroup.subtree_control", "+memory"))
		TH_LOG("enable the memory controller: %s", strerror(errno));
	rmdir(CGROUP_DIR);
	ASSERT_EQ(0, mkdir(CGROUP_DIR, 0755)) TH_LOG("%s: %s", CGROUP_DIR, strerror(errno));
}

FIXTURE_TEARDOWN(memcg)
{
	rmdir(CGROUP_DIR);
	if (module_loaded())
		unload_module();
}

/*
 * Fork a child into the test cgroup that writes @len bytes to @path.  Its
 * exit status is 0 if all were written, else the errno of the write that
 * failed (100 and up: the child's own setup failed); *written gets the
 * byte count through a pipe.
 */
static int write_in_cgroup(const char *path, size_t len, long long *written)
{
	int pipefd[2], status, err = 0;
	pid_t pid;

	if (pipe(pipefd))
		return -1;
	pid = fork();
	if (pid == 0) {
		/*
		 * Take all the memory the child needs before it joins: once
		 * the cgroup is full, any charge calls its OOM killer.  So
		 * open all files first (a struct file is charged), and write
		 * to *written and errno: their pages are still shared with
		 * the parent, and the first write to each copies it.
		 */
		int join = open(CGROUP_DIR "/cgroup.procs", O_WRONLY | O_CLOEXEC);
		int leave = open(CGROUP_ROOT "/cgroup.procs", O_WRONLY | O_CLOEXEC);
		int fd = open(path, O_RDWR | O_CLOEXEC);

		*written = 0;
		errno = 0;
		close(pipefd[0]);
		if (join < 0 || leave < 0 || fd < 0)
			_exit(100);
		if (write(join, "0", 1) != 1)
			_exit(101);
		*written = write_pattern(fd, 0, len, &err);
		/* The cgroup may be full: report from outside it. */
		if (write(leave, "0", 1) != 1)
			_exit(102);
		if (write(pipefd[1], written, sizeof(*written)) != sizeof(*written))
			_exit(103);
		_exit(err);
	}
	close(pipefd[1]);
	if (pid < 0 || read(pipefd[0], written, sizeof(*written)) != sizeof(*written))
		*written = 0;
	close(pipefd[0]);
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return status;
}

TEST_F(memcg, charged_to_the_writer)
{
	long long before, after;
	long long written;
	int status;

	before = read_number(CGROUP_DIR "/memory.current");
	ASSERT_LE(0, before);
	status = write_in_cgroup(variant->path, 16 * MIB, &written);
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("the writer died: status %#x", status);
	ASSERT_EQ(0, WEXITSTATUS(status)) TH_LOG("the writer: %s", strerror(WEXITSTATUS(status)));
	ASSERT_EQ(16 * MIB, written);

	/* The child is gone: what stays charged is the device's memory. */
	after = read_number(CGROUP_DIR "/memory.current");
	EXPECT_LE(before + 16 * MIB, after)
		TH_LOG("memory.current %lld -> %lld", before, after);

	reset_device(_metadata, variant->path);
	EXPECT_GT(before + 1 * MIB, read_number(CGROUP_DIR "/memory.current"))
		TH_LOG("the charge stayed after the device was emptied");
}

/*
 * Under the cgroup's memory.max the writer gets ENOMEM once the limit is
 * reached: the driver does not OOM-kill anybody to make room for device
 * data.
 */
TEST_F(memcg, limit_gives_enomem)
{
	long long written;
	int status;

	ASSERT_EQ(0, write_text(CGROUP_DIR "/memory.max", "8388608"));
	status = write_in_cgroup(variant->path, 32 * MIB, &written);
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("the writer died: status %#x", status);
	EXPECT_EQ(ENOMEM, WEXITSTATUS(status))
		TH_LOG("the writer: %s", strerror(WEXITSTATUS(status)));
	EXPECT_LT(0, written);
	EXPECT_GT(8 * MIB, written);
	EXPECT_EQ(0, read_key(CGROUP_DIR "/memory.events", "oom_kill"));
	EXPECT_LT(0, read_key(CGROUP_DIR "/memory.events", "max"));
	reset_device(_metadata, variant->path);
}

#define SPLICE_ROUNDS	32		/* 32 MiB: far past max_mb and memory.max */

/*
 * The child of pipes_bound_what_the_cap_does_not: in the cgroup, write
 * 1 MiB, vmsplice() it into a pipe, empty the device; again, until
 * something fails.  The pipes keep the emptied pages, which the cap no
 * longer counts (Documentation/scullmap.rst, "Memory"); the cgroup's
 * charge stays until they are freed.  Reports the rounds done and the
 * errno that ended them.
 */
static void splice_rounds(const char *path, int report)
{
	int pipes[SPLICE_ROUNDS][2], result[2] = { 0, 0 };
	int join = open(CGROUP_DIR "/cgroup.procs", O_WRONLY | O_CLOEXEC);
	int leave = open(CGROUP_ROOT "/cgroup.procs", O_WRONLY | O_CLOEXEC);
	int fd = open(path, O_RDWR | O_CLOEXEC);
	static unsigned char got[MIB];
	long long written;
	int i, j, err;
	char *map;

	/* Everything the rounds need, taken before joining (see write_in_cgroup()). */
	map = mmap(NULL, MIB, PROT_READ, MAP_SHARED, fd, 0);
	if (join < 0 || leave < 0 || fd < 0 || map == MAP_FAILED)
		_exit(100);
	for (i = 0; i < SPLICE_ROUNDS; i++)
		if (pipe(pipes[i]) || fcntl(pipes[i][1], F_SETPIPE_SZ, MIB) < MIB)
			_exit(101);
	if (write(report, result, sizeof(result)) != sizeof(result))
		_exit(102);
	if (write(join, "0", 1) != 1)
		_exit(103);
	for (i = 0; i < SPLICE_ROUNDS; i++) {
		written = write_gen(fd, 0, MIB, i + 1, &err);
		if (written < MIB)
			break;
		err = splice_all(pipes[i][1], map, MIB);
		if (err || ioctl(fd, SCULLMAP_IOC_RESET)) {
			err = err ? err : errno;
			break;
		}
	}
	result[0] = i;
	result[1] = i < SPLICE_ROUNDS ? err : 0;
	if (write(leave, "0", 1) != 1)
		_exit(104);
	/* Each pipe kept its round's bytes: checked from outside the cgroup. */
	for (j = 0; j < i; j++)
		if (read(pipes[j][0], got, MIB) != MIB ||
		    pattern_mismatch(got, 0, MIB, j + 1) != -1)
			_exit(105);
	if (write(report, result, sizeof(result)) != sizeof(result))
		_exit(106);
	_exit(0);
}

/*
 * Pages a pipe still holds after the device is emptied are outside the
 * cap: a user can empty and refill the device while pipes keep the old
 * pages.  The memory cgroup still bounds that user: it stays charged for
 * every such page, and the writes fail with ENOMEM (or ENOSPC from the
 * cap) once memory.max is reached, long before SPLICE_ROUNDS MiB.
 */
TEST_F(memcg, pipes_bound_what_the_cap_does_not)
{
	int report[2], result[2] = { -1, -1 }, status;
	long long max = 8 * MIB;
	pid_t pid;

	ASSERT_EQ(0, write_text(MAX_MB_PARAM, "4"));
	ASSERT_EQ(0, write_text(CGROUP_DIR "/memory.max", "8388608"));
	ASSERT_EQ(0, pipe(report));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		close(report[0]);
		splice_rounds(variant->path, report[1]);
	}
	close(report[1]);
	/* The first report says the child joined; the second, its result. */
	ASSERT_EQ((ssize_t)sizeof(result), read(report[0], result, sizeof(result)));
	EXPECT_EQ((ssize_t)sizeof(result), read(report[0], result, sizeof(result)));
	close(report[0]);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("the child died: status %#x", status);
	ASSERT_EQ(0, WEXITSTATUS(status)) TH_LOG("the child failed at step %d",
						 WEXITSTATUS(status));
	TH_LOG("%d MiB spliced and emptied before: %s", result[0],
	       result[1] ? strerror(result[1]) : "no error");
	EXPECT_LT(result[0], SPLICE_ROUNDS) TH_LOG("nothing bounded the pinned pages");
	EXPECT_TRUE(result[1] == ENOMEM || result[1] == ENOSPC)
		TH_LOG("the rounds ended with %s, not ENOMEM or ENOSPC",
		       strerror(result[1]));
	EXPECT_GE(max, result[0] * MIB) TH_LOG("more pinned than memory.max allows");
	EXPECT_EQ(0, read_key(CGROUP_DIR "/memory.events", "oom_kill"));
	reset_device(_metadata, variant->path);
	/* The pipes are closed: the pages are freed, the charge gone. */
	EXPECT_GT(1 * MIB, read_number(CGROUP_DIR "/memory.current"))
		TH_LOG("the charge stayed after the pipes closed");
}

TEST_HARNESS_MAIN

// SPDX-License-Identifier: GPL-2.0
/*
 * Loading and unloading scullmap: the nodes it makes, the parameters it
 * refuses.  Runs with the module unloaded; each test loads it itself.
 */
#include <errno.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "scullmap_test.h"

/*
 * Check that /dev/NAME is the char device MAJOR:MINOR, and so says sysfs,
 * and that only root may use it: the driver asks for no other mode, so
 * devtmpfs (and udev, without a rule of the admin's) makes it 0600 root.
 */
static void check_node(struct __test_metadata *_metadata, const char *name,
		       int major, int minor)
{
	char path[128], dev[32], expect[32];
	struct stat st;
	FILE *f;

	snprintf(path, sizeof(path), "/dev/%s", name);
	ASSERT_EQ(0, stat(path, &st)) TH_LOG("%s: %s", path, strerror(errno));
	EXPECT_TRUE(S_ISCHR(st.st_mode)) TH_LOG("%s is not a char device", path);
	EXPECT_EQ(0600U, st.st_mode & 07777) TH_LOG("%s: mode %o", path, st.st_mode & 07777);
	EXPECT_EQ(0, (int)st.st_uid) TH_LOG("%s: owner", path);
	EXPECT_EQ(0, (int)st.st_gid) TH_LOG("%s: group", path);
	EXPECT_EQ(major, (int)major(st.st_rdev)) TH_LOG("%s", path);
	EXPECT_EQ(minor, (int)minor(st.st_rdev)) TH_LOG("%s", path);

	snprintf(path, sizeof(path), "/sys/class/scullmap/%s/dev", name);
	f = fopen(path, "r");
	ASSERT_NE(NULL, f) TH_LOG("%s: %s", path, strerror(errno));
	ASSERT_NE(NULL, fgets(dev, sizeof(dev), f));
	fclose(f);
	snprintf(expect, sizeof(expect), "%d:%d\n", major, minor);
	EXPECT_STREQ(expect, dev);
}

/* Check that exactly @nr_devs devices of each back end exist. */
static void check_nodes(struct __test_metadata *_metadata, int nr_devs)
{
	int major = scullmap_major();
	char name[32];
	int i;

	ASSERT_LT(0, major) TH_LOG("no scullmap in /proc/devices");
	for (i = 0; i < nr_devs; i++) {
		snprintf(name, sizeof(name), "scullmap%d", i);
		check_node(_metadata, name, major, i);
		snprintf(name, sizeof(name), "scullmapv%d", i);
		check_node(_metadata, name, major, nr_devs + i);
	}
	snprintf(name, sizeof(name), "/dev/scullmap%d", nr_devs);
	EXPECT_NE(0, access(name, F_OK)) TH_LOG("%s should not exist", name);
	snprintf(name, sizeof(name), "/dev/scullmapv%d", nr_devs);
	EXPECT_NE(0, access(name, F_OK)) TH_LOG("%s should not exist", name);
}

FIXTURE(module) {
};

FIXTURE_SETUP(module)
{
	if (module_loaded())
		ASSERT_EQ(0, unload_module()) TH_LOG("cannot unload: %s", strerror(errno));
}

FIXTURE_TEARDOWN(module)
{
	if (module_loaded())
		unload_module();
}

TEST_F(module, default_nodes)
{
	ASSERT_EQ(0, load_module("")) TH_LOG("load: %s", strerror(errno));
	check_nodes(_metadata, 4);
	ASSERT_EQ(0, unload_module());
	check_gone(_metadata, "after unloading");
}

TEST_F(module, nr_devs_param)
{
	ASSERT_EQ(0, load_module("nr_devs=2")) TH_LOG("load: %s", strerror(errno));
	check_nodes(_metadata, 2);
}

TEST_F(module, open_close_every_node)
{
	static const char * const fmt[] = { "/dev/scullmap%d", "/dev/scullmapv%d" };
	char path[32];
	int i, b, fd;

	ASSERT_EQ(0, load_module("")) TH_LOG("load: %s", strerror(errno));
	for (b = 0; b < 2; b++) {
		for (i = 0; i < 4; i++) {
			snprintf(path, sizeof(path), fmt[b], i);
			fd = open(path, O_RDWR);
			ASSERT_LE(0, fd) TH_LOG("%s: %s", path, strerror(errno));
			EXPECT_EQ(0, close(fd));
		}
	}
}

TEST_F(module, unload_refused_while_open)
{
	int fd;

	ASSERT_EQ(0, load_module("")) TH_LOG("load: %s", strerror(errno));
	fd = open("/dev/scullmap0", O_RDWR);
	ASSERT_LE(0, fd);
	EXPECT_EQ(-1, unload_module());
	EXPECT_EQ(EWOULDBLOCK, errno);
	EXPECT_TRUE(module_loaded());
	close(fd);
	EXPECT_EQ(0, unload_module()) TH_LOG("unload: %s", strerror(errno));
}

/* Write @value to the fault_window parameter; 0 or the errno. */
static int set_fault_window(const char *value)
{
	int fd = open("/sys/module/scullmap/parameters/fault_window", O_WRONLY);
	int err = 0;

	if (fd < 0)
		return errno;
	if (write(fd, value, strlen(value)) < 0)
		err = errno;
	close(fd);
	return err;
}

/* fault_window may change at run time, but only to 1..256. */
TEST_F(module, fault_window_at_run_time)
{
	char value[16] = "";
	FILE *f;

	ASSERT_EQ(0, load_module("fault_window=8")) TH_LOG("load: %s", strerror(errno));
	EXPECT_EQ(0, set_fault_window("256"));
	EXPECT_EQ(EINVAL, set_fault_window("0"));
	EXPECT_EQ(EINVAL, set_fault_window("257"));
	EXPECT_EQ(EINVAL, set_fault_window("many"));
	f = fopen("/sys/module/scullmap/parameters/fault_window", "r");
	ASSERT_NE(NULL, f);
	ASSERT_NE(NULL, fgets(value, sizeof(value), f));
	fclose(f);
	EXPECT_STREQ("256\n", value) TH_LOG("a refused value must not stick");
}

/* A mapping holds the module even after its file is closed. */
TEST_F(module, unload_refused_while_mapped)
{
	long page = sysconf(_SC_PAGESIZE);
	char buf[3 * 4096] = "mapped";
	char *map;
	int fd;

	ASSERT_EQ(0, load_module("")) TH_LOG("load: %s", strerror(errno));
	fd = open("/dev/scullmap0", O_RDWR);
	ASSERT_LE(0, fd);
	ASSERT_EQ((ssize_t)sizeof(buf), write(fd, buf, sizeof(buf)));
	map = mmap(NULL, 3 * page, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, map);
	close(fd);
	EXPECT_STREQ("mapped", map);

	EXPECT_EQ(-1, unload_module()) TH_LOG("rmmod with a live mapping succeeded");
	EXPECT_EQ(EWOULDBLOCK, errno);
	ASSERT_EQ(0, munmap(map, 3 * page));
	EXPECT_EQ(0, unload_module()) TH_LOG("unload: %s", strerror(errno));
}

/* Fill @path with @bytes, map it all, touch every page, in two processes. */
static void fill_and_map(struct __test_metadata *_metadata, const char *path,
			 size_t bytes)
{
	static char chunk[1 << 16];
	size_t done, page = sysconf(_SC_PAGESIZE);
	char *map;
	unsigned long sum = 0;
	pid_t pid;
	int fd, status;

	fd = open(path, O_RDWR | O_TRUNC);
	ASSERT_LE(0, fd) TH_LOG("%s: %s", path, strerror(errno));
	memset(chunk, 0x5a, sizeof(chunk));
	for (done = 0; done < bytes; done += sizeof(chunk))
		ASSERT_EQ((ssize_t)sizeof(chunk), write(fd, chunk, sizeof(chunk)));
	map = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, map);
	pid = fork();
	ASSERT_LE(0, pid);
	for (done = 0; done < bytes; done += page)
		sum += map[done];
	if (!pid)
		_exit(sum == 0x5a * (bytes / page) ? 0 : 1);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(0, status);
	EXPECT_EQ(0x5a * (bytes / page), sum);
	munmap(map, bytes);
	close(fd);
}

/*
 * Pages written, mapped and copied by fork all go back when the module
 * goes.  The test runs several load/fill/unload cycles of 64 MiB each, so
 * that a leak of even part of the pages adds up past what slab caches and
 * page tables may keep; and it checks that the measure sees full devices.
 */
#define LEAK_CYCLES	4
#define LEAK_BYTES	(32 << 20)	/* per device, two devices a cycle */

TEST_F_TIMEOUT(module, no_pages_leaked, 180)
{
	long long before, full, after;
	int cycle;

	before = mem_free_kib();
	ASSERT_LT(0, before);
	for (cycle = 0; cycle < LEAK_CYCLES; cycle++) {
		ASSERT_EQ(0, load_module("")) TH_LOG("load: %s", strerror(errno));
		fill_and_map(_metadata, "/dev/scullmap0", LEAK_BYTES);
		fill_and_map(_metadata, "/dev/scullmapv0", LEAK_BYTES);
		if (!cycle) {
			full = mem_free_kib();
			ASSERT_LT(full, before - (LEAK_BYTES >> 10))
				TH_LOG("64 MiB of devices took only %lld KiB", before - full);
		}
		ASSERT_EQ(0, unload_module()) TH_LOG("unload: %s", strerror(errno));
	}
	after = mem_free_kib();
	/* 256 MiB went through the devices; less than 8 MiB may stay. */
	EXPECT_LT(before - after, 8192)
		TH_LOG("%lld KiB fewer free after %d cycles", before - after,
		       LEAK_CYCLES);
}

TEST_F(module, unload_and_reload)
{
	int i;

	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, load_module("")) TH_LOG("load %d: %s", i, strerror(errno));
		check_nodes(_metadata, 4);
		ASSERT_EQ(0, unload_module()) TH_LOG("unload %d: %s", i, strerror(errno));
		check_gone(_metadata, "after unloading");
	}
}

/*
 * A parameter the module does not have is the kernel's business: it loads
 * the module and says in the log that it ignored it.
 */
TEST_F(module, unknown_param_ignored)
{
	int kmsg = kmsg_open();

	ASSERT_LE(0, kmsg);
	ASSERT_EQ(0, load_module("no_such_param=1")) TH_LOG("load: %s", strerror(errno));
	EXPECT_TRUE(kmsg_find(kmsg, "unknown parameter 'no_such_param' ignored"));
	check_nodes(_metadata, 4);
	close(kmsg);
}

/* Only CAP_SYS_MODULE may load a module: EPERM, and nothing loaded. */
TEST_F(module, unprivileged_load_refused)
{
	int status;
	pid_t pid;

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		if (setgid(65534) || setuid(65534))
			_exit(100);
		_exit(load_module("") ? errno : 0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(EPERM, WEXITSTATUS(status)) TH_LOG("%s", strerror(WEXITSTATUS(status)));
	check_gone(_metadata, "after a refused load");
}

/* Bad parameters: the load fails with EINVAL and says why in the log. */
FIXTURE(bad_param) {
	int kmsg;
};

FIXTURE_VARIANT(bad_param) {
	const char *params;
	const char *message;
	int error;	/* the errno of the load; 0 for EINVAL */
};

FIXTURE_VARIANT_ADD(bad_param, nr_devs_zero) {
	.params = "nr_devs=0",
	.message = "nr_devs=0 is out of range",
};

FIXTURE_VARIANT_ADD(bad_param, nr_devs_too_many) {
	.params = "nr_devs=33",
	.message = "nr_devs=33 is out of range",
};

FIXTURE_VARIANT_ADD(bad_param, nr_devs_negative) {
	.params = "nr_devs=-1",
	.message = "invalid for parameter",
};

FIXTURE_VARIANT_ADD(bad_param, order_too_big) {
	.params = "order=11",
	.message = "order=11 is out of range",
};

FIXTURE_VARIANT_ADD(bad_param, vorder_too_big) {
	.params = "vorder=11",
	.message = "vorder=11 is out of range",
};

FIXTURE_VARIANT_ADD(bad_param, order_not_a_number) {
	.params = "order=two",
	.message = "invalid for parameter",
};

FIXTURE_VARIANT_ADD(bad_param, order_beyond_uint) {
	.params = "order=4294967296",
	.message = "invalid for parameter",
	.error = ERANGE,
};

FIXTURE_VARIANT_ADD(bad_param, qset_zero) {
	.params = "qset=0",
	.message = "qset=0 is out of range",
};

FIXTURE_VARIANT_ADD(bad_param, fault_window_zero) {
	.params = "fault_window=0",
	.message = "fault_window must be 1..256",
};

FIXTURE_VARIANT_ADD(bad_param, fault_window_too_big) {
	.params = "fault_window=257",
	.message = "fault_window must be 1..256",
};

FIXTURE_VARIANT_ADD(bad_param, qset_too_big) {
	.params = "qset=4097",
	.message = "qset=4097 is out of range",
};

FIXTURE_VARIANT_ADD(bad_param, max_mb_zero) {
	.params = "max_mb=0",
	.message = "max_mb must be 1..",
};

FIXTURE_VARIANT_ADD(bad_param, max_mb_above_ram) {
	.params = "max_mb=1099511627776",
	.message = "max_mb must be 1..",
};

FIXTURE_SETUP(bad_param)
{
	if (module_loaded())
		ASSERT_EQ(0, unload_module());
	self->kmsg = kmsg_open();
	ASSERT_LE(0, self->kmsg);
}

FIXTURE_TEARDOWN(bad_param)
{
	close(self->kmsg);
	if (module_loaded())
		unload_module();
}

TEST_F(bad_param, refused)
{
	EXPECT_EQ(-1, load_module(variant->params));
	EXPECT_EQ(variant->error ? variant->error : EINVAL, errno);
	EXPECT_TRUE(kmsg_find(self->kmsg, variant->message))
		TH_LOG("no \"%s\" in the kernel log", variant->message);
	check_gone(_metadata, "after a refused load");
}

TEST_HARNESS_MAIN

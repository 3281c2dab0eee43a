// SPDX-License-Identifier: GPL-2.0
/*
 * The pages of a mapping of scullmap in the hands of the kernel's other
 * users: get_user_pages() and pins.  vmsplice() into a pipe that outlives
 * the device's data, process_vm_readv/writev, ptrace and /proc/PID/mem
 * writes into a private mapping, MAP_POPULATE, mlock() and
 * MADV_POPULATE_* over holes, MADV_DONTNEED and mprotect() cycles, read()
 * and write() between a hole of the device's own mapping and the device,
 * and io_uring fixed buffers.  Both back ends, quanta of one and of
 * several pages.  Runs with the module loaded; each test empties its
 * device and sets a small quantum set, and puts back the geometry it found.
 */
#include <errno.h>
#include <limits.h>
#include <linux/io_uring.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "scullmap_test.h"
#include "uapi/scullmap.h"

#define TEST_QSET	4U	/* quanta per quantum set in these tests */

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ	22
#define MADV_POPULATE_WRITE	23
#endif

/* Assert that @buf holds generation @gen's bytes of device offset @off. */
static void check_buf(struct __test_metadata *_metadata, const void *buf,
		      off_t off, size_t len, unsigned int gen, const char *what)
{
	ssize_t bad = pattern_mismatch(buf, off, len, gen);

	ASSERT_EQ(-1, bad) TH_LOG("%s: byte at device offset %#llx is %#x, not %#x",
				  what, (unsigned long long)(off + bad),
				  ((const unsigned char *)buf)[bad],
				  pattern_byte(off + bad, gen));
}

/* Assert that read() finds generation @gen at [@off, @off + @len). */
static void check_dev(struct __test_metadata *_metadata, int fd, off_t off,
		      size_t len, unsigned int gen, const char *what)
{
	unsigned char *buf = malloc(len);
	ssize_t n;

	ASSERT_NE(NULL, buf);
	n = full_pread(fd, buf, len, off);
	if (n != (ssize_t)len)
		free(buf);
	ASSERT_EQ((ssize_t)len, n)
		TH_LOG("%s: pread of %zu bytes at %#llx: %s", what, len,
		       (unsigned long long)off, n < 0 ? strerror(errno) : "short");
	check_buf(_metadata, buf, off, len, gen, what);
	free(buf);
}

/* Assert that the cap and the debugfs line of @name count nothing. */
static void check_nothing_held(struct __test_metadata *_metadata, const char *name)
{
	struct usage dev, total;
	long long held, max;

	ASSERT_EQ(0, read_usage(name, &dev, &held, &max))
		TH_LOG("no %s line in %s", name, USAGE_FILE);
	EXPECT_EQ(0, dev.size);
	EXPECT_EQ(0, dev.pages) TH_LOG("%s still counts pages", name);
	ASSERT_EQ(0, read_usage("total", &total, &held, &max));
	EXPECT_EQ(total.pages * getpagesize() + total.index_bytes, held)
		TH_LOG("the cap holds %lld bytes the devices do not", held);
}

/* The mappings a test made, for the teardown to unmap. */
struct maps {
	char *addr[4];
	size_t len[4];
};

FIXTURE(gup) {
	int fd;				/* the device, O_RDWR */
	size_t page;			/* the page size */
	size_t q;			/* bytes in a quantum */
	struct scullmap_geometry found;	/* put back at teardown */
	struct maps maps;
};

DEVICE_VARIANTS(gup, "/dev/scullmap1", "/dev/scullmapv1");

/* The device's line in the usage file: its node's name. */
static const char *usage_name(const char *path)
{
	return strrchr(path, '/') + 1;
}

FIXTURE_SETUP(gup)
{
	setup_device(_metadata, variant->path, variant->order, TEST_QSET,
		     &self->fd, &self->found);
	self->page = getpagesize();
	self->q = self->page << variant->order;
}

FIXTURE_TEARDOWN(gup)
{
	int i;

	for (i = 0; i < 4; i++)
		if (self->maps.addr[i])
			munmap(self->maps.addr[i], self->maps.len[i]);
	restore_device(_metadata, self->fd, &self->found);
	close(self->fd);
}

/* mmap [@off, @off + @len) of @fd, and list it in @maps for the teardown. */
static char *map_fd(struct __test_metadata *_metadata, struct maps *maps, int fd,
		    int prot, int flags, off_t off, size_t len)
{
	char *m = mmap(NULL, len, prot, flags, fd, off);
	int i;

	ASSERT_NE(MAP_FAILED, m) TH_LOG("mmap: %s", strerror(errno));
	for (i = 0; i < 4 && maps->addr[i]; i++)
		;
	ASSERT_GT(4, i) TH_LOG("too many mappings for the teardown");
	maps->addr[i] = m;
	maps->len[i] = len;
	return m;
}

/* In a TEST_F: map the fixture's device, for its teardown to unmap. */
#define map_dev(prot, flags, off, len) \
	map_fd(_metadata, &self->maps, self->fd, prot, flags, off, len)

/* The usual sparse layout: data in quanta 0 and 2, a hole in quantum 1. */
static void fill_sparse(struct __test_metadata *_metadata, int fd, size_t q,
			unsigned int gen)
{
	write_device(_metadata, fd, 0, q, gen);
	write_device(_metadata, fd, 2 * q, q, gen);
}

/*
 * vmsplice() a mapping of the device into a pipe, empty the device (by
 * RESET, or by open(O_TRUNC) if @by_reset is 0), and write other data to
 * it: the pipe holds references to the old pages, which must keep the old
 * bytes.  The device is empty, a mapping made now faults with SIGBUS, and
 * once the pipe is read and closed the cap counts nothing.
 */
static void splice_then_empty(struct __test_metadata *_metadata, struct maps *maps,
			      int dev_fd, size_t q, const char *path,
			      const char *name, int by_reset)
{
	const size_t len = 2 * q + getpagesize();	/* into a third quantum */
	struct scullmap_info info;
	int pipefd[2], fd;
	unsigned char *buf;
	ssize_t n;
	char *m, *m2, c;

	write_device(_metadata, dev_fd, 0, len, 1);
	m = map_fd(_metadata, maps, dev_fd, PROT_READ, MAP_SHARED, 0, len);
	ASSERT_EQ(0, pipe(pipefd));
	vmsplice_all(_metadata, pipefd[1], m, len);

	if (by_reset) {
		ASSERT_EQ(0, ioctl(dev_fd, SCULLMAP_IOC_RESET))
			TH_LOG("RESET: %s", strerror(errno));
	} else {
		fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
		ASSERT_LE(0, fd) TH_LOG("O_TRUNC: %s", strerror(errno));
		close(fd);
	}
	get_info(_metadata, dev_fd, &info);
	EXPECT_EQ(0ULL, info.size);
	EXPECT_EQ(0ULL, info.quanta);
	EXPECT_EQ(0, pread(dev_fd, &c, 1, 0)) TH_LOG("an emptied device reads data");
	check_reads_sigbus(_metadata, m, len, "the old mapping, emptied");
	m2 = map_fd(_metadata, maps, dev_fd, PROT_READ, MAP_SHARED, 0, len);
	check_reads_sigbus(_metadata, m2, len, "a new mapping of the emptied device");

	/* New quanta: none may be a page the pipe still holds. */
	write_device(_metadata, dev_fd, 0, len, 2);
	buf = malloc(len);
	ASSERT_NE(NULL, buf);
	n = read(pipefd[0], buf, len);
	close(pipefd[0]);
	close(pipefd[1]);
	if (n != (ssize_t)len)
		free(buf);
	ASSERT_EQ((ssize_t)len, n)
		TH_LOG("reading the pipe: %s", n < 0 ? strerror(errno) : "short");
	check_buf(_metadata, buf, 0, len, 1, "the pipe, after the device was emptied");
	free(buf);
	check_dev(_metadata, dev_fd, 0, len, 2, "the device, written again");

	ASSERT_EQ(0, ioctl(dev_fd, SCULLMAP_IOC_RESET));
	check_nothing_held(_metadata, name);
}

TEST_F(gup, vmsplice_then_reset)
{
	splice_then_empty(_metadata, &self->maps, self->fd, self->q,
			  variant->path, usage_name(variant->path), 1);
}

TEST_F(gup, vmsplice_then_o_trunc)
{
	splice_then_empty(_metadata, &self->maps, self->fd, self->q,
			  variant->path, usage_name(variant->path), 0);
}

/*
 * process_vm_readv() of [@addr, +@len) of this process into @buf: the
 * kernel copies through get_user_pages() of the "remote" (here our own)
 * mm.  Returns what it returned, errno in *err.
 */
static ssize_t vm_read(void *buf, const char *addr, size_t len, int *err)
{
	struct iovec local = { buf, len }, remote = { (void *)addr, len };
	ssize_t n;

	errno = 0;
	n = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
	*err = errno;
	return n;
}

static ssize_t vm_write(const void *buf, char *addr, size_t len, int *err)
{
	struct iovec local = { (void *)buf, len }, remote = { addr, len };
	ssize_t n;

	errno = 0;
	n = process_vm_writev(getpid(), &local, 1, &remote, 1, 0);
	*err = errno;
	return n;
}

/*
 * A copy that meets a hole (or a page past the end) stops there: EFAULT if
 * it copied nothing, else a short count of at most @before bytes.
 */
static void check_stops(struct __test_metadata *_metadata, ssize_t n, int err,
			size_t before, const char *what)
{
	if (n < 0) {
		EXPECT_EQ(EFAULT, err) TH_LOG("%s: %s, expected EFAULT or a short count",
					      what, strerror(err));
		return;
	}
	EXPECT_GE((ssize_t)before, n) TH_LOG("%s copied %zd bytes, at most %zu are there",
					     what, n, before);
}

/* process_vm_readv/writev over data, holes and the end of a mapping. */
TEST_F(gup, process_vm_rw)
{
	const size_t q = self->q, len = 4 * q;	/* quantum 3 is past the end */
	struct scullmap_info info;
	unsigned char *buf;
	ssize_t n;
	char *m;
	int err;

	fill_sparse(_metadata, self->fd, self->q, 1);
	m = map_dev(PROT_READ | PROT_WRITE, MAP_SHARED, 0, len);
	buf = malloc(2 * q);
	ASSERT_NE(NULL, buf);

	n = vm_read(buf, m, q, &err);
	ASSERT_EQ((ssize_t)q, n) TH_LOG("process_vm_readv of data: %s", strerror(err));
	check_buf(_metadata, buf, 0, q, 1, "process_vm_readv of quantum 0");

	/* From data into the hole: the bytes before it, or EFAULT. */
	n = vm_read(buf, m + q - 100, 200, &err);
	check_stops(_metadata, n, err, 100, "process_vm_readv into the hole");
	if (n > 0)
		check_buf(_metadata, buf, q - 100, n, 1, "process_vm_readv up to the hole");
	n = vm_read(buf, m + q, 100, &err);
	check_stops(_metadata, n, err, 0, "process_vm_readv of the hole");
	n = vm_read(buf, m + 3 * q, 100, &err);
	check_stops(_metadata, n, err, 0, "process_vm_readv past the end");

	/* Into data through MAP_SHARED: the device has it at once. */
	pattern_fill(buf, 2 * q + 10, q - 20, 3);
	n = vm_write(buf, m + 2 * q + 10, q - 20, &err);
	ASSERT_EQ((ssize_t)(q - 20), n) TH_LOG("process_vm_writev: %s", strerror(err));
	check_dev(_metadata, self->fd, 2 * q + 10, q - 20, 3, "written by process_vm_writev");
	check_dev(_metadata, self->fd, 2 * q, 10, 1, "before the process_vm_writev");

	/* Into the hole and past the end: nothing lands anywhere. */
	pattern_fill(buf, q - 100, 200, 4);
	n = vm_write(buf, m + q - 100, 200, &err);
	check_stops(_metadata, n, err, 100, "process_vm_writev into the hole");
	if (n > 0)
		check_dev(_metadata, self->fd, q - 100, n, 4, "process_vm_writev up to the hole");
	n = vm_write(buf, m + 3 * q, 100, &err);
	check_stops(_metadata, n, err, 0, "process_vm_writev past the end");
	free(buf);

	get_info(_metadata, self->fd, &info);
	EXPECT_EQ(3 * q, info.size);
	EXPECT_EQ(2ULL, info.quanta) TH_LOG("a remote write filled the hole");
	check_reads_sigbus(_metadata, m + q, q, "the hole, after remote access");
	check_reads_sigbus(_metadata, m + 3 * q, q, "past the end, after remote access");
	check_dev(_metadata, self->fd, 0, q - 100, 1, "quantum 0 before the remote writes");
}

/*
 * Forced writes into a read-only MAP_PRIVATE mapping of the device, from a
 * tracer into its stopped tracee: /proc/PID/mem and PTRACE_POKEDATA.  The
 * kernel breaks copy-on-write: the tracee sees the bytes in a private copy,
 * the device and the tracer's own copy of the mapping do not.  The part of
 * a write that falls in the hole fails.  Done from a tracer because
 * /proc/PID/mem refuses forced writes without one on kernels built with
 * PROC_MEM_FORCE_PTRACE.
 */
TEST_F(gup, ptrace_writes_private_copy)
{
	const size_t q = self->q, len = 3 * q;
	const off_t at = q - 8, poke = 2 * q + 40;
	unsigned char bytes[16];
	char path[64];
	long word;
	int status, memfd;
	pid_t pid;
	char *m;

	fill_sparse(_metadata, self->fd, self->q, 1);
	m = map_dev(PROT_READ, MAP_PRIVATE, 0, len);
	check_buf(_metadata, m, 0, q, 1, "the private mapping");

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		if (ptrace(PTRACE_TRACEME, 0, NULL, NULL))
			_exit(2);
		raise(SIGSTOP);
		/* The tracer wrote generation 2: 8 bytes at @at, a word at @poke. */
		if (pattern_mismatch(m + at, at, 8, 2) != -1)
			_exit(3);
		if (pattern_mismatch(m + poke, poke, sizeof(long), 2) != -1)
			_exit(4);
		if (pattern_mismatch(m, 0, at, 1) != -1 ||
		    pattern_mismatch(m + 2 * q, 2 * q, 40, 1) != -1 ||
		    pattern_mismatch(m + poke + sizeof(long), poke + sizeof(long),
				     3 * q - poke - sizeof(long), 1) != -1)
			_exit(5);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFSTOPPED(status)) TH_LOG("the tracee: status %#x", status);

	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	memfd = open(path, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, memfd) TH_LOG("%s: %s", path, strerror(errno));
	/* 16 bytes from 8 before the hole: the 8 before it are written. */
	pattern_fill(bytes, at, 16, 2);
	EXPECT_EQ(8, pwrite(memfd, bytes, 16, (off_t)(uintptr_t)(m + at)))
		TH_LOG("/proc/PID/mem write up to the hole: %s", strerror(errno));
	EXPECT_EQ(-1, pwrite(memfd, bytes + 8, 8, (off_t)(uintptr_t)(m + q)))
		TH_LOG("a /proc/PID/mem write into the hole succeeded");
	close(memfd);

	pattern_fill(&word, poke, sizeof(word), 2);
	EXPECT_EQ(0, ptrace(PTRACE_POKEDATA, pid, m + poke, word))
		TH_LOG("PTRACE_POKEDATA: %s", strerror(errno));
	errno = 0;
	EXPECT_EQ(word, ptrace(PTRACE_PEEKDATA, pid, m + poke, NULL))
		TH_LOG("PTRACE_PEEKDATA after the poke: %s", strerror(errno));
	EXPECT_EQ(-1, ptrace(PTRACE_POKEDATA, pid, m + q + 8, word))
		TH_LOG("PTRACE_POKEDATA into the hole succeeded");
	ASSERT_EQ(0, ptrace(PTRACE_DETACH, pid, NULL, NULL));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status))
		TH_LOG("the tracee saw the wrong bytes in its copy: status %#x", status);

	check_dev(_metadata, self->fd, 0, q, 1, "the device under the private copies");
	check_dev(_metadata, self->fd, 2 * q, q, 1, "the device under the poked word");
	check_buf(_metadata, m, 0, q, 1, "the tracer's own private mapping");
	check_buf(_metadata, m + 2 * q, 2 * q, q, 1, "the tracer's own private mapping");
	check_reads_sigbus(_metadata, m + q, q, "the hole, after forced writes");
}

/*
 * Write @len bytes of @bytes into this process at @addr through
 * /proc/self/mem, a forced write.  Returns what pwrite() did; errno kept.
 */
static ssize_t self_mem_write(const void *bytes, size_t len, char *addr)
{
	int fd = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
	ssize_t n;
	int err;

	if (fd < 0)
		return -1;
	n = pwrite(fd, bytes, len, (off_t)(uintptr_t)addr);
	err = errno;
	close(fd);
	errno = err;
	return n;
}

/*
 * /proc/self/mem without a tracer: a private copy as above, or EIO on a
 * kernel built with PROC_MEM_FORCE_PTRACE.  A refusal counts as the
 * kernel's only if it refuses the same write into a read-only private
 * mapping of a memfd too.
 */
TEST_F(gup, proc_self_mem_private)
{
	const size_t q = self->q;
	const off_t at = q / 2;
	unsigned char bytes[16];
	int memfd, err;
	char *m, *control;
	ssize_t n;

	write_device(_metadata, self->fd, 0, q, 1);
	m = map_dev(PROT_READ, MAP_PRIVATE, 0, q);
	pattern_fill(bytes, at, sizeof(bytes), 2);
	n = self_mem_write(bytes, sizeof(bytes), m + at);
	err = errno;
	if (n < 0) {
		ASSERT_EQ(EIO, err) TH_LOG("/proc/self/mem write: %s", strerror(err));
		memfd = memfd_create("gup_test", MFD_CLOEXEC);
		ASSERT_LE(0, memfd);
		ASSERT_EQ(0, ftruncate(memfd, q));
		control = map_fd(_metadata, &self->maps, memfd, PROT_READ, MAP_PRIVATE, 0, q);
		close(memfd);
		ASSERT_EQ(-1, self_mem_write(bytes, sizeof(bytes), control + at))
			TH_LOG("/proc/self/mem writes into a memfd's mapping, not the device's");
		TH_LOG("/proc/self/mem: forced writes refused (PROC_MEM_FORCE_PTRACE)");
		check_buf(_metadata, m, 0, q, 1, "the mapping after a refused write");
	} else {
		ASSERT_EQ((ssize_t)sizeof(bytes), n);
		check_buf(_metadata, m + at, at, sizeof(bytes), 2, "the private copy");
		check_buf(_metadata, m, 0, at, 1, "the rest of the private copy");
	}
	check_dev(_metadata, self->fd, 0, q, 1, "the device under /proc/self/mem");
}

/* A call over a range with holes fails with ENOMEM or EFAULT, and does return. */
static void check_populate_fails(struct __test_metadata *_metadata, int ret,
				 const char *what)
{
	int err = errno;

	EXPECT_EQ(-1, ret) TH_LOG("%s over holes succeeded", what);
	if (ret == -1)
		EXPECT_TRUE(err == ENOMEM || err == EFAULT)
			TH_LOG("%s over holes: %s, expected ENOMEM or EFAULT",
			       what, strerror(err));
}

/*
 * Everything that faults a range in ahead of use, over a range with a hole
 * and a page past the end: MAP_POPULATE (errors ignored by design), mlock()
 * and MADV_POPULATE_READ/WRITE.  Each returns; the holes still raise
 * SIGBUS afterwards, and the data is right, in MAP_SHARED and MAP_PRIVATE.
 */
TEST_F(gup, populate_over_holes)
{
	const size_t q = self->q, len = 4 * q;
	const int rw = PROT_READ | PROT_WRITE;
	struct scullmap_info info;
	char *m, *p;

	fill_sparse(_metadata, self->fd, self->q, 1);
	m = map_dev(rw, MAP_SHARED | MAP_POPULATE, 0, len);
	p = map_dev(rw, MAP_PRIVATE | MAP_POPULATE, 0, len);

	check_populate_fails(_metadata, mlock(m, len), "mlock");
	munlock(m, len);
	check_populate_fails(_metadata, madvise(m, len, MADV_POPULATE_READ),
			     "MADV_POPULATE_READ");
	check_populate_fails(_metadata, madvise(m, len, MADV_POPULATE_WRITE),
			     "MADV_POPULATE_WRITE");
	check_populate_fails(_metadata, madvise(p, len, MADV_POPULATE_WRITE),
			     "MADV_POPULATE_WRITE, private");
	check_populate_fails(_metadata, mlock(p + q - self->page, 2 * self->page),
			     "mlock, private");
	munlock(p, len);

	/* Over data alone they succeed. */
	EXPECT_EQ(0, madvise(m + 2 * q, q, MADV_POPULATE_READ)) TH_LOG("%s", strerror(errno));
	EXPECT_EQ(0, madvise(m, q, MADV_POPULATE_WRITE)) TH_LOG("%s", strerror(errno));
	EXPECT_EQ(0, madvise(p, q, MADV_POPULATE_WRITE)) TH_LOG("%s", strerror(errno));
	EXPECT_EQ(0, mlock(m + 2 * q, q)) TH_LOG("mlock of data: %s", strerror(errno));
	munlock(m + 2 * q, q);

	check_reads_sigbus(_metadata, m + q, q, "the shared hole, after populating");
	check_reads_sigbus(_metadata, m + 3 * q, q, "shared, past the end, after populating");
	check_reads_sigbus(_metadata, p + q, q, "the private hole, after populating");
	check_reads_sigbus(_metadata, p + 3 * q, q, "private, past the end, after populating");
	check_buf(_metadata, m, 0, q, 1, "shared quantum 0, after populating");
	check_buf(_metadata, m + 2 * q, 2 * q, q, 1, "shared quantum 2, after populating");
	check_buf(_metadata, p, 0, q, 1, "private quantum 0, after populating");
	check_buf(_metadata, p + 2 * q, 2 * q, q, 1, "private quantum 2, after populating");
	/* The private pages populated for writing are copies now. */
	pattern_fill(p, 0, q, 2);
	check_dev(_metadata, self->fd, 0, q, 1, "the device under a private store");
	check_buf(_metadata, m, 0, q, 1, "the shared mapping under a private store");
	get_info(_metadata, self->fd, &info);
	EXPECT_EQ(3 * q, info.size);
	EXPECT_EQ(2ULL, info.quanta) TH_LOG("populating filled a hole");
}

/*
 * MADV_DONTNEED drops page table entries: the next access faults again and
 * gets the same data (shared), or the device's data again instead of the
 * private copy (private).
 */
TEST_F(gup, dontneed_then_refault)
{
	const size_t q = self->q, len = 3 * q, pg = self->page;
	char *m, *p;

	write_device(_metadata, self->fd, 0, len, 1);
	m = map_dev(PROT_READ | PROT_WRITE, MAP_SHARED, 0, len);
	p = map_dev(PROT_READ | PROT_WRITE, MAP_PRIVATE, 0, len);
	check_buf(_metadata, m, 0, len, 1, "shared, first touch");
	pattern_fill(p + q - pg, q - pg, 2 * pg, 2);	/* two private copies */

	/* A range that starts and ends inside quanta. */
	ASSERT_EQ(0, madvise(m + pg, q + pg, MADV_DONTNEED)) TH_LOG("%s", strerror(errno));
	check_buf(_metadata, m, 0, len, 1, "shared, refaulted");
	pattern_fill(m + q, q, pg, 3);
	check_dev(_metadata, self->fd, q, pg, 3, "a store after the refault");

	check_buf(_metadata, p + q - pg, q - pg, 2 * pg, 2, "the private copies");
	ASSERT_EQ(0, madvise(p, len, MADV_DONTNEED)) TH_LOG("%s", strerror(errno));
	check_buf(_metadata, p, 0, q, 1, "private, refaulted");
	check_buf(_metadata, p + q, q, pg, 3, "private, refaulted, the shared store");
	check_buf(_metadata, p + q + pg, q + pg, len - q - pg, 1, "private, refaulted");
}

/*
 * mprotect() cycles on a MAP_SHARED mapping: read-only, read-write (the
 * stores reach the device), read-only again (stores fault), a few times,
 * on part of the mapping so that the VMA is split and merged.
 */
TEST_F(gup, mprotect_cycles)
{
	const size_t q = self->q, len = 3 * q, pg = self->page;
	unsigned int gen;
	char *m;

	write_device(_metadata, self->fd, 0, len, 1);
	m = map_dev(PROT_READ, MAP_SHARED, 0, len);
	check_buf(_metadata, m, 0, len, 1, "read-only, first touch");
	for (gen = 2; gen < 5; gen++) {
		ASSERT_EQ(0, mprotect(m + q - pg, 2 * pg, PROT_READ | PROT_WRITE))
			TH_LOG("mprotect RW: %s", strerror(errno));
		pattern_fill(m + q - pg, q - pg, 2 * pg, gen);
		check_dev(_metadata, self->fd, q - pg, 2 * pg, gen, "stored while RW");
		ASSERT_EQ(0, mprotect(m, len, PROT_READ))
			TH_LOG("mprotect RO: %s", strerror(errno));
		EXPECT_TRUE(store_segfaults(m + q)) TH_LOG("a store into a RO mapping");
		check_buf(_metadata, m + q - pg, q - pg, 2 * pg, gen, "read-only again");
	}
	check_dev(_metadata, self->fd, 0, q - pg, 1, "untouched bytes");
	check_dev(_metadata, self->fd, q + pg, len - q - pg, 1, "untouched bytes");
}

/*
 * read() and write() between the device and a hole of its own mapping
 * that is also a hole, or past the end, of what is read or written:
 * EFAULT, never a hang, and no quantum appears for a failed read.
 * (mmap_test's io_faulting_buffer covers a hole against data.)
 */
TEST_F(gup, io_hole_against_hole)
{
	const size_t q = self->q;
	struct scullmap_info info;
	struct iovec iov[2];
	unsigned char *buf;
	ssize_t n;
	char *m;

	fill_sparse(_metadata, self->fd, self->q, 1);
	m = map_dev(PROT_READ | PROT_WRITE, MAP_SHARED, 0, 4 * q);

	/* The hole's zeros into the hole's mapping, and past the end. */
	errno = 0;
	EXPECT_EQ(-1, pread(self->fd, m + q, 100, q + 100)) TH_LOG("read() hole into hole");
	EXPECT_EQ(EFAULT, errno) TH_LOG("read() hole into hole: %s", strerror(errno));
	errno = 0;
	EXPECT_EQ(-1, pread(self->fd, m + 3 * q, 100, 0)) TH_LOG("read() past the end");
	EXPECT_EQ(EFAULT, errno) TH_LOG("read() past the end: %s", strerror(errno));
	get_info(_metadata, self->fd, &info);
	EXPECT_EQ(2ULL, info.quanta) TH_LOG("a failed read() filled a hole");

	/* readv: data, then the hole: a short count of the data. */
	buf = malloc(q);
	ASSERT_NE(NULL, buf);
	iov[0].iov_base = buf;
	iov[0].iov_len = 200;
	iov[1].iov_base = m + q;
	iov[1].iov_len = 200;
	n = preadv(self->fd, iov, 2, 2 * q);
	EXPECT_EQ(200, n) TH_LOG("readv into data then a hole: %s",
				 n < 0 ? strerror(errno) : "wrong count");
	check_buf(_metadata, buf, 2 * q, 200, 1, "readv up to the hole");
	free(buf);

	/*
	 * write() from the hole into the hole itself: the write may allocate
	 * the quantum first and then copy its zeros into itself, or fail with
	 * EFAULT.  Either way, no hang, and no byte but zeros.
	 */
	errno = 0;
	n = pwrite(self->fd, m + q + 100, 100, q + 100);
	if (n < 0) {
		EXPECT_EQ(EFAULT, errno) TH_LOG("write() hole to hole: %s", strerror(errno));
	} else {
		EXPECT_EQ(100, n);
		check_dev(_metadata, self->fd, q, q, 0, "the hole written from itself");
	}
	errno = 0;
	EXPECT_EQ(-1, pwrite(self->fd, m + 3 * q, 100, 3 * q)) TH_LOG("write() past the end");
	EXPECT_EQ(EFAULT, errno) TH_LOG("write() from past the end: %s", strerror(errno));
	get_info(_metadata, self->fd, &info);
	EXPECT_EQ(3 * q, info.size) TH_LOG("a failed write() moved the end");
	check_dev(_metadata, self->fd, 0, q, 1, "quantum 0");
	check_dev(_metadata, self->fd, 2 * q, q, 1, "quantum 2");
}

/* An io_uring instance through raw system calls: the rings, mapped. */
struct ring {
	int fd;
	void *sq, *cq;
	size_t sq_len, cq_len;
	struct io_uring_sqe *sqes;
	size_t sqes_len;
	struct io_uring_params p;
};

static int ring_setup(struct ring *r)
{
	memset(r, 0, sizeof(*r));
	r->fd = syscall(__NR_io_uring_setup, 4, &r->p);
	if (r->fd < 0)
		return -1;
	r->sq_len = r->p.sq_off.array + r->p.sq_entries * sizeof(__u32);
	r->cq_len = r->p.cq_off.cqes + r->p.cq_entries * sizeof(struct io_uring_cqe);
	if (r->p.features & IORING_FEAT_SINGLE_MMAP) {
		if (r->cq_len > r->sq_len)
			r->sq_len = r->cq_len;
		r->cq_len = 0;
	}
	r->sq = mmap(NULL, r->sq_len, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd,
		     IORING_OFF_SQ_RING);
	r->cq = r->cq_len ? mmap(NULL, r->cq_len, PROT_READ | PROT_WRITE, MAP_SHARED,
				 r->fd, IORING_OFF_CQ_RING) : r->sq;
	r->sqes_len = r->p.sq_entries * sizeof(struct io_uring_sqe);
	r->sqes = mmap(NULL, r->sqes_len, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd,
		       IORING_OFF_SQES);
	if (r->sq == MAP_FAILED || r->cq == MAP_FAILED || r->sqes == MAP_FAILED)
		return -1;
	return 0;
}

static void ring_close(struct ring *r)
{
	munmap(r->sqes, r->sqes_len);
	if (r->cq_len)
		munmap(r->cq, r->cq_len);
	munmap(r->sq, r->sq_len);
	close(r->fd);
}

/*
 * Submit one IORING_OP_READ_FIXED of @len bytes at @off of @fd into @addr,
 * inside registered buffer 0, and wait for it.  Returns its result (bytes,
 * or a negative errno), or INT_MIN if io_uring_enter failed.
 */
static int ring_read_fixed(struct ring *r, int fd, void *addr, size_t len, off_t off)
{
	unsigned int *sq_tail = r->sq + r->p.sq_off.tail;
	unsigned int *sq_mask = r->sq + r->p.sq_off.ring_mask;
	unsigned int *sq_array = r->sq + r->p.sq_off.array;
	unsigned int *cq_head = r->cq + r->p.cq_off.head;
	unsigned int *cq_tail = r->cq + r->p.cq_off.tail;
	unsigned int *cq_mask = r->cq + r->p.cq_off.ring_mask;
	struct io_uring_cqe *cqes = r->cq + r->p.cq_off.cqes;
	unsigned int tail = *sq_tail, idx = tail & *sq_mask, head;
	struct io_uring_sqe *sqe = &r->sqes[idx];
	int res;

	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = IORING_OP_READ_FIXED;
	sqe->fd = fd;
	sqe->addr = (uintptr_t)addr;
	sqe->len = len;
	sqe->off = off;
	sqe->buf_index = 0;
	sq_array[idx] = idx;
	__atomic_store_n(sq_tail, tail + 1, __ATOMIC_RELEASE);
	if (syscall(__NR_io_uring_enter, r->fd, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0)
		return INT_MIN;
	head = *cq_head;
	if (head == __atomic_load_n(cq_tail, __ATOMIC_ACQUIRE))
		return INT_MIN;
	res = cqes[head & *cq_mask].res;
	__atomic_store_n(cq_head, head + 1, __ATOMIC_RELEASE);
	return res;
}

/*
 * io_uring fixed buffers in a MAP_SHARED mapping of the device: the kernel
 * pins the pages for as long as they are registered (FOLL_LONGTERM).  Some
 * kernels refuse long-term pins of file-backed memory (EOPNOTSUPP, EFAULT):
 * a valid answer, printed.  Where they are accepted, a READ_FIXED from a
 * memfd lands in the device; after the device is emptied, the pinned pages
 * are the pipe case again: another READ_FIXED into them must not reach the
 * device, and the cap counts nothing once the ring is gone.  A buffer over
 * a hole is refused.
 */
TEST_F(gup, io_uring_fixed_buffers)
{
	const size_t q = self->q, len = 2 * q;
	struct iovec iov;
	unsigned char *data;
	struct ring r;
	int memfd, ret;
	char *m, c;

	fill_sparse(_metadata, self->fd, self->q, 1);
	write_device(_metadata, self->fd, q, q, 1);	/* no hole: quanta 0-2 */
	write_device(_metadata, self->fd, 4 * q, q, 1);	/* a hole in quantum 3 */
	m = map_dev(PROT_READ | PROT_WRITE, MAP_SHARED, 0, 5 * q);

	/* Not built in, or disabled by kernel.io_uring_disabled: say which. */
	if (ring_setup(&r))
		SKIP(return, "no io_uring here: io_uring_setup: %s", strerror(errno));

	iov.iov_base = m + 2 * q;
	iov.iov_len = 2 * q;
	errno = 0;
	ret = syscall(__NR_io_uring_register, r.fd, IORING_REGISTER_BUFFERS, &iov, 1);
	EXPECT_EQ(-1, ret) TH_LOG("registered a buffer over a hole");
	if (ret == 0)
		syscall(__NR_io_uring_register, r.fd, IORING_UNREGISTER_BUFFERS, NULL, 0);
	check_reads_sigbus(_metadata, m + 3 * q, q, "the hole, after the refused buffer");

	iov.iov_base = m;
	iov.iov_len = len;
	ret = syscall(__NR_io_uring_register, r.fd, IORING_REGISTER_BUFFERS, &iov, 1);
	if (ret) {
		ASSERT_TRUE(errno == EOPNOTSUPP || errno == EFAULT)
			TH_LOG("IORING_REGISTER_BUFFERS: %s", strerror(errno));
		TH_LOG("this kernel refuses fixed buffers in a device mapping: %s",
		       strerror(errno));
		ring_close(&r);
		check_dev(_metadata, self->fd, 0, len, 1, "the device, after the refusal");
		return;
	}

	data = malloc(len);
	ASSERT_NE(NULL, data);
	pattern_fill(data, 0, len, 2);
	memfd = memfd_create("gup_test", MFD_CLOEXEC);
	ASSERT_LE(0, memfd);
	ASSERT_EQ((ssize_t)len, full_pwrite(memfd, data, len, 0));
	free(data);

	/* Across the quantum boundary, from memfd offset 100. */
	ret = ring_read_fixed(&r, memfd, m + 100, len - 200, 100);
	EXPECT_EQ((int)(len - 200), ret)
		TH_LOG("READ_FIXED: %s", ret < 0 ? strerror(-ret) : "short");
	check_dev(_metadata, self->fd, 100, len - 200, 2, "read into a fixed buffer");
	check_dev(_metadata, self->fd, 0, 100, 1, "before the fixed read");

	/* Emptied while pinned: the pinned pages are no longer the device's. */
	ASSERT_EQ(0, ioctl(self->fd, SCULLMAP_IOC_RESET));
	ret = ring_read_fixed(&r, memfd, m, q, 0);
	EXPECT_EQ((int)q, ret) TH_LOG("READ_FIXED after RESET: %s",
				      ret < 0 ? strerror(-ret) : "short");
	EXPECT_EQ(0, pread(self->fd, &c, 1, 0)) TH_LOG("a pinned page reached the device");
	check_reads_sigbus(_metadata, m, len, "the mapping, emptied under the pin");
	write_device(_metadata, self->fd, 0, len, 3);
	check_buf(_metadata, m, 0, len, 3, "the mapping, written again");

	ring_close(&r);
	close(memfd);
	check_dev(_metadata, self->fd, 0, len, 3, "the device, after the ring closed");
	ASSERT_EQ(0, ioctl(self->fd, SCULLMAP_IOC_RESET));
	check_nothing_held(_metadata, usage_name(variant->path));
}

TEST_HARNESS_MAIN

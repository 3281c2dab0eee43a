// SPDX-License-Identifier: GPL-2.0
/*
 * read(), write(), lseek() and the ioctls of scullmap, on both back ends and
 * on quanta of one and of several pages.  Runs with the module loaded with
 * its defaults; each test empties its device and sets a small quantum set,
 * so that a few quanta already cross quantum sets.
 */
#include <errno.h>
#include <grp.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "kselftest_harness.h"
#include "scullmap_test.h"
#include "uapi/scullmap.h"

#define TEST_QSET	4U		/* quanta per quantum set in these tests */
#define DEFAULT_QSET	500U		/* the module's default */
#define MAX_SIZE	0x10000000000ULL	/* 1 TiB, as the contract says */
#define NOBODY		65534		/* an unprivileged uid and gid */

static void seek_to(struct __test_metadata *_metadata, int fd, uint64_t off)
{
	off_t ret = lseek(fd, off, SEEK_SET);

	ASSERT_EQ((off_t)off, ret) TH_LOG("lseek(%llu, SEEK_SET): %s",
					  (unsigned long long)off, strerror(errno));
}

/* The file position of @fd, by SEEK_CUR. */
static off_t pos_of(int fd)
{
	return lseek(fd, 0, SEEK_CUR);
}

/* Write @len bytes of generation @gen at @off in one write(), which must take all. */
static void write_at(struct __test_metadata *_metadata, int fd, uint64_t off,
		     size_t len, unsigned int gen)
{
	unsigned char *buf = malloc(len);
	ssize_t ret;
	int err;

	ASSERT_NE(NULL, buf);
	pattern_fill(buf, off, len, gen);
	seek_to(_metadata, fd, off);
	ret = write(fd, buf, len);
	err = errno;
	free(buf);
	ASSERT_EQ((ssize_t)len, ret)
		TH_LOG("write of %zu bytes at %llu: %s", len, (unsigned long long)off,
		       ret < 0 ? strerror(err) : "short count");
}

/*
 * Read @len bytes at @off in one read(), which must return them all, and
 * check that they are generation @gen (0: zeros, a hole).
 */
static void check_at(struct __test_metadata *_metadata, int fd, uint64_t off,
		     size_t len, unsigned int gen)
{
	unsigned char *buf = malloc(len);
	ssize_t ret, bad;
	int err;

	ASSERT_NE(NULL, buf);
	memset(buf, 0x5a, len);
	seek_to(_metadata, fd, off);
	ret = read(fd, buf, len);
	err = errno;
	if (ret != (ssize_t)len)
		free(buf);
	ASSERT_EQ((ssize_t)len, ret)
		TH_LOG("read of %zu bytes at %llu: %s", len, (unsigned long long)off,
		       ret < 0 ? strerror(err) : "short count");
	bad = pattern_mismatch(buf, off, len, gen);
	if (bad >= 0)
		TH_LOG("byte at %llu is 0x%02x, expected 0x%02x (%s)",
		       (unsigned long long)(off + bad), buf[bad], pattern_byte(off + bad, gen),
		       gen ? "data" : "a hole reads as zeros");
	free(buf);
	EXPECT_EQ(-1, bad);
}

/* Check the size by SEEK_END and GET_INFO, and the quanta and qsets counts. */
static void check_usage(struct __test_metadata *_metadata, int fd, uint64_t size,
			uint64_t quanta, uint64_t qsets)
{
	struct scullmap_info info;
	off_t pos = pos_of(fd);

	EXPECT_EQ((off_t)size, lseek(fd, 0, SEEK_END)) TH_LOG("size by SEEK_END");
	lseek(fd, pos, SEEK_SET);
	get_info(_metadata, fd, &info);
	EXPECT_EQ(size, info.size) TH_LOG("size by GET_INFO");
	EXPECT_EQ(quanta, info.quanta) TH_LOG("quanta allocated");
	EXPECT_EQ(qsets, info.qsets) TH_LOG("quantum sets allocated");
}

/* Expect lseek() to fail with @err and to leave the file position alone. */
static void seek_fails(struct __test_metadata *_metadata, int fd, off_t off,
		       int whence, int err)
{
	off_t pos = pos_of(fd);
	off_t ret;

	errno = 0;
	ret = lseek(fd, off, whence);
	EXPECT_EQ(-1, ret) TH_LOG("lseek(%lld, %d) should fail with %s",
				  (long long)off, whence, strerror(err));
	EXPECT_EQ(err, errno) TH_LOG("lseek(%lld, %d): %s, expected %s",
				     (long long)off, whence, strerror(errno),
				     strerror(err));
	EXPECT_EQ(pos, pos_of(fd)) TH_LOG("a failed lseek moved the file position");
}

/*
 * Expect a call that returned @ret to have failed with @err.  Set errno to
 * 0 before the call, so that a stale value cannot pass for the answer.
 */
static void expect_error(struct __test_metadata *_metadata, ssize_t ret, int err,
			 const char *what)
{
	int got = errno;

	EXPECT_EQ(-1, ret) TH_LOG("%s returned %zd, expected %s", what, ret,
				  strerror(err));
	EXPECT_EQ(err, got) TH_LOG("%s: %s, expected %s", what, strerror(got),
				   strerror(err));
}

FIXTURE(rw) {
	int fd;			/* the device, O_RDWR */
	size_t page;		/* the page size */
	size_t q;		/* bytes in a quantum */
	size_t qs;		/* bytes in a quantum set */
	struct scullmap_geometry found;	/* the geometry to restore */
};

DEVICE_VARIANTS(rw, "/dev/scullmap1", "/dev/scullmapv1");

FIXTURE_SETUP(rw)
{
	struct scullmap_info info;

	setup_device(_metadata, variant->path, variant->order, TEST_QSET,
		     &self->fd, &self->found);
	get_info(_metadata, self->fd, &info);
	self->page = sysconf(_SC_PAGESIZE);
	ASSERT_EQ(self->page, info.page_size);
	self->q = self->page << variant->order;
	self->qs = self->q * TEST_QSET;
}

FIXTURE_TEARDOWN(rw)
{
	restore_device(_metadata, self->fd, &self->found);
	close(self->fd);
}

/*
 * 3.5 quantum sets of data written in odd-sized chunks and read back in other
 * odd sizes: chunks cross quanta and quantum sets at every possible place.
 */
TEST_F(rw, round_trip)
{
	size_t wsizes[] = { 1, 4095, 777, self->q + 13, 3 * self->q - 5, 10007,
			    2 * self->q + 1 };
	size_t rsizes[] = { 3, 5000, 2 * self->q + 1, 1023, self->q - 1, 65537 };
	size_t total = 3 * self->qs + self->qs / 2;
	unsigned char *buf = malloc(total);
	size_t off, len, i;
	ssize_t ret, bad;

	ASSERT_NE(NULL, buf);
	pattern_fill(buf, 0, total, 1);
	for (off = 0, i = 0; off < total; off += len, i++) {
		len = wsizes[i % ARRAY_SIZE(wsizes)];
		if (len > total - off)
			len = total - off;
		ret = write(self->fd, buf + off, len);
		ASSERT_EQ((ssize_t)len, ret)
			TH_LOG("write of %zu bytes at %zu: %s", len, off,
			       ret < 0 ? strerror(errno) : "short count");
		ASSERT_EQ((off_t)(off + len), pos_of(self->fd))
			TH_LOG("write did not advance the file position");
	}
	check_usage(_metadata, self->fd, total, total / self->q, 4);

	memset(buf, 0, total);
	seek_to(_metadata, self->fd, 0);
	for (off = 0, i = 0; off < total; off += len, i++) {
		len = rsizes[i % ARRAY_SIZE(rsizes)];
		if (len > total - off)
			len = total - off;
		ret = read(self->fd, buf + off, len);
		ASSERT_EQ((ssize_t)len, ret)
			TH_LOG("read of %zu bytes at %zu: %s", len, off,
			       ret < 0 ? strerror(errno) : "short count");
		ASSERT_EQ((off_t)(off + len), pos_of(self->fd))
			TH_LOG("read did not advance the file position");
	}
	bad = pattern_mismatch(buf, 0, total, 1);
	if (bad >= 0)
		TH_LOG("byte at %zd (quantum %zu, offset %zu in it) is 0x%02x, expected 0x%02x",
		       bad, bad / self->q, bad % self->q, buf[bad], pattern_byte(bad, 1));
	EXPECT_EQ(-1, bad);
	free(buf);
}

/* One read() returns all of a multi-quantum device; the end cuts reads short. */
TEST_F(rw, read_whole_and_end)
{
	size_t total = 2 * self->qs + self->qs / 2 + 100;
	size_t len = total + self->page;
	unsigned char *buf = malloc(len);
	ssize_t ret;

	ASSERT_NE(NULL, buf);
	write_at(_metadata, self->fd, 0, total, 1);
	check_usage(_metadata, self->fd, total, total / self->q + 1, 3);

	memset(buf, 0, len);
	seek_to(_metadata, self->fd, 0);
	ret = read(self->fd, buf, len);
	ASSERT_EQ((ssize_t)total, ret)
		TH_LOG("one read() of %zu bytes from a %zu-byte device: %s", len, total,
		       ret < 0 ? strerror(errno) : "wrong count");
	EXPECT_EQ(-1, pattern_mismatch(buf, 0, total, 1));
	EXPECT_EQ((off_t)total, pos_of(self->fd));

	/* At the end, and past it. */
	EXPECT_EQ(0, read(self->fd, buf, len)) TH_LOG("read at the end");
	seek_to(_metadata, self->fd, total + 1000);
	EXPECT_EQ(0, read(self->fd, buf, len)) TH_LOG("read past the end");
	EXPECT_EQ((off_t)(total + 1000), pos_of(self->fd))
		TH_LOG("a read past the end moved the file position");

	/* Straddling the end: only the bytes up to it. */
	seek_to(_metadata, self->fd, total - 10);
	EXPECT_EQ(10, read(self->fd, buf, 100)) TH_LOG("read straddling the end");
	EXPECT_EQ(-1, pattern_mismatch(buf, total - 10, 10, 1));
	EXPECT_EQ((off_t)total, pos_of(self->fd));
	check_usage(_metadata, self->fd, total, total / self->q + 1, 3);
	free(buf);
}

/* write() and read() of zero bytes do nothing, not even extend the size. */
TEST_F(rw, zero_count)
{
	char c = 'x';

	EXPECT_EQ(0, write(self->fd, &c, 0));
	seek_to(_metadata, self->fd, 5 * self->q);
	EXPECT_EQ(0, write(self->fd, &c, 0)) TH_LOG("write of 0 bytes past the end");
	EXPECT_EQ((off_t)(5 * self->q), pos_of(self->fd));
	check_usage(_metadata, self->fd, 0, 0, 0);

	write_at(_metadata, self->fd, 0, 10, 1);
	seek_to(_metadata, self->fd, 3);
	EXPECT_EQ(0, read(self->fd, &c, 0));
	EXPECT_EQ(3, pos_of(self->fd));
	check_usage(_metadata, self->fd, 10, 1, 1);
}

/*
 * A few bytes several quantum sets in: the size reaches them, everything
 * before reads as zeros and only the one quantum (and its set) is allocated.
 */
TEST_F(rw, sparse)
{
	uint64_t off = 3 * self->qs + self->q / 2 + 5;	/* mid-quantum, qset 3 */
	uint64_t off2 = self->qs + 3;			/* quanta 4..6, qset 1 */

	write_at(_metadata, self->fd, off, 7, 1);
	check_usage(_metadata, self->fd, off + 7, 1, 1);
	/* Zeros all the way, including the start of the written quantum. */
	check_at(_metadata, self->fd, 0, off, 0);
	check_at(_metadata, self->fd, off, 7, 1);
	check_at(_metadata, self->fd, off - self->q / 2 - 5, self->q / 2 + 5, 0);

	/* A second island, earlier, spanning three quanta of another set. */
	write_at(_metadata, self->fd, off2, 2 * self->q, 2);
	check_usage(_metadata, self->fd, off + 7, 4, 2);
	check_at(_metadata, self->fd, 0, off2, 0);
	check_at(_metadata, self->fd, off2, 2 * self->q, 2);
	check_at(_metadata, self->fd, off2 + 2 * self->q, off - off2 - 2 * self->q, 0);
	check_at(_metadata, self->fd, off, 7, 1);
}

/*
 * A quantum a write allocates holds the written bytes and zeros, never what
 * its memory held before: the driver does not ask the allocator to zero it,
 * and fills it itself.  Old data is made likely to come back: the device
 * is filled with one generation and emptied, on one CPU, so that its freed
 * pages are the first the allocator hands out again; then a few bytes of
 * another generation go into the middle of each of as many new quanta,
 * leaving bytes to zero on both sides, and one byte after them all puts
 * them below the end.  (Kernels booted with init_on_alloc=1, Debian's
 * default, zero every page they hand out: there only the debug kernel,
 * which does not, can catch a quantum left unfilled.)
 */
TEST_F(rw, new_quantum_holds_no_stale_bytes)
{
	size_t nr = (32UL << 20) / self->q, i, len = 8;
	uint64_t off;
	cpu_set_t one;

	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	ASSERT_EQ(0, sched_setaffinity(0, sizeof(one), &one));

	write_at(_metadata, self->fd, 0, nr * self->q, 3);
	ASSERT_EQ(0, ioctl(self->fd, SCULLMAP_IOC_RESET));
	for (i = 0; i < nr; i++)
		write_at(_metadata, self->fd, i * self->q + self->q / 2, len, 4);
	write_at(_metadata, self->fd, nr * self->q, 1, 4);
	for (i = 0; i < nr && !_metadata->exit_code; i++) {
		off = i * self->q;
		check_at(_metadata, self->fd, off, self->q / 2, 0);
		check_at(_metadata, self->fd, off + self->q / 2, len, 4);
		check_at(_metadata, self->fd, off + self->q / 2 + len,
			 self->q / 2 - len, 0);
	}
}

/* O_TRUNC empties the device, if the open is for writing. */
TEST_F(rw, open_trunc)
{
	const int wflags[] = { O_WRONLY | O_TRUNC, O_RDWR | O_TRUNC };
	struct scullmap_info info;
	unsigned int i;
	int fd;

	write_at(_metadata, self->fd, 0, 2 * self->q + 1, 1);

	fd = open(variant->path, O_RDONLY | O_TRUNC);
	ASSERT_LE(0, fd) TH_LOG("O_RDONLY | O_TRUNC: %s", strerror(errno));
	check_usage(_metadata, fd, 2 * self->q + 1, 3, 1);
	check_at(_metadata, fd, 0, 2 * self->q + 1, 1);
	close(fd);

	for (i = 0; i < ARRAY_SIZE(wflags); i++) {
		fd = open(variant->path, wflags[i]);
		ASSERT_LE(0, fd) TH_LOG("open flags 0%o: %s", wflags[i], strerror(errno));
		close(fd);
		check_usage(_metadata, self->fd, 0, 0, 0);
		seek_to(_metadata, self->fd, 0);
		EXPECT_EQ(0, read(self->fd, &info, 1)) TH_LOG("read of an emptied device");
		get_info(_metadata, self->fd, &info);
		EXPECT_EQ(variant->order, info.order) TH_LOG("O_TRUNC changed the geometry");
		EXPECT_EQ(TEST_QSET, info.qset) TH_LOG("O_TRUNC changed the geometry");

		/* New data past the old: none of the old may show through. */
		write_at(_metadata, self->fd, self->q + 7, self->q, 2 + i);
		check_at(_metadata, self->fd, 0, self->q + 7, 0);
		check_at(_metadata, self->fd, self->q + 7, self->q, 2 + i);
	}
}

/*
 * A file carries the access it was opened with: read() on an O_WRONLY file
 * and write() on an O_RDONLY one fail with EBADF ("not open for that"),
 * from the VFS, before the driver is called.  Nothing moves or changes.
 */
TEST_F(rw, wrong_access_mode)
{
	char buf[10] = "xxxxxxxxx";
	int rfd, wfd;

	write_at(_metadata, self->fd, 0, 10, 1);
	rfd = open(variant->path, O_RDONLY);
	ASSERT_LE(0, rfd);
	wfd = open(variant->path, O_WRONLY);
	ASSERT_LE(0, wfd);
	errno = 0;
	expect_error(_metadata, read(wfd, buf, sizeof(buf)), EBADF, "read on an O_WRONLY file");
	errno = 0;
	expect_error(_metadata, pread(wfd, buf, sizeof(buf), 0), EBADF,
		     "pread on an O_WRONLY file");
	errno = 0;
	expect_error(_metadata, write(rfd, buf, sizeof(buf)), EBADF,
		     "write on an O_RDONLY file");
	errno = 0;
	expect_error(_metadata, pwrite(rfd, buf, sizeof(buf), 0), EBADF,
		     "pwrite on an O_RDONLY file");
	EXPECT_EQ(0, pos_of(rfd));
	EXPECT_EQ(0, pos_of(wfd));
	close(rfd);
	close(wfd);
	check_usage(_metadata, self->fd, 10, 1, 1);
	check_at(_metadata, self->fd, 0, 10, 1);
}

/*
 * O_DIRECT asks for transfers that bypass a page cache; the device has
 * none to bypass, so the open fails with EINVAL, as for any character
 * device.  The data stays, with O_TRUNC too: the driver refuses O_DIRECT
 * before it empties anything (the VFS's own check comes after open).
 */
TEST_F(rw, open_o_direct)
{
	const int flags[] = {
		O_RDONLY | O_DIRECT, O_RDWR | O_DIRECT,
		O_WRONLY | O_TRUNC | O_DIRECT, O_RDWR | O_TRUNC | O_DIRECT,
	};
	unsigned int i;
	int fd;

	write_at(_metadata, self->fd, 0, self->q + 1, 1);
	for (i = 0; i < ARRAY_SIZE(flags); i++) {
		errno = 0;
		fd = open(variant->path, flags[i]);
		if (fd >= 0)
			close(fd);
		expect_error(_metadata, fd, EINVAL, "open with O_DIRECT");
	}
	check_usage(_metadata, self->fd, self->q + 1, 2, 1);
	check_at(_metadata, self->fd, 0, self->q + 1, 1);
}

/* O_APPEND writes at the end, wherever the file position is. */
TEST_F(rw, append)
{
	unsigned char buf[100];
	uint64_t end = self->q - 3;
	int fd;

	write_at(_metadata, self->fd, 0, end, 1);
	fd = open(variant->path, O_WRONLY | O_APPEND);
	ASSERT_LE(0, fd) TH_LOG("O_APPEND: %s", strerror(errno));

	/* Across a quantum boundary. */
	EXPECT_EQ(0, lseek(fd, 0, SEEK_SET));
	pattern_fill(buf, end, 10, 1);
	EXPECT_EQ(10, write(fd, buf, 10)) TH_LOG("append: %s", strerror(errno));
	end += 10;
	EXPECT_EQ((off_t)end, pos_of(fd)) TH_LOG("file position after an append");
	check_usage(_metadata, self->fd, end, 2, 1);

	/* The end moved by another file: the append follows it. */
	write_at(_metadata, self->fd, end, 100, 1);
	end += 100;
	EXPECT_EQ(0, lseek(fd, 0, SEEK_SET));
	pattern_fill(buf, end, 5, 1);
	EXPECT_EQ(5, write(fd, buf, 5)) TH_LOG("append: %s", strerror(errno));
	end += 5;
	close(fd);
	check_usage(_metadata, self->fd, end, 2, 1);
	check_at(_metadata, self->fd, 0, end, 1);
}

/*
 * pwrite() on an O_APPEND file appends, whatever offset it is given: the
 * same as on a regular file on Linux (pwrite(2), BUGS), where O_APPEND
 * wins over the offset.  The file position does not move.
 */
TEST_F(rw, append_pwrite)
{
	unsigned char buf[10];
	uint64_t end = self->q + 5;
	int fd;

	write_at(_metadata, self->fd, 0, end, 1);
	fd = open(variant->path, O_WRONLY | O_APPEND);
	ASSERT_LE(0, fd) TH_LOG("O_APPEND: %s", strerror(errno));
	pattern_fill(buf, end, sizeof(buf), 2);
	EXPECT_EQ((ssize_t)sizeof(buf), pwrite(fd, buf, sizeof(buf), 3))
		TH_LOG("pwrite on an O_APPEND file: %s", strerror(errno));
	EXPECT_EQ(0, pos_of(fd)) TH_LOG("pwrite moved the file position");
	close(fd);
	check_usage(_metadata, self->fd, end + sizeof(buf), 2, 1);
	check_at(_metadata, self->fd, 0, end, 1);
	check_at(_metadata, self->fd, end, sizeof(buf), 2);
}

/* SEEK_SET, SEEK_CUR and SEEK_END, and the results they refuse. */
TEST_F(rw, lseek_whence)
{
	uint64_t size = 3 * self->q + 10;
	unsigned char buf[100];

	write_at(_metadata, self->fd, 0, size, 1);
	EXPECT_EQ(100, lseek(self->fd, 100, SEEK_SET));
	EXPECT_EQ(150, lseek(self->fd, 50, SEEK_CUR));
	EXPECT_EQ(130, lseek(self->fd, -20, SEEK_CUR));
	/* The read starts where the seeks said. */
	ASSERT_EQ(10, read(self->fd, buf, 10));
	EXPECT_EQ(-1, pattern_mismatch(buf, 130, 10, 1)) TH_LOG("read after seeks to 130");
	EXPECT_EQ(140, pos_of(self->fd));
	EXPECT_EQ((off_t)size, lseek(self->fd, 0, SEEK_END));
	EXPECT_EQ((off_t)(size - 5), lseek(self->fd, -5, SEEK_END));
	EXPECT_EQ(5, read(self->fd, buf, 100));
	EXPECT_EQ(-1, pattern_mismatch(buf, size - 5, 5, 1)) TH_LOG("read after SEEK_END - 5");

	/* Negative results. */
	seek_fails(_metadata, self->fd, -1, SEEK_SET, EINVAL);
	seek_fails(_metadata, self->fd, -(off_t)size - 1, SEEK_CUR, EINVAL);
	seek_fails(_metadata, self->fd, -(off_t)size - 1, SEEK_END, EINVAL);

	/* Up to max_size, not one byte beyond. */
	EXPECT_EQ((off_t)MAX_SIZE, lseek(self->fd, MAX_SIZE, SEEK_SET));
	seek_fails(_metadata, self->fd, 1, SEEK_CUR, EINVAL);
	seek_fails(_metadata, self->fd, MAX_SIZE + 1, SEEK_SET, EINVAL);
	seek_fails(_metadata, self->fd, MAX_SIZE - size + 1, SEEK_END, EINVAL);
	EXPECT_EQ((off_t)MAX_SIZE, lseek(self->fd, MAX_SIZE - size, SEEK_END));
	EXPECT_EQ(0, lseek(self->fd, -(off_t)MAX_SIZE, SEEK_CUR));

	/* Seeking allocates nothing and changes nothing. */
	check_usage(_metadata, self->fd, size, 4, 1);
	check_at(_metadata, self->fd, 0, size, 1);
}

/*
 * Offsets at the ends of the range of off_t, and whence values that do not
 * exist: EINVAL (ENXIO for SEEK_DATA and SEEK_HOLE, which report "no such
 * offset in the file" that way), and the position stays where it was.  A
 * sum that would overflow must be refused, not wrapped.
 */
TEST_F(rw, lseek_overflow)
{
	const off_t max = INT64_MAX, min = INT64_MIN;

	write_at(_metadata, self->fd, 0, 10, 1);
	seek_to(_metadata, self->fd, 5);
	seek_fails(_metadata, self->fd, 0, SEEK_HOLE + 1, EINVAL);
	seek_fails(_metadata, self->fd, 0, -1, EINVAL);
	seek_fails(_metadata, self->fd, max, SEEK_SET, EINVAL);
	seek_fails(_metadata, self->fd, min, SEEK_SET, EINVAL);
	seek_fails(_metadata, self->fd, max, SEEK_CUR, EINVAL);
	seek_fails(_metadata, self->fd, min, SEEK_CUR, EINVAL);
	seek_fails(_metadata, self->fd, max, SEEK_END, EINVAL);
	seek_fails(_metadata, self->fd, min, SEEK_END, EINVAL);
	seek_fails(_metadata, self->fd, max, SEEK_DATA, ENXIO);
	seek_fails(_metadata, self->fd, min, SEEK_DATA, ENXIO);
	seek_fails(_metadata, self->fd, max, SEEK_HOLE, ENXIO);
	seek_fails(_metadata, self->fd, min, SEEK_HOLE, ENXIO);

	/* From the largest position: a sum past the largest off_t. */
	seek_to(_metadata, self->fd, MAX_SIZE);
	seek_fails(_metadata, self->fd, max, SEEK_CUR, EINVAL);
	check_usage(_metadata, self->fd, 10, 1, 1);
}

/* Past the end a read returns 0; a write there leaves a hole behind it. */
TEST_F(rw, seek_past_end)
{
	uint64_t size = self->q + 10;
	uint64_t off = size + 3 * self->q + 7;	/* in quantum 4, qset 1 */
	char c;

	write_at(_metadata, self->fd, 0, size, 1);
	seek_to(_metadata, self->fd, off);
	EXPECT_EQ(0, read(self->fd, &c, 1)) TH_LOG("read past the end");
	check_usage(_metadata, self->fd, size, 2, 1);

	write_at(_metadata, self->fd, off, 5, 2);
	check_usage(_metadata, self->fd, off + 5, 3, 2);
	check_at(_metadata, self->fd, 0, size, 1);
	check_at(_metadata, self->fd, size, off - size, 0);
	check_at(_metadata, self->fd, off, 5, 2);
}

/*
 * SEEK_DATA and SEEK_HOLE at quantum granularity.  The layout, in quanta of
 * 4 per set: 0 hole, 1 data, 2..8 hole (all of set 1), 9..11 data; the size
 * ends inside quantum 11, and the end is a hole.
 */
TEST_F(rw, seek_data_hole)
{
	const off_t q = self->q, size = 11 * q + 3;
	const struct {
		int whence;
		off_t from;
		off_t want;	/* -1: ENXIO */
	} seeks[] = {
		{ SEEK_DATA, 0, q },
		{ SEEK_DATA, q - 1, q },
		{ SEEK_DATA, q, q },
		{ SEEK_DATA, q + 5, q + 5 },	/* data by quantum, not by byte */
		{ SEEK_DATA, 2 * q - 1, 2 * q - 1 },
		{ SEEK_DATA, 2 * q, 9 * q },
		{ SEEK_DATA, 5 * q + 1, 9 * q },	/* a whole set missing */
		{ SEEK_DATA, 9 * q - 1, 9 * q },
		{ SEEK_DATA, 9 * q + 1, 9 * q + 1 },
		{ SEEK_DATA, 10 * q, 10 * q },
		{ SEEK_DATA, size - 1, size - 1 },
		{ SEEK_DATA, size, -1 },
		{ SEEK_DATA, 12 * q, -1 },
		{ SEEK_DATA, 100 * q, -1 },
		{ SEEK_DATA, -1, -1 },
		{ SEEK_HOLE, 0, 0 },
		{ SEEK_HOLE, q - 1, q - 1 },
		{ SEEK_HOLE, q, 2 * q },
		{ SEEK_HOLE, q + 7, 2 * q },
		{ SEEK_HOLE, 2 * q, 2 * q },
		{ SEEK_HOLE, 5 * q, 5 * q },
		{ SEEK_HOLE, 9 * q - 1, 9 * q - 1 },
		{ SEEK_HOLE, 9 * q, size },	/* the end is a hole */
		{ SEEK_HOLE, size - 1, size },
		{ SEEK_HOLE, size, -1 },
		{ SEEK_HOLE, 100 * q, -1 },
		{ SEEK_HOLE, -1, -1 },
	};
	const char *name;
	unsigned int i;
	off_t ret;

	/* An empty device has neither. */
	seek_fails(_metadata, self->fd, 0, SEEK_DATA, ENXIO);
	seek_fails(_metadata, self->fd, 0, SEEK_HOLE, ENXIO);

	write_at(_metadata, self->fd, q + 100, 50, 1);
	write_at(_metadata, self->fd, 9 * q + 3, 2 * q, 2);
	check_usage(_metadata, self->fd, size, 4, 2);

	for (i = 0; i < ARRAY_SIZE(seeks); i++) {
		name = seeks[i].whence == SEEK_DATA ? "SEEK_DATA" : "SEEK_HOLE";
		/* Start from somewhere else, so a failure visibly stays there. */
		seek_to(_metadata, self->fd, 3);
		errno = 0;
		ret = lseek(self->fd, seeks[i].from, seeks[i].whence);
		if (seeks[i].want < 0) {
			EXPECT_EQ(-1, ret)
				TH_LOG("%s from %lld (quantum size %lld): expected ENXIO",
				       name, (long long)seeks[i].from, (long long)q);
			EXPECT_EQ(ENXIO, errno)
				TH_LOG("%s from %lld: %s, expected ENXIO", name,
				       (long long)seeks[i].from, strerror(errno));
			EXPECT_EQ(3, pos_of(self->fd))
				TH_LOG("a failed %s moved the file position", name);
		} else {
			EXPECT_EQ(seeks[i].want, ret)
				TH_LOG("%s from %lld (quantum size %lld): %s", name,
				       (long long)seeks[i].from, (long long)q,
				       ret < 0 ? strerror(errno) : "wrong offset");
			EXPECT_EQ(seeks[i].want, pos_of(self->fd))
				TH_LOG("%s did not set the file position", name);
		}
	}
}

/*
 * One byte just below max_size: SEEK_DATA finds it across 2^40 bytes of
 * holes, and only one quantum is allocated.
 */
TEST_F(rw, seek_data_far)
{
	const off_t q = self->q, far = MAX_SIZE - q;

	write_at(_metadata, self->fd, MAX_SIZE - 1, 1, 1);
	check_usage(_metadata, self->fd, MAX_SIZE, 1, 1);
	EXPECT_EQ(far, lseek(self->fd, 0, SEEK_DATA));
	EXPECT_EQ(far, lseek(self->fd, q + 1, SEEK_DATA));
	EXPECT_EQ(0, lseek(self->fd, 0, SEEK_HOLE));
	EXPECT_EQ(far - 1, lseek(self->fd, far - 1, SEEK_HOLE));
	EXPECT_EQ((off_t)MAX_SIZE, lseek(self->fd, far, SEEK_HOLE));
	check_at(_metadata, self->fd, far, q - 1, 0);
	check_at(_metadata, self->fd, MAX_SIZE - 1, 1, 1);
}

/* Writes stop at max_size: short across it, EFBIG from it. */
TEST_F(rw, max_size)
{
	unsigned char buf[100];
	struct scullmap_info info;
	int fd;

	get_info(_metadata, self->fd, &info);
	ASSERT_EQ(MAX_SIZE, info.max_size);

	pattern_fill(buf, MAX_SIZE - 10, sizeof(buf), 1);
	seek_to(_metadata, self->fd, MAX_SIZE - 10);
	EXPECT_EQ(10, write(self->fd, buf, sizeof(buf)))
		TH_LOG("a write across max_size must stop there: %s", strerror(errno));
	EXPECT_EQ((off_t)MAX_SIZE, pos_of(self->fd));
	/* Only the last quantum exists: no tree of empty sets before it. */
	check_usage(_metadata, self->fd, MAX_SIZE, 1, 1);

	errno = 0;
	EXPECT_EQ(-1, write(self->fd, buf, 1)) TH_LOG("a write at max_size");
	EXPECT_EQ(EFBIG, errno) TH_LOG("a write at max_size: %s", strerror(errno));
	EXPECT_EQ((off_t)MAX_SIZE, pos_of(self->fd));

	/* An append when the device is full is a write at max_size. */
	fd = open(variant->path, O_WRONLY | O_APPEND);
	ASSERT_LE(0, fd);
	errno = 0;
	EXPECT_EQ(-1, write(fd, buf, 1)) TH_LOG("an append at max_size");
	EXPECT_EQ(EFBIG, errno) TH_LOG("an append at max_size: %s", strerror(errno));
	close(fd);

	/* The last byte can still be rewritten. */
	write_at(_metadata, self->fd, MAX_SIZE - 1, 1, 2);
	check_usage(_metadata, self->fd, MAX_SIZE, 1, 1);
	seek_to(_metadata, self->fd, MAX_SIZE);
	EXPECT_EQ(0, read(self->fd, buf, 1)) TH_LOG("a read at max_size");
	check_at(_metadata, self->fd, MAX_SIZE - 10, 9, 1);
	check_at(_metadata, self->fd, MAX_SIZE - 1, 1, 2);
}

/*
 * pread() and pwrite() take the offset as an argument, so any value can
 * reach the driver that lseek() would have refused.  A negative one, or
 * one whose end passes the largest off_t, is refused by the VFS with
 * EINVAL before the driver sees it.  Past the end, a read returns 0 (end
 * of file) however far; a write at or beyond 1 TiB fails with EFBIG, as
 * one past a file's size limit does, and one across it is cut short.  A
 * zero-byte write is not a write at all: 0, wherever.  None of them moves
 * the file position.
 */
TEST_F(rw, pread_pwrite_offsets)
{
	const off_t far = 1LL << 62, last = INT64_MAX;
	const size_t size = self->q + 10;
	unsigned char buf[100];

	write_at(_metadata, self->fd, 0, size, 1);
	seek_to(_metadata, self->fd, 7);

	EXPECT_EQ(0, pread(self->fd, buf, sizeof(buf), size)) TH_LOG("pread at the end");
	EXPECT_EQ(0, pread(self->fd, buf, sizeof(buf), MAX_SIZE)) TH_LOG("pread at 1 TiB");
	EXPECT_EQ(0, pread(self->fd, buf, sizeof(buf), far)) TH_LOG("pread at 2^62");
	EXPECT_EQ(0, pread(self->fd, buf, 0, last)) TH_LOG("pread of 0 bytes at the largest off_t");
	errno = 0;
	expect_error(_metadata, pread(self->fd, buf, 1, -1), EINVAL, "pread at -1");
	errno = 0;
	expect_error(_metadata, pread(self->fd, buf, 1, INT64_MIN), EINVAL,
		     "pread at the smallest off_t");
	errno = 0;
	expect_error(_metadata, pread(self->fd, buf, sizeof(buf), last - 10), EINVAL,
		     "pread whose end passes the largest off_t");

	pattern_fill(buf, MAX_SIZE - 10, sizeof(buf), 2);
	errno = 0;
	expect_error(_metadata, pwrite(self->fd, buf, 1, MAX_SIZE), EFBIG, "pwrite at 1 TiB");
	errno = 0;
	expect_error(_metadata, pwrite(self->fd, buf, 1, far), EFBIG, "pwrite at 2^62");
	errno = 0;
	expect_error(_metadata, pwrite(self->fd, buf, 1, -1), EINVAL, "pwrite at -1");
	errno = 0;
	expect_error(_metadata, pwrite(self->fd, buf, sizeof(buf), last - 10), EINVAL,
		     "pwrite whose end passes the largest off_t");
	EXPECT_EQ(0, pwrite(self->fd, buf, 0, far)) TH_LOG("pwrite of 0 bytes at 2^62");
	EXPECT_EQ(0, pwrite(self->fd, buf, 0, last))
		TH_LOG("pwrite of 0 bytes at the largest off_t");
	check_usage(_metadata, self->fd, size, 2, 1);

	EXPECT_EQ(10, pwrite(self->fd, buf, sizeof(buf), MAX_SIZE - 10))
		TH_LOG("pwrite across 1 TiB: %s", strerror(errno));
	EXPECT_EQ(7, pos_of(self->fd)) TH_LOG("pread or pwrite moved the file position");
	check_usage(_metadata, self->fd, MAX_SIZE, 3, 2);
	check_at(_metadata, self->fd, 0, size, 1);
	check_at(_metadata, self->fd, MAX_SIZE - 10, 10, 2);
}

/*
 * A count is only an upper bound: read() copies what the device holds,
 * however much more was asked for.  A count that runs past the end of the
 * address space cannot describe a buffer at all: the VFS refuses it with
 * EFAULT before the driver is called.
 */
TEST_F(rw, huge_count)
{
	static unsigned char buf[4096];	/* low in a static program: room above */
	/* 1 TiB, or 1 GiB in a 32-bit build (rw_test32): within the address space */
	const size_t huge = (size_t)1 << (sizeof(size_t) > 4 ? 40 : 30);
	const size_t too_big = SIZE_MAX;

	/*
	 * The calls go through syscall(): the C library declares read() and
	 * write() with the buffer's size, and the compiler rightly warns
	 * about these counts.
	 */
	write_at(_metadata, self->fd, 0, 100, 1);
	seek_to(_metadata, self->fd, 0);
	EXPECT_EQ(100, syscall(SYS_read, self->fd, buf, huge))
		TH_LOG("read of 1 TiB from a 100-byte device: %s", strerror(errno));
	EXPECT_EQ(-1, pattern_mismatch(buf, 0, 100, 1));
	EXPECT_EQ(100, pos_of(self->fd));

	/*
	 * A 32-bit count (rw_test32) never runs past a 64-bit kernel's user
	 * address space: the copy stops at the first unmapped byte instead.
	 */
	if (sizeof(size_t) > 4) {
		seek_to(_metadata, self->fd, 0);
		errno = 0;
		expect_error(_metadata, syscall(SYS_read, self->fd, buf, too_big),
			     EFAULT, "read of SIZE_MAX bytes");
		errno = 0;
		expect_error(_metadata, syscall(SYS_write, self->fd, buf, too_big),
			     EFAULT, "write of SIZE_MAX bytes");
		EXPECT_EQ(0, pos_of(self->fd));
	}
	check_usage(_metadata, self->fd, 100, 1, 1);
	check_at(_metadata, self->fd, 0, 100, 1);
}

/* Every field of GET_INFO, as the device is used. */
TEST_F(rw, info_fields)
{
	struct scullmap_info info;
	int fd;

	get_info(_metadata, self->fd, &info);
	EXPECT_EQ(0U, info.size);
	EXPECT_EQ(MAX_SIZE, info.max_size);
	EXPECT_EQ(0U, info.quanta);
	EXPECT_EQ(0U, info.qsets);
	EXPECT_EQ(variant->backend, info.backend);
	EXPECT_EQ(variant->order, info.order);
	EXPECT_EQ(TEST_QSET, info.qset);
	EXPECT_EQ(0U, info.mappings) TH_LOG("mappings of a device nobody maps");
	EXPECT_EQ(self->page, info.page_size);
	EXPECT_EQ(0U, info.reserved) TH_LOG("reserved is not cleared");

	write_at(_metadata, self->fd, 0, self->q + 1, 1);
	check_usage(_metadata, self->fd, self->q + 1, 2, 1);
	write_at(_metadata, self->fd, self->qs, 1, 1);
	check_usage(_metadata, self->fd, self->qs + 1, 3, 2);

	/* Any open file may ask. */
	fd = open(variant->path, O_RDONLY);
	ASSERT_LE(0, fd);
	get_info(_metadata, fd, &info);
	close(fd);
	EXPECT_EQ(self->qs + 1, info.size);
	EXPECT_EQ(3U, info.quanta);
	EXPECT_EQ(2U, info.qsets);
	EXPECT_EQ(variant->backend, info.backend);
	EXPECT_EQ(0U, info.reserved);
}

/* SET_GEOMETRY refuses values out of range and changes nothing. */
TEST_F(rw, geometry_einval)
{
	const struct scullmap_geometry bad[] = {
		{ .order = SCULLMAP_MAX_ORDER + 1, .qset = TEST_QSET },
		{ .order = 0xffffffff, .qset = TEST_QSET },
		{ .order = 0, .qset = 0 },
		{ .order = 0, .qset = SCULLMAP_MAX_QSET + 1 },
		{ .order = 0, .qset = 0xffffffff },
	};
	struct scullmap_geometry geo;
	struct scullmap_info info;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		geo = bad[i];
		errno = 0;
		EXPECT_EQ(-1, ioctl(self->fd, SCULLMAP_IOC_SET_GEOMETRY, &geo))
			TH_LOG("SET_GEOMETRY {%u, %u} was taken", bad[i].order, bad[i].qset);
		EXPECT_EQ(EINVAL, errno)
			TH_LOG("SET_GEOMETRY {%u, %u}: %s, expected EINVAL",
			       bad[i].order, bad[i].qset, strerror(errno));
	}
	get_info(_metadata, self->fd, &info);
	EXPECT_EQ(variant->order, info.order) TH_LOG("a refused geometry changed it");
	EXPECT_EQ(TEST_QSET, info.qset) TH_LOG("a refused geometry changed it");
}

/* SET_GEOMETRY on a device with data: EBUSY, until it is emptied. */
TEST_F(rw, geometry_ebusy)
{
	struct scullmap_geometry geo = { .order = variant->order ^ 1, .qset = 8 };
	struct scullmap_info info;

	write_at(_metadata, self->fd, self->q - 1, 2, 1);
	errno = 0;
	EXPECT_EQ(-1, ioctl(self->fd, SCULLMAP_IOC_SET_GEOMETRY, &geo))
		TH_LOG("SET_GEOMETRY on a device with data was taken");
	EXPECT_EQ(EBUSY, errno) TH_LOG("SET_GEOMETRY on a device with data: %s",
				       strerror(errno));
	get_info(_metadata, self->fd, &info);
	EXPECT_EQ(variant->order, info.order);
	EXPECT_EQ(TEST_QSET, info.qset);
	check_usage(_metadata, self->fd, self->q + 1, 2, 1);
	check_at(_metadata, self->fd, self->q - 1, 2, 1);

	ASSERT_EQ(0, ioctl(self->fd, SCULLMAP_IOC_RESET));
	EXPECT_EQ(0, ioctl(self->fd, SCULLMAP_IOC_SET_GEOMETRY, &geo))
		TH_LOG("SET_GEOMETRY after RESET: %s", strerror(errno));
}

/* SET_GEOMETRY on an empty device: the new quantum size is the one used. */
TEST_F(rw, geometry_change)
{
	struct scullmap_geometry geo = { .order = variant->order ^ 1, .qset = 7 };
	struct scullmap_info info;
	size_t q2 = self->page << geo.order;

	ASSERT_EQ(0, ioctl(self->fd, SCULLMAP_IOC_SET_GEOMETRY, &geo))
		TH_LOG("SET_GEOMETRY {%u, %u}: %s", geo.order, geo.qset, strerror(errno));
	get_info(_metadata, self->fd, &info);
	EXPECT_EQ(geo.order, info.order);
	EXPECT_EQ(geo.qset, info.qset);
	/* q2 + 1 bytes are two new quanta, whatever the old quantum was. */
	write_at(_metadata, self->fd, 0, q2 + 1, 1);
	check_usage(_metadata, self->fd, q2 + 1, 2, 1);
	check_at(_metadata, self->fd, 0, q2 + 1, 1);

	/* The largest geometry, and a quantum of it really allocated. */
	ASSERT_EQ(0, ioctl(self->fd, SCULLMAP_IOC_RESET));
	geo.order = SCULLMAP_MAX_ORDER;
	geo.qset = SCULLMAP_MAX_QSET;
	q2 = self->page << geo.order;
	ASSERT_EQ(0, ioctl(self->fd, SCULLMAP_IOC_SET_GEOMETRY, &geo))
		TH_LOG("SET_GEOMETRY {%u, %u}: %s", geo.order, geo.qset, strerror(errno));
	get_info(_metadata, self->fd, &info);
	EXPECT_EQ(geo.order, info.order);
	EXPECT_EQ(geo.qset, info.qset);
	write_at(_metadata, self->fd, q2 + 5, 1, 1);
	check_usage(_metadata, self->fd, q2 + 6, 1, 1);
	EXPECT_EQ((off_t)q2, lseek(self->fd, 0, SEEK_DATA));
	check_at(_metadata, self->fd, 0, q2 + 5, 0);

	/* The smallest. */
	ASSERT_EQ(0, ioctl(self->fd, SCULLMAP_IOC_RESET));
	geo.order = 0;
	geo.qset = 1;
	ASSERT_EQ(0, ioctl(self->fd, SCULLMAP_IOC_SET_GEOMETRY, &geo))
		TH_LOG("SET_GEOMETRY {%u, %u}: %s", geo.order, geo.qset, strerror(errno));
	write_at(_metadata, self->fd, 0, 3 * self->page, 1);
	check_usage(_metadata, self->fd, 3 * self->page, 3, 3);
	check_at(_metadata, self->fd, 0, 3 * self->page, 1);
}

/* What the unprivileged child below checks, by its exit status. */
static const char *const eperm_steps[] = {
	[1] = "dropping to uid/gid 65534 failed",
	[2] = "the capability survived setuid (still euid 0)",
	[3] = "GET_INFO failed for an unprivileged user",
	[4] = "SET_GEOMETRY with valid values on an empty device: not EPERM",
	[5] = "SET_GEOMETRY with values out of range: not EPERM (EPERM comes first)",
	[6] = "SET_GEOMETRY with a bad pointer: not EPERM (EPERM comes first)",
	[7] = "a write through the inherited file failed",
	[8] = "SET_GEOMETRY on a device with data: not EPERM (EPERM comes first)",
};

/* In the child: drop to nobody, then try SET_GEOMETRY on the inherited @fd. */
static int eperm_child(int fd, unsigned int order)
{
	struct scullmap_geometry geo = { .order = order ^ 1, .qset = 8 };
	struct scullmap_geometry bad = { .order = SCULLMAP_MAX_ORDER + 1, .qset = 0 };
	struct scullmap_info info;

	if (setgroups(0, NULL) || setgid(NOBODY) || setuid(NOBODY))
		return 1;
	if (geteuid() == 0)
		return 2;
	if (ioctl(fd, SCULLMAP_IOC_GET_INFO, &info))
		return 3;
	if (ioctl(fd, SCULLMAP_IOC_SET_GEOMETRY, &geo) != -1 || errno != EPERM)
		return 4;
	if (ioctl(fd, SCULLMAP_IOC_SET_GEOMETRY, &bad) != -1 || errno != EPERM)
		return 5;
	if (ioctl(fd, SCULLMAP_IOC_SET_GEOMETRY, (void *)1) != -1 || errno != EPERM)
		return 6;
	if (write(fd, "x", 1) != 1)
		return 7;
	if (ioctl(fd, SCULLMAP_IOC_SET_GEOMETRY, &geo) != -1 || errno != EPERM)
		return 8;
	return 0;
}

/* SET_GEOMETRY needs CAP_SYS_ADMIN, and checks for it before anything else. */
TEST_F(rw, geometry_eperm)
{
	struct scullmap_info info;
	int status, code;
	pid_t pid;

	pid = fork();
	ASSERT_LE(0, pid) TH_LOG("fork: %s", strerror(errno));
	if (pid == 0)
		_exit(eperm_child(self->fd, variant->order));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("the unprivileged child died");
	code = WEXITSTATUS(status);
	EXPECT_EQ(0, code)
		TH_LOG("unprivileged child: %s", code > 0 && code < (int)ARRAY_SIZE(eperm_steps) ?
		       eperm_steps[code] : "unexpected exit status");

	/* Nothing the child asked for happened; its one byte did. */
	get_info(_metadata, self->fd, &info);
	EXPECT_EQ(variant->order, info.order);
	EXPECT_EQ(TEST_QSET, info.qset);
	if (code == 0)
		EXPECT_EQ(1U, info.size);
}

/* What the unprivileged child below checks, by its exit status. */
static const char *const unprivileged_steps[] = {
	[1] = "dropping to uid/gid 65534 failed",
	[2] = "the capability survived setuid (still euid 0)",
	[3] = "opening the root-only node did not fail with EACCES",
	[4] = "opening the node failed although its mode allows it",
	[5] = "a read through the inherited file failed",
	[6] = "a write through the inherited file failed",
	[7] = "mmap through the inherited file failed",
	[8] = "the mapping does not show the data",
	[9] = "RESET through the inherited file (open for writing) failed",
	[10] = "the mapping does not raise SIGBUS after RESET",
};

/*
 * In the child: drop to nobody, then use the node and the inherited @fd.
 * The node's mode decides who may open it (the VFS checks it before the
 * driver runs); an open file carries its access mode, as a file does, so
 * reads, writes, maps and RESET through it need no privilege.
 */
static int unprivileged_child(int fd, const char *path)
{
	struct stat st;
	char c = 0;
	char *map;
	int nfd;

	if (stat(path, &st) || setgroups(0, NULL) || setgid(NOBODY) || setuid(NOBODY))
		return 1;
	if (geteuid() == 0)
		return 2;
	nfd = open(path, O_RDONLY);
	if (nfd >= 0)
		close(nfd);
	/* 0004: others may read. */
	if (!(st.st_mode & 0004) && (nfd >= 0 || errno != EACCES))
		return 3;
	if ((st.st_mode & 0004) && nfd < 0)
		return 4;
	if (pread(fd, &c, 1, 0) != 1 || c != 'r')
		return 5;
	if (pwrite(fd, "u", 1, 1) != 1)
		return 6;
	map = mmap(NULL, 1, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return 7;
	if (map[0] != 'r' || map[1] != 'u')
		return 8;
	if (ioctl(fd, SCULLMAP_IOC_RESET))
		return 9;
	if (read_byte(map, &c) != SIGBUS)
		return 10;
	return 0;
}

/* A user without privilege: what the node's mode and an open file allow. */
TEST_F(rw, unprivileged)
{
	int status, code;
	pid_t pid;

	ASSERT_EQ(1, write(self->fd, "r", 1));
	pid = fork();
	ASSERT_LE(0, pid) TH_LOG("fork: %s", strerror(errno));
	if (pid == 0)
		_exit(unprivileged_child(self->fd, variant->path));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("the unprivileged child died");
	code = WEXITSTATUS(status);
	EXPECT_EQ(0, code)
		TH_LOG("unprivileged child: %s",
		       code > 0 && code < (int)ARRAY_SIZE(unprivileged_steps) ?
		       unprivileged_steps[code] : "unexpected exit status");
	check_usage(_metadata, self->fd, 0, 0, 0);
}

/* RESET empties the device, and nothing of the old data comes back. */
TEST_F(rw, reset)
{
	struct scullmap_info info;
	char c;
	int fd;

	write_at(_metadata, self->fd, 0, 2 * self->qs + 5, 1);
	ASSERT_EQ(0, ioctl(self->fd, SCULLMAP_IOC_RESET))
		TH_LOG("RESET: %s", strerror(errno));
	check_usage(_metadata, self->fd, 0, 0, 0);
	seek_to(_metadata, self->fd, 0);
	EXPECT_EQ(0, read(self->fd, &c, 1)) TH_LOG("read after RESET");
	get_info(_metadata, self->fd, &info);
	EXPECT_EQ(variant->order, info.order) TH_LOG("RESET changed the geometry");
	EXPECT_EQ(TEST_QSET, info.qset) TH_LOG("RESET changed the geometry");

	/* Write past where the old data was: zeros before it, not old bytes. */
	write_at(_metadata, self->fd, self->qs + 9, 3, 2);
	check_at(_metadata, self->fd, 0, self->qs + 9, 0);
	check_at(_metadata, self->fd, self->qs + 9, 3, 2);
	check_usage(_metadata, self->fd, self->qs + 12, 1, 1);

	/*
	 * Write access is what it needs, not read access.  It takes no
	 * argument (_IO), so a garbage one is ignored.
	 */
	fd = open(variant->path, O_WRONLY);
	ASSERT_LE(0, fd);
	EXPECT_EQ(0, ioctl(fd, SCULLMAP_IOC_RESET, (void *)-1L))
		TH_LOG("RESET on an O_WRONLY file: %s", strerror(errno));
	close(fd);
	check_usage(_metadata, self->fd, 0, 0, 0);
}

/* RESET through a file not open for writing: EBADF, and the data stays. */
TEST_F(rw, reset_rdonly)
{
	int fd;

	write_at(_metadata, self->fd, 0, self->q + 1, 1);
	fd = open(variant->path, O_RDONLY);
	ASSERT_LE(0, fd);
	errno = 0;
	EXPECT_EQ(-1, ioctl(fd, SCULLMAP_IOC_RESET)) TH_LOG("RESET on an O_RDONLY file");
	EXPECT_EQ(EBADF, errno) TH_LOG("RESET on an O_RDONLY file: %s", strerror(errno));
	close(fd);
	check_usage(_metadata, self->fd, self->q + 1, 2, 1);
	check_at(_metadata, self->fd, 0, self->q + 1, 1);
}

/* Commands the driver does not know: ENOTTY. */
TEST_F(rw, unknown_ioctl)
{
	const struct {
		unsigned long cmd;
		const char *what;
	} cmds[] = {
		{ _IO(SCULLMAP_IOC_MAGIC, 0x7f), "an unused number" },
		{ _IO(SCULLMAP_IOC_MAGIC, 0x00), "number 0" },
		{ _IO('x', 0x01), "another magic" },
		{ _IOR(SCULLMAP_IOC_MAGIC, 0x01, __u32), "GET_INFO's number, wrong size" },
		{ _IOW(SCULLMAP_IOC_MAGIC, 0x01, struct scullmap_info),
		  "GET_INFO's number and size, written" },
		{ _IOWR(SCULLMAP_IOC_MAGIC, 0x01, struct scullmap_info),
		  "GET_INFO's number and size, read and written" },
		{ _IO(SCULLMAP_IOC_MAGIC, 0x01), "GET_INFO's number, no argument" },
		{ _IOR(SCULLMAP_IOC_MAGIC, 0x02, struct scullmap_geometry),
		  "SET_GEOMETRY's number and size, read" },
		{ _IOW(SCULLMAP_IOC_MAGIC, 0x02, __u32), "SET_GEOMETRY's number, wrong size" },
		{ _IOW(SCULLMAP_IOC_MAGIC, 0x03, int), "RESET's number, with an argument" },
		{ _IOR(SCULLMAP_IOC_MAGIC, 0x03, int), "RESET's number, read" },
		{ 0xffffffff, "every bit set" },
		{ FIONREAD, "FIONREAD, which the VFS answers only for regular files" },
	};
	struct scullmap_info info;
	unsigned int i;

	write_at(_metadata, self->fd, 0, 10, 1);
	for (i = 0; i < ARRAY_SIZE(cmds); i++) {
		memset(&info, 0, sizeof(info));
		errno = 0;
		EXPECT_EQ(-1, ioctl(self->fd, cmds[i].cmd, &info))
			TH_LOG("ioctl 0x%lx (%s) succeeded", cmds[i].cmd, cmds[i].what);
		EXPECT_EQ(ENOTTY, errno)
			TH_LOG("ioctl 0x%lx (%s): %s, expected ENOTTY", cmds[i].cmd,
			       cmds[i].what, strerror(errno));
	}
	/* None of them did anything, RESET's look-alike included. */
	check_usage(_metadata, self->fd, 10, 1, 1);
}

/*
 * A pointer the driver cannot copy through, for GET_INFO or SET_GEOMETRY:
 * EFAULT, and nothing changes.  copy_to_user() and copy_from_user() check
 * the whole range (a kernel address fails before any access) and report
 * a fault instead of oopsing, wherever in the structure it comes.
 */
TEST_F(rw, ioctl_efault)
{
	const size_t pg = self->page;
	struct scullmap_geometry geo = { .order = variant->order, .qset = TEST_QSET };
	struct scullmap_info info;
	unsigned char *mem, *unmapped;
	void *bad[5];
	unsigned int i;
	size_t j;

	/* Three pages: read-only, read-write, unmapped. */
	mem = mmap(NULL, 3 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, mem);
	ASSERT_EQ(0, munmap(mem + 2 * pg, pg));
	ASSERT_EQ(0, mprotect(mem, pg, PROT_READ));
	unmapped = mem + 2 * pg;

	bad[0] = NULL;
	bad[1] = (void *)1;
	bad[2] = unmapped;
	bad[3] = (void *)0xffffffff81000000UL;	/* the kernel's half */
	bad[4] = unmapped - 4;			/* runs off the end of memory */
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		errno = 0;
		EXPECT_EQ(-1, ioctl(self->fd, SCULLMAP_IOC_GET_INFO, bad[i]))
			TH_LOG("GET_INFO to %p", bad[i]);
		EXPECT_EQ(EFAULT, errno) TH_LOG("GET_INFO to %p: %s", bad[i], strerror(errno));
		errno = 0;
		EXPECT_EQ(-1, ioctl(self->fd, SCULLMAP_IOC_SET_GEOMETRY, bad[i]))
			TH_LOG("SET_GEOMETRY from %p", bad[i]);
		EXPECT_EQ(EFAULT, errno)
			TH_LOG("SET_GEOMETRY from %p: %s", bad[i], strerror(errno));
	}

	/* GET_INFO writes: read-only memory is as bad, and stays untouched. */
	errno = 0;
	EXPECT_EQ(-1, ioctl(self->fd, SCULLMAP_IOC_GET_INFO, mem))
		TH_LOG("GET_INFO into read-only memory");
	EXPECT_EQ(EFAULT, errno)
		TH_LOG("GET_INFO into read-only memory: %s", strerror(errno));
	for (j = 0; j < sizeof(info) && !mem[j]; j++)
		;
	EXPECT_EQ(sizeof(info), j) TH_LOG("GET_INFO wrote into read-only memory");

	/* SET_GEOMETRY only reads: from read-only memory it works. */
	memcpy(mem + pg, &geo, sizeof(geo));
	ASSERT_EQ(0, mprotect(mem, 2 * pg, PROT_READ));
	EXPECT_EQ(0, ioctl(self->fd, SCULLMAP_IOC_SET_GEOMETRY, mem + pg))
		TH_LOG("SET_GEOMETRY from read-only memory: %s", strerror(errno));
	munmap(mem, 2 * pg);

	get_info(_metadata, self->fd, &info);
	EXPECT_EQ(variant->order, info.order);
	EXPECT_EQ(TEST_QSET, info.qset);
}

/*
 * write() @pg readable bytes at @buf followed by an unmapped page, asking
 * for both pages.  The answer is a short count: some bytes were written,
 * so the fault is not an error yet (POSIX: a write that transferred data
 * returns how much), and it cannot be more than the readable bytes.
 * Returns the count, 0 if the write failed.
 */
static ssize_t half_mapped_write(struct __test_metadata *_metadata, int fd,
				 const unsigned char *buf, size_t pg)
{
	ssize_t ret;

	errno = 0;
	ret = write(fd, buf, 2 * pg);
	EXPECT_LT(0, ret) TH_LOG("half-mapped write: %s, expected a short count",
				 ret < 0 ? strerror(errno) : "0");
	EXPECT_GE((ssize_t)pg, ret)
		TH_LOG("wrote %zd bytes from a buffer of %zu readable ones", ret, pg);
	return ret > 0 ? ret : 0;
}

/*
 * write() from memory that is not there: EFAULT, or a short count of what
 * was.  Either way no byte of the device changes but those counted: a
 * failed write must not leave zeros (or anything else) where the data was.
 */
TEST_F(rw, write_efault)
{
	const size_t pg = self->page, size = 3 * self->q;
	unsigned char *buf, *dev;
	ssize_t ret, i;
	off_t off;

	write_at(_metadata, self->fd, 0, size, 1);

	/* Two pages mapped and unmapped again: nothing is there now. */
	buf = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, buf);
	ASSERT_EQ(0, munmap(buf, 2 * pg));
	seek_to(_metadata, self->fd, self->q / 2);
	errno = 0;
	EXPECT_EQ(-1, write(self->fd, buf, 100)) TH_LOG("write from unmapped memory");
	EXPECT_EQ(EFAULT, errno) TH_LOG("write from unmapped memory: %s", strerror(errno));
	EXPECT_EQ((off_t)(self->q / 2), pos_of(self->fd))
		TH_LOG("a failed write moved the file position");
	check_at(_metadata, self->fd, 0, size, 1);
	/* At the end, where it would extend the device. */
	seek_to(_metadata, self->fd, size);
	errno = 0;
	EXPECT_EQ(-1, write(self->fd, buf, 100)) TH_LOG("write from unmapped memory");
	EXPECT_EQ(EFAULT, errno) TH_LOG("write from unmapped memory: %s", strerror(errno));
	EXPECT_EQ((off_t)size, lseek(self->fd, 0, SEEK_END))
		TH_LOG("a write that copied nothing changed the size");
	check_at(_metadata, self->fd, 0, size, 1);

	/*
	 * A buffer whose first page is there and second is not, written over
	 * data across a quantum boundary: the bytes before the fault may be
	 * written, and those counted must be; none after the fault may change.
	 */
	buf = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, buf);
	ASSERT_EQ(0, munmap(buf + pg, pg));
	off = self->q - 100;
	pattern_fill(buf, off, pg, 2);
	seek_to(_metadata, self->fd, off);
	ret = half_mapped_write(_metadata, self->fd, buf, pg);
	EXPECT_EQ(off + ret, pos_of(self->fd)) TH_LOG("file position after a short write");
	EXPECT_EQ((off_t)size, lseek(self->fd, 0, SEEK_END));
	check_at(_metadata, self->fd, 0, off, 1);
	if (ret)
		check_at(_metadata, self->fd, off, ret, 2);
	/* Copied but not counted is allowed; anything else is not. */
	dev = malloc(pg - ret);
	ASSERT_NE(NULL, dev);
	seek_to(_metadata, self->fd, off + ret);
	ASSERT_EQ((ssize_t)(pg - ret), read(self->fd, dev, pg - ret));
	for (i = 0; i < (ssize_t)(pg - ret); i++)
		if (dev[i] != pattern_byte(off + ret + i, 1) &&
		    dev[i] != pattern_byte(off + ret + i, 2))
			break;
	if (i < (ssize_t)(pg - ret))
		TH_LOG("byte at %lld is 0x%02x: neither the old data nor the new",
		       (long long)(off + ret + i), dev[i]);
	EXPECT_EQ((ssize_t)(pg - ret), i);
	free(dev);
	check_at(_metadata, self->fd, off + pg, size - off - pg, 1);

	/* The same across the end: the size grows by what was counted. */
	off = size - 100;
	pattern_fill(buf, off, pg, 3);
	seek_to(_metadata, self->fd, off);
	ret = half_mapped_write(_metadata, self->fd, buf, pg);
	munmap(buf, pg);
	EXPECT_EQ((off_t)(ret > 100 ? off + ret : (off_t)size), lseek(self->fd, 0, SEEK_END))
		TH_LOG("size after a write that counted %zd bytes", ret);
	if (ret)
		check_at(_metadata, self->fd, off, ret, 3);
}

/*
 * read() into memory that cannot be written: EFAULT, nothing else changes;
 * into a buffer that can be written only in part: a short count.
 */
TEST_F(rw, read_efault)
{
	const size_t pg = self->page, size = 2 * self->q + 3;
	unsigned char *buf;
	ssize_t ret;

	write_at(_metadata, self->fd, 0, size, 1);

	buf = mmap(NULL, 2 * pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, buf);
	seek_to(_metadata, self->fd, 5);
	errno = 0;
	EXPECT_EQ(-1, read(self->fd, buf, 100)) TH_LOG("read into read-only memory");
	EXPECT_EQ(EFAULT, errno) TH_LOG("read into read-only memory: %s", strerror(errno));
	EXPECT_EQ(5, pos_of(self->fd)) TH_LOG("a failed read moved the file position");
	EXPECT_EQ(0, buf[0]) TH_LOG("read-only memory was written");

	/*
	 * The first page writable, the second not: a short count, as for
	 * write(), of bytes that are right.
	 */
	ASSERT_EQ(0, mprotect(buf, pg, PROT_READ | PROT_WRITE));
	seek_to(_metadata, self->fd, self->q - 100);
	errno = 0;
	ret = read(self->fd, buf, 2 * pg);
	EXPECT_LT(0, ret) TH_LOG("half-writable read: %s, expected a short count",
				 ret < 0 ? strerror(errno) : "0");
	EXPECT_GE((ssize_t)pg, ret)
		TH_LOG("read %zd bytes into a buffer of %zu writable ones", ret, pg);
	if (ret < 0)
		ret = 0;
	EXPECT_EQ(-1, pattern_mismatch(buf, self->q - 100, ret, 1));
	EXPECT_EQ((off_t)(self->q - 100 + ret), pos_of(self->fd))
		TH_LOG("file position after a read that counted %zd bytes", ret);
	munmap(buf, 2 * pg);

	check_usage(_metadata, self->fd, size, 3, 1);
	check_at(_metadata, self->fd, 0, size, 1);
}

/*
 * read() stores the bytes it returns and no other.  The buffer is a shared
 * mapping of a memfd whose pages are in its page cache but not in the page
 * table (MADV_DONTNEED), so the read must fault them in; it starts near
 * the end of a page, and asks for far more than the device holds.  Every
 * byte of the memfd outside the few the read returned must keep its value:
 * a read that faulted the next pages in by storing to them (as
 * fault_in_writeable() does) zeroed the first byte of each.
 */
TEST_F(rw, read_stores_only_what_it_returns)
{
	const size_t pg = self->page, len = 4 * pg, at = pg - 96, size = 10;
	unsigned char *map, *want, *got;
	ssize_t ret;
	size_t i;
	int mfd;

	write_at(_metadata, self->fd, 0, size, 1);
	want = malloc(len);
	got = malloc(len);
	ASSERT_NE(NULL, want);
	ASSERT_NE(NULL, got);
	mfd = memfd_create("read_target", MFD_CLOEXEC);
	ASSERT_LE(0, mfd) TH_LOG("memfd_create: %s", strerror(errno));
	pattern_fill(want, 0, len, 2);
	ASSERT_EQ((ssize_t)len, full_pwrite(mfd, want, len, 0));
	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	ASSERT_NE(MAP_FAILED, map);
	ASSERT_EQ(0, madvise(map, len, MADV_DONTNEED));

	seek_to(_metadata, self->fd, 0);
	ret = read(self->fd, map + at, len - at);
	EXPECT_EQ((ssize_t)size, ret) TH_LOG("read of a %zu-byte device: %s", size,
					     ret < 0 ? strerror(errno) : "wrong count");
	pattern_fill(want + at, 0, size, 1);
	ASSERT_EQ((ssize_t)len, full_pread(mfd, got, len, 0));
	EXPECT_EQ(-1, pattern_mismatch(got + at, 0, size, 1))
		TH_LOG("the bytes read are not the device's");
	for (i = 0; i < len; i++)
		if (got[i] != want[i]) {
			EXPECT_EQ(want[i], got[i])
				TH_LOG("byte %zu of the memfd changed; the read returned %zu..%zu",
				       i, at, at + size - 1);
			break;
		}
	munmap(map, len);
	close(mfd);
	free(want);
	free(got);
}

/*
 * Concurrent writers and readers, in rounds.  The writers own interleaved
 * stripes of odd size, a few to a quantum, over one and a half quantum sets.
 * In each round the device starts empty and the writers are let go together
 * up the stripes, so they race to allocate every quantum and quantum set.
 * After each round every stripe must be whole and each quantum allocated
 * once.  Readers run throughout and must see, byte by byte, zeros or the
 * data and never anything else, and a size that only grows between two
 * emptyings of the device.
 */
#define NR_WRITERS	3
#define NR_READERS	2
#define RACE_MSEC	1000
#define MIN_ROUNDS	3

struct race {
	uint64_t base;		/* bytes before this are a hole */
	uint64_t stripe;	/* bytes in a stripe */
	uint64_t end;		/* the end of the last stripe */
	const unsigned char *want;	/* the device's bytes after a round */
	pthread_barrier_t start, done;
	int stop_writers;	/* read after the start barrier */
	int stop_readers;
	unsigned int gen;	/* odd while the device is being emptied */
};

struct racer {
	pthread_t thread;
	struct race *race;
	const char *path;
	unsigned int id;	/* a writer writes stripes id, id + NR_WRITERS, ... */
	size_t chunk;		/* a reader's read size */
	/* Results: passes made, and the first thing that went wrong. */
	unsigned long passes;
	uint64_t data_seen;	/* a reader: bytes of data it checked */
	const char *error;
	int err;
	uint64_t bad_off;
	unsigned int got, want;
};

static void write_stripes(struct racer *r, int fd, const unsigned char *buf)
{
	const struct race *race = r->race;
	uint64_t off;
	ssize_t ret;

	for (off = race->base + r->id * race->stripe; off < race->end;
	     off += NR_WRITERS * race->stripe) {
		if (lseek(fd, off, SEEK_SET) != (off_t)off) {
			r->error = "lseek";
			r->err = errno;
			return;
		}
		ret = write(fd, buf + off, race->stripe);
		if (ret != (ssize_t)race->stripe) {
			r->error = ret < 0 ? "write failed" : "short write";
			r->err = errno;
			r->bad_off = off;
			return;
		}
	}
	r->passes++;
}

/* A writer takes its stripes from race->want, the bytes a round leaves. */
static void *writer(void *arg)
{
	struct racer *r = arg;
	struct race *race = r->race;
	const unsigned char *buf = race->want;
	int fd = open(r->path, O_RDWR);

	if (fd < 0) {
		r->error = "open";
		r->err = errno;
	}
	/* Keep to the barriers even after an error: the others wait there. */
	for (;;) {
		pthread_barrier_wait(&race->start);
		if (__atomic_load_n(&race->stop_writers, __ATOMIC_SEQ_CST))
			break;
		if (!r->error)
			write_stripes(r, fd, buf);
		pthread_barrier_wait(&race->done);
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

static void *reader(void *arg)
{
	struct racer *r = arg;
	struct race *race = r->race;
	unsigned char *buf = malloc(r->chunk);
	unsigned int gen, last_gen = 1;
	off_t size, last = 0;
	uint64_t off;
	ssize_t ret, i;
	int fd;

	fd = open(r->path, O_RDONLY);
	if (fd < 0 || !buf) {
		r->error = "open or malloc";
		r->err = errno;
		goto out;
	}
	do {
		gen = __atomic_load_n(&race->gen, __ATOMIC_SEQ_CST);
		size = lseek(fd, 0, SEEK_END);
		if (size < 0 || size > (off_t)race->end) {
			r->error = "size beyond the bands";
			r->err = errno;
			r->bad_off = size;
			goto out;
		}
		/* Compare sizes only if no emptying overlapped either. */
		if (!(gen & 1) && gen == __atomic_load_n(&race->gen, __ATOMIC_SEQ_CST)) {
			if (gen == last_gen && size < last) {
				r->error = "the size went down";
				r->bad_off = size;
				goto out;
			}
			last_gen = gen;
			last = size;
		}
		for (off = 0; off < race->end; off += ret) {
			if (lseek(fd, off, SEEK_SET) != (off_t)off) {
				r->error = "lseek";
				r->err = errno;
				goto out;
			}
			ret = read(fd, buf, r->chunk);
			if (ret < 0) {
				r->error = "read failed";
				r->err = errno;
				r->bad_off = off;
				goto out;
			}
			if (ret == 0)	/* the writers have not got here yet */
				break;
			for (i = 0; i < ret; i++) {
				unsigned int want = off + i < race->base ?
						    0 : pattern_byte(off + i, 1);

				if (!buf[i])
					continue;
				r->data_seen++;
				if (buf[i] != want) {
					r->error = "a byte that is neither zero nor the data";
					r->bad_off = off + i;
					r->got = buf[i];
					r->want = want;
					goto out;
				}
			}
		}
		r->passes++;
	} while (!__atomic_load_n(&race->stop_readers, __ATOMIC_SEQ_CST));
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return NULL;
}

/* Check the device after a round; a message in @msg if it is wrong. */
static bool round_ok(int fd, const unsigned char *want, uint64_t end,
		     uint64_t quanta, uint64_t qsets, char *msg, size_t size)
{
	unsigned char *buf = malloc(end);
	struct scullmap_info info;
	ssize_t ret;
	uint64_t i;
	bool ok = false;

	if (!buf || ioctl(fd, SCULLMAP_IOC_GET_INFO, &info)) {
		snprintf(msg, size, "malloc or GET_INFO: %s", strerror(errno));
		goto out;
	}
	if (info.size != end || info.quanta != quanta || info.qsets != qsets) {
		snprintf(msg, size, "size %llu quanta %llu qsets %llu, expected %llu %llu %llu",
			 (unsigned long long)info.size, (unsigned long long)info.quanta,
			 (unsigned long long)info.qsets, (unsigned long long)end,
			 (unsigned long long)quanta, (unsigned long long)qsets);
		goto out;
	}
	ret = lseek(fd, 0, SEEK_SET) ? -1 : read(fd, buf, end);
	if (ret != (ssize_t)end) {
		snprintf(msg, size, "reading back the bands: %zd, %s", ret, strerror(errno));
		goto out;
	}
	for (i = 0; i < end && buf[i] == want[i]; i++)
		;
	if (i < end) {
		snprintf(msg, size, "byte at %llu is 0x%02x, expected 0x%02x",
			 (unsigned long long)i, buf[i], want[i]);
		goto out;
	}
	ok = true;
out:
	free(buf);
	return ok;
}

static void check_racer(struct __test_metadata *_metadata, const char *kind,
			unsigned int i, struct racer *r)
{
	EXPECT_NULL(r->error)
		TH_LOG("%s %u: %s at %llu (errno %s, byte 0x%02x, expected 0x%02x)", kind, i,
		       r->error, (unsigned long long)r->bad_off, strerror(r->err),
		       r->got, r->want);
	EXPECT_LT(0UL, r->passes) TH_LOG("%s %u made no full pass", kind, i);
	if (!strcmp(kind, "reader"))
		EXPECT_LT(0U, r->data_seen) TH_LOG("reader %u never saw the data", i);
}

static long msec_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

TEST_F(rw, concurrent)
{
	struct racer w[NR_WRITERS] = {}, rd[NR_READERS] = {};
	struct race race = {
		.base = self->q / 3,
		.stripe = self->q / 4 + 13,
	};
	unsigned int i, rounds = 0;
	unsigned char *want;
	struct timespec t0;
	char msg[160] = "";
	bool stop = false;

	/* Whole rounds of stripes up to about one and a half quantum sets. */
	race.end = race.base + (self->qs + self->qs / 2) / (NR_WRITERS * race.stripe) *
		   NR_WRITERS * race.stripe;
	want = malloc(race.end);
	ASSERT_NE(NULL, want);
	pattern_fill(want, 0, race.base, 0);
	pattern_fill(want + race.base, race.base, race.end - race.base, 1);
	race.want = want;
	ASSERT_EQ(0, pthread_barrier_init(&race.start, NULL, NR_WRITERS + 1));
	ASSERT_EQ(0, pthread_barrier_init(&race.done, NULL, NR_WRITERS + 1));

	for (i = 0; i < NR_WRITERS; i++) {
		w[i].race = &race;
		w[i].path = variant->path;
		w[i].id = i;
		ASSERT_EQ(0, pthread_create(&w[i].thread, NULL, writer, &w[i]));
	}
	for (i = 0; i < NR_READERS; i++) {
		rd[i].race = &race;
		rd[i].path = variant->path;
		rd[i].chunk = self->q + 333 + 1000 * i;
		ASSERT_EQ(0, pthread_create(&rd[i].thread, NULL, reader, &rd[i]));
	}

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		stop = msg[0] || (rounds >= MIN_ROUNDS && msec_since(&t0) >= RACE_MSEC);
		if (!stop && rounds) {
			/* Empty the device for the next round; the setup did the first. */
			__atomic_add_fetch(&race.gen, 1, __ATOMIC_SEQ_CST);
			if (ioctl(self->fd, SCULLMAP_IOC_RESET))
				snprintf(msg, sizeof(msg), "RESET: %s", strerror(errno));
			__atomic_add_fetch(&race.gen, 1, __ATOMIC_SEQ_CST);
		}
		__atomic_store_n(&race.stop_writers, stop, __ATOMIC_SEQ_CST);
		pthread_barrier_wait(&race.start);
		if (stop)
			break;
		pthread_barrier_wait(&race.done);
		rounds++;
		round_ok(self->fd, want, race.end, (race.end + self->q - 1) / self->q,
			 (race.end + self->qs - 1) / self->qs, msg, sizeof(msg));
	}
	__atomic_store_n(&race.stop_readers, 1, __ATOMIC_SEQ_CST);
	for (i = 0; i < NR_WRITERS; i++)
		pthread_join(w[i].thread, NULL);
	for (i = 0; i < NR_READERS; i++)
		pthread_join(rd[i].thread, NULL);
	pthread_barrier_destroy(&race.start);
	pthread_barrier_destroy(&race.done);

	EXPECT_EQ(0, msg[0]) TH_LOG("after round %u: %s", rounds, msg);
	for (i = 0; i < NR_WRITERS; i++)
		check_racer(_metadata, "writer", i, &w[i]);
	for (i = 0; i < NR_READERS; i++)
		check_racer(_metadata, "reader", i, &rd[i]);
	TH_LOG("%u rounds; readers checked %llu and %llu bytes of data", rounds,
	       (unsigned long long)rd[0].data_seen, (unsigned long long)rd[1].data_seen);

	/* What the last round left, with the helpers' messages. */
	check_usage(_metadata, self->fd, race.end, (race.end + self->q - 1) / self->q,
		    (race.end + self->qs - 1) / self->qs);
	check_at(_metadata, self->fd, 0, race.base, 0);
	check_at(_metadata, self->fd, race.base, race.end - race.base, 1);
	free(want);
}

struct stalled_read {
	int fd;
	char *buf;
	size_t len;
	ssize_t ret;
};

static void *read_into(void *arg)
{
	struct stalled_read *r = arg;

	r->ret = pread(r->fd, r->buf, r->len, 0);
	return NULL;
}

/*
 * A read() whose buffer faults slowly (here for as long as the test wants:
 * a userfaultfd region) must not hold up emptying the device.  If the
 * driver waited for it, RESET would sleep in D state until the hung-task
 * detector stops the test kernel.
 */
TEST_F(rw, stalled_reader_does_not_hold_up_reset)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };
	struct uffdio_zeropage zero = { 0 };
	struct stalled_read r = { .fd = self->fd, .len = self->page };
	struct uffd_msg msg;
	pthread_t reader;
	int uffd;

	write_at(_metadata, self->fd, 0, self->page, 1);
	uffd = syscall(__NR_userfaultfd, O_CLOEXEC);
	ASSERT_LE(0, uffd) TH_LOG("userfaultfd: %s", strerror(errno));
	ASSERT_EQ(0, ioctl(uffd, UFFDIO_API, &api));
	r.buf = mmap(NULL, r.len, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, r.buf);
	reg.range.start = (unsigned long)r.buf;
	reg.range.len = r.len;
	ASSERT_EQ(0, ioctl(uffd, UFFDIO_REGISTER, &reg)) TH_LOG("%s", strerror(errno));

	ASSERT_EQ(0, pthread_create(&reader, NULL, read_into, &r));
	/* The reader now waits in a fault on its buffer, until we answer. */
	ASSERT_EQ((ssize_t)sizeof(msg), read(uffd, &msg, sizeof(msg)));
	ASSERT_EQ(UFFD_EVENT_PAGEFAULT, msg.event);

	ASSERT_EQ(0, ioctl(self->fd, SCULLMAP_IOC_RESET))
		TH_LOG("RESET: %s", strerror(errno));

	/* Answer the fault: the device is empty now, so the read ends there. */
	zero.range.start = (unsigned long)r.buf;
	zero.range.len = r.len;
	ASSERT_EQ(0, ioctl(uffd, UFFDIO_ZEROPAGE, &zero)) TH_LOG("%s", strerror(errno));
	ASSERT_EQ(0, pthread_join(reader, NULL));
	EXPECT_EQ(0, r.ret) TH_LOG("a read that raced with RESET returned %zd", r.ret);
	munmap(r.buf, r.len);
	close(uffd);
}

/*
 * The module's defaults on every device, read-only.  The tests above put
 * back the defaults on the devices they use, so this holds in any order.
 */
TEST(module_defaults)
{
	const struct {
		const char *fmt;
		unsigned int backend, order;
	} kinds[] = {
		{ "/dev/scullmap%d", SCULLMAP_BACKEND_PAGES, 0 },
		{ "/dev/scullmapv%d", SCULLMAP_BACKEND_VMALLOC, 4 },
	};
	struct scullmap_info info;
	unsigned int k;
	char path[32];
	int i, fd;

	for (k = 0; k < ARRAY_SIZE(kinds); k++) {
		for (i = 0; i < 4; i++) {
			snprintf(path, sizeof(path), kinds[k].fmt, i);
			fd = open(path, O_RDONLY);
			ASSERT_LE(0, fd) TH_LOG("%s: %s", path, strerror(errno));
			get_info(_metadata, fd, &info);
			close(fd);
			EXPECT_EQ(kinds[k].backend, info.backend) TH_LOG("%s", path);
			EXPECT_EQ(kinds[k].order, info.order) TH_LOG("%s", path);
			EXPECT_EQ(DEFAULT_QSET, info.qset) TH_LOG("%s", path);
			EXPECT_EQ(MAX_SIZE, info.max_size) TH_LOG("%s", path);
			EXPECT_EQ((__u32)getpagesize(), info.page_size) TH_LOG("%s", path);
		}
	}
}

/*
 * The load-time parameters are read-only in sysfs (mode 0444): opening
 * one for writing fails with EACCES even for root, because a device's
 * geometry may only change through SET_GEOMETRY, which checks that it is
 * empty.  (fault_window is the writable one; load_test checks it.)
 */
TEST(params_read_only)
{
	const char *const params[] = { "nr_devs", "order", "vorder", "qset" };
	char path[96];
	unsigned int i;
	int fd;

	for (i = 0; i < ARRAY_SIZE(params); i++) {
		snprintf(path, sizeof(path), "/sys/module/scullmap/parameters/%s", params[i]);
		ASSERT_EQ(0, access(path, R_OK)) TH_LOG("%s: %s", path, strerror(errno));
		errno = 0;
		fd = open(path, O_WRONLY);
		if (fd >= 0)
			close(fd);
		EXPECT_EQ(-1, fd) TH_LOG("%s opened for writing", path);
		EXPECT_EQ(EACCES, errno) TH_LOG("%s: %s, expected EACCES", path,
						strerror(errno));
	}
}

TEST_HARNESS_MAIN

// SPDX-License-Identifier: GPL-2.0
/*
 * mapper - show a section of a file through mmap.
 *
 *	mapper FILE OFFSET LENGTH
 *
 * maps LENGTH bytes of FILE from byte OFFSET (any offset: the mapping starts
 * at the page below it) and writes them to standard output.  A section that
 * runs past the end of the file stops there.  One that runs into a hole of
 * a sparse device stops there too: touching a hole through mmap raises
 * SIGBUS, which mapper catches.  Either way it writes the bytes it had and
 * says where it stopped.  Exit status: 0 done, 1 stopped short or failed,
 * 2 bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static sigjmp_buf on_sigbus;

/*
 * Bytes copied so far.  Static, not a local of copy_out(): a local changed
 * between sigsetjmp() and the siglongjmp() out of the handler would have no
 * defined value after it.
 */
static unsigned long long copied;

static void sigbus_handler(int sig)
{
	siglongjmp(on_sigbus, sig);
}

static int parse_size(const char *text, unsigned long long *value)
{
	char *end;

	errno = 0;
	*value = strtoull(text, &end, 0);
	return errno || end == text || *end || text[0] == '-' ? -1 : 0;
}

/*
 * Copy @len bytes at @src to standard output, a page at a time, so that a
 * SIGBUS stops the copy at a page boundary.  Returns the bytes written.
 */
static unsigned long long copy_out(const char *src, unsigned long long len,
				   long page_size)
{
	struct sigaction sa = { .sa_handler = sigbus_handler };
	unsigned long long chunk;
	char buf[65536];

	copied = 0;
	sigaction(SIGBUS, &sa, NULL);
	if (sigsetjmp(on_sigbus, 1))
		return copied;

	while (copied < len) {
		/* Up to the next page boundary of the source. */
		chunk = page_size - ((uintptr_t)(src + copied) % page_size);
		if (chunk > len - copied)
			chunk = len - copied;
		memcpy(buf, src + copied, chunk);	/* may raise SIGBUS */
		if (fwrite(buf, 1, chunk, stdout) != chunk)
			break;
		copied += chunk;
	}
	return copied;
}

int main(int argc, char **argv)
{
	long page_size = sysconf(_SC_PAGESIZE);
	unsigned long long offset, len, start, avail, done;
	off_t size;
	char *map;
	int fd;

	if (argc != 4 || parse_size(argv[2], &offset) || parse_size(argv[3], &len)) {
		fprintf(stderr, "usage: %s FILE OFFSET LENGTH\n", argv[0]);
		return 2;
	}

	fd = open(argv[1], O_RDONLY);
	if (fd < 0) {
		fprintf(stderr, "mapper: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}

	/* Stop at the end of the file: st_size is 0 for a device, lseek knows. */
	avail = len;
	size = lseek(fd, 0, SEEK_END);
	if (size >= 0)
		avail = offset >= (unsigned long long)size ? 0 :
			len < size - offset ? len : size - offset;

	done = 0;
	if (avail) {
		start = offset - offset % page_size;
		map = mmap(NULL, offset - start + avail, PROT_READ, MAP_SHARED,
			   fd, start);
		if (map == MAP_FAILED) {
			fprintf(stderr, "mapper: mmap %s at %llu: %s\n",
				argv[1], start, strerror(errno));
			return 1;
		}
		done = copy_out(map + (offset - start), avail, page_size);
	}
	fflush(stdout);

	if (ferror(stdout)) {
		fprintf(stderr, "mapper: write error: %s\n", strerror(errno));
		return 1;
	}
	if (done < avail) {
		fprintf(stderr, "mapper: %s: offset %llu is in a hole, no data there (SIGBUS)\n",
			argv[1], offset + done);
		return 1;
	}
	if (done < len) {
		fprintf(stderr, "mapper: %s: offset %llu is past the end, at %lld bytes\n",
			argv[1], offset + done, (long long)size);
		return 1;
	}
	return 0;
}

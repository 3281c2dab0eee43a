// SPDX-License-Identifier: GPL-2.0
/*
 * mapper - show a section of a file through mmap.
 *
 *	mapper [-v] FILE OFFSET LENGTH
 *
 * maps LENGTH bytes of FILE from byte OFFSET (any offset: the mapping starts
 * at the page below it) and writes them to standard output.  A section that
 * runs past the end of the file stops there.  One that runs into a hole of
 * a sparse device stops there too: touching a hole through mmap raises
 * SIGBUS, which mapper catches.  Either way it writes the bytes it had and
 * says where it stopped.  Exit status: 0 done, 1 stopped short or failed,
 * 2 bad usage.
 *
 * With -v it then says on standard error what the reading cost: the page
 * faults it took (minor faults, from getrusage) and how many pages of its
 * mapping are now mapped (resident, from mincore).  A driver that maps a
 * run of pages per fault shows one fault and the whole run; one that maps
 * a page per fault shows one fault per page.
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
#include <sys/resource.h>
#include <unistd.h>

static sigjmp_buf on_sigbus;

/*
 * Bytes copied so far.  Static, not a local of copy_out(): a local changed
 * between sigsetjmp() and the siglongjmp() out of the handler would have no
 * defined value after it.
 */
static unsigned long long copied;

/* Minor faults taken by the first touch of the mapping, for -v. */
static long copy_faults;

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

static long minor_faults(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

/*
 * Touch each page of the @len bytes at @src once, and count the minor
 * faults that took, for -v: nothing else runs between the two counts, so
 * that no fault of the program's own (stack, heap, stdio) is among them.
 * A SIGBUS ends the touching; the copy then stops at the same page.
 */
static void count_faults(const char *src, unsigned long long len, long page_size)
{
	/* Static: changed between sigsetjmp() and a siglongjmp() to it. */
	static const char *p;
	static long before;

	minor_faults();		/* its own first call may fault */
	before = minor_faults();
	if (!sigsetjmp(on_sigbus, 1))
		for (p = src - (uintptr_t)src % page_size; p < src + len; p += page_size)
			(void)__atomic_load_n(p, __ATOMIC_RELAXED);	/* a load kept */
	copy_faults = minor_faults() - before;
}

/*
 * Copy @len bytes at @src to standard output, a page at a time, so that a
 * SIGBUS stops the copy at a page boundary.  Returns the bytes written.
 */
static unsigned long long copy_out(const char *src, unsigned long long len,
				   long page_size, int verbose)
{
	struct sigaction sa = { .sa_handler = sigbus_handler };
	unsigned long long chunk;
	char buf[65536];

	copied = 0;
	sigaction(SIGBUS, &sa, NULL);
	if (verbose)
		count_faults(src, len, page_size);
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

/* Print the pages of the @len bytes at @map that are mapped now. */
static void report(const char *map, unsigned long long len, long page_size)
{
	unsigned long long pages = (len + page_size - 1) / page_size, i, resident = 0;
	unsigned char *vec = calloc(pages ? pages : 1, 1);

	if (!vec || mincore((void *)map, len, vec)) {
		fprintf(stderr, "mapper: mincore: %s\n", strerror(errno));
		free(vec);
		return;
	}
	for (i = 0; i < pages; i++)
		resident += vec[i] & 1;
	fprintf(stderr, "mapper: minor faults: %ld, resident pages: %llu of %llu\n",
		copy_faults, resident, pages);
	free(vec);
}

int main(int argc, char **argv)
{
	long page_size = sysconf(_SC_PAGESIZE);
	unsigned long long offset, len, start, avail, done;
	int fd, verbose = 0;
	off_t size;
	char *map;

	if (argc > 1 && !strcmp(argv[1], "-v")) {
		verbose = 1;
		argv++;
		argc--;
	}
	if (argc != 4 || parse_size(argv[2], &offset) || parse_size(argv[3], &len)) {
		fprintf(stderr, "usage: mapper [-v] FILE OFFSET LENGTH\n");
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
		done = copy_out(map + (offset - start), avail, page_size, verbose);
		if (verbose)
			report(map, offset - start + avail, page_size);
	} else if (verbose) {
		fprintf(stderr, "mapper: nothing to map\n");
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

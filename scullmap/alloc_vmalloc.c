// SPDX-License-Identifier: GPL-2.0
/*
 * scullmap - the vmalloc back end (/dev/scullmapvN).
 *
 * A quantum is one vmalloc area of PAGE_SIZE << order bytes: contiguous in
 * the kernel's address space, made of order-0 pages from anywhere in
 * memory.  Each page has its own reference count, so any of them can be
 * mapped; the page behind byte offset X of the quantum is
 * vmalloc_to_page(quantum + X), found through the kernel's page tables.
 * (LDD3's scullv took the page index for the quantum index, and mapped the
 * wrong pages at order > 0.)
 */
#include <linux/mm.h>
#include <linux/vmalloc.h>

#include <uapi/scullmap.h>
#include "scullmap.h"

static void *scullmap_vmalloc_alloc(unsigned int order)
{
	/* Charged to the memory cgroup of the task that writes. */
	return __vmalloc(PAGE_SIZE << order, SCULLMAP_GFP);
}

static void scullmap_vmalloc_free(void *quantum, unsigned int order)
{
	/*
	 * vfree() unmaps the area from the kernel and puts each page: a page
	 * still mapped in user space lives until it is unmapped there.
	 */
	vfree(quantum);
}

static void scullmap_vmalloc_pages(void *quantum, unsigned long first,
				   unsigned int nr, struct page **pages)
{
	unsigned int i;

	for (i = 0; i < nr; i++)
		pages[i] = vmalloc_to_page(quantum + (first + i) * PAGE_SIZE);
}

const struct scullmap_backend scullmap_vmalloc_backend = {
	.id = SCULLMAP_BACKEND_VMALLOC,
	.alloc = scullmap_vmalloc_alloc,
	.free = scullmap_vmalloc_free,
	.pages = scullmap_vmalloc_pages,
};

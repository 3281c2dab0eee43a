// SPDX-License-Identifier: GPL-2.0
/*
 * scullmap - the page-allocator back end (/dev/scullmapN).
 *
 * A quantum is one allocation of 2^order physically contiguous pages.  The
 * buddy allocator hands a high-order block back with a reference count on
 * its first page only; the others ("tail pages") count nothing.  Mapping a
 * tail page to user space would take and drop references on a page whose
 * count means nothing, and the last drop would free it into the allocator
 * while the block is still in use.  That is why LDD3's scullp refused mmap
 * at order > 0.  split_page() turns the block into 2^order order-0 pages,
 * each with its own count, so each can be mapped, and freed, on its own.
 *
 * A quantum of SCULLMAP_HUGE_ORDER (2 MiB with 4 KiB pages: what one PMD
 * entry maps) is allocated the other way the kernel offers: as a compound
 * page, a large folio, whose one reference count stands for all its pages.
 * Mapping any of its pages takes a reference to the folio, so it is freed
 * only when the driver and every mapping and pin have let go.  Unlike split
 * pages, it can be mapped whole by a PMD entry (see vmops.c).
 */
#include <linux/gfp.h>
#include <linux/mm.h>

#include <uapi/scullmap.h>
#include "scullmap.h"

static void *scullmap_pages_alloc(unsigned int order)
{
	/* Charged to the memory cgroup of the task that writes. */
	gfp_t gfp = SCULLMAP_GFP;
	struct page *page;

	if (order == SCULLMAP_HUGE_ORDER)
		gfp |= __GFP_COMP;
	page = alloc_pages(gfp, order);
	if (!page)
		return NULL;
	if (order && order != SCULLMAP_HUGE_ORDER)
		split_page(page, order);
	return page_address(page);
}

static void scullmap_pages_free(void *quantum, unsigned int order)
{
	unsigned long i;

	/* A put, not a free: a page still mapped lives until it is unmapped. */
	if (order == SCULLMAP_HUGE_ORDER) {
		folio_put(virt_to_folio(quantum));
		return;
	}
	for (i = 0; i < 1UL << order; i++)
		put_page(virt_to_page(quantum + i * PAGE_SIZE));
}

static void scullmap_pages_pages(void *quantum, unsigned long first,
				 unsigned int nr, struct page **pages)
{
	unsigned int i;

	for (i = 0; i < nr; i++)
		pages[i] = virt_to_page(quantum + (first + i) * PAGE_SIZE);
}

const struct scullmap_backend scullmap_pages_backend = {
	.id = SCULLMAP_BACKEND_PAGES,
	.alloc = scullmap_pages_alloc,
	.free = scullmap_pages_free,
	.pages = scullmap_pages_pages,
};

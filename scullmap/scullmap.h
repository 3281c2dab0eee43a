/* SPDX-License-Identifier: GPL-2.0 */
/*
 * scullmap - the types the driver's files share, and the back-end interface.
 */
#ifndef _SCULLMAP_H
#define _SCULLMAP_H

#include <linux/bits.h>
#include <linux/device.h>
#include <linux/gfp.h>
#include <linux/mutex.h>
#include <linux/rwsem.h>
#include <linux/srcu.h>
#include <linux/xarray.h>

#include "compat.h"

/*
 * The size of a device (a loff_t) is published to lockless readers with a
 * release store and read with an acquire load: that needs a 64-bit word.
 */
#ifndef CONFIG_64BIT
#error "scullmap needs a 64-bit kernel"
#endif

/* No write goes past this size (EFBIG).  Sparse devices take no memory for holes. */
#define SCULLMAP_MAX_BYTES	BIT_ULL(40)

/*
 * The order of a huge quantum: PMD_SIZE bytes, what one entry of a
 * page-middle directory maps.  The page-allocator back end makes such a
 * quantum one large folio, which a fault may map whole (see vmops.c).
 */
#define SCULLMAP_HUGE_ORDER	(PMD_SHIFT - PAGE_SHIFT)

/*
 * How the driver allocates what writes make it hold: charged to the
 * writer's memory cgroup; failing with ENOMEM rather than OOM-killing a
 * task to make room for device data; and quietly, since the writer hears
 * of the failure.  See usage.c for the driver's own cap.
 */
#define SCULLMAP_GFP	(GFP_KERNEL_ACCOUNT | __GFP_RETRY_MAYFAIL | __GFP_NOWARN)

/**
 * struct scullmap_backend - an allocator that fills quanta
 * @id:    SCULLMAP_BACKEND_* from the uapi header
 * @alloc: allocate a quantum of PAGE_SIZE << order bytes, return its
 *         kernel address (NULL if out of memory).  Not zeroed: the tree
 *         fills every byte before anyone can see it
 * @free:  drop the driver's reference to each page of a quantum; pages that
 *         a user mapping or a pin still holds live on until those go
 * @pages: store in @pages the struct pages of pages @first .. @first + @nr
 *         - 1 (of 0 .. 2^order - 1) of a quantum: pages the core mm may take
 *         references to and map.  A run at a time, so that a fault that
 *         maps many pages makes one call per quantum, not one per page
 *
 * core.c, tree.c and vmops.c use only these, never the allocator itself.
 */
struct scullmap_backend {
	u32 id;
	void *(*alloc)(unsigned int order);
	void (*free)(void *quantum, unsigned int order);
	void (*pages)(void *quantum, unsigned long first, unsigned int nr,
		      struct page **pages);
};

extern const struct scullmap_backend scullmap_pages_backend;
extern const struct scullmap_backend scullmap_vmalloc_backend;

/**
 * struct scullmap_tree - the bytes of a device: quanta in quantum sets
 * @backend:   the allocator of the quanta
 * @order:     a quantum is PAGE_SIZE << @order bytes
 * @qset:      quanta per quantum set
 * @size:      bytes in the device
 * @nr_quanta: quanta allocated
 * @nr_qsets:  quantum sets allocated
 * @qsets:     quantum set number -> struct scullmap_qset
 *
 * A tree never changes its geometry: emptying a device or changing its
 * geometry puts a new tree in its place.  Writers change a tree under the
 * device's @lock; readers (read, the fault handler) look it up locklessly,
 * so @size and the counters are read with READ_ONCE or acquire loads.
 */
struct scullmap_tree {
	const struct scullmap_backend *backend;
	unsigned int order;
	unsigned int qset;
	loff_t size;
	unsigned long nr_quanta;
	unsigned long nr_qsets;
	struct xarray qsets;
};

/**
 * struct scullmap_dev - one device node and the bytes behind it
 * @tree:     the bytes; replaced whole when the device is emptied
 * @srcu:     read side of @tree: read() and the fault handler hold it while
 *            they use a tree, so that an emptied tree is freed only after
 *            them
 * @lock:     write side of @tree: write, emptying, geometry changes.  Never
 *            taken by the fault path (see Documentation/fault-path.rst)
 * @pmd_sem:  taken only by the fault path, in mappings that may hold PMD
 *            entries: for writing to install one, for reading to install a
 *            PTE (see scullmap_map_page() in vmops.c)
 * @backend:  the allocator of this device's quanta
 * @inode:    an anonymous inode whose address_space every open file of the
 *            device shares, so that emptying it can unmap all mappings
 * @mappings: live VMAs of the device, for GET_INFO
 * @device:   the device in the driver model, which makes the /dev node
 */
struct scullmap_dev {
	struct scullmap_tree __rcu *tree;
	struct srcu_struct srcu;
	struct mutex lock;	/* writers of @tree; never in the fault path */
	struct rw_semaphore pmd_sem;
	const struct scullmap_backend *backend;
	struct inode *inode;
	atomic_t mappings;
	struct device *device;
};

/**
 * struct scullmap_usage - what a device holds, for the debugfs file
 * @size:        bytes in the device
 * @pages:       pages of its quanta
 * @index_bytes: bytes of its quantum-set arrays
 * @mappings:    its live VMAs
 */
struct scullmap_usage {
	loff_t size;
	unsigned long pages;
	unsigned long index_bytes;
	unsigned int mappings;
};

/* What a fault answered, as the scullmap_fault trace event records it. */
enum scullmap_fault_answer {
	SCULLMAP_FAULT_NOPAGE,		/* pages mapped: the access goes on */
	SCULLMAP_FAULT_RETRY,		/* none mapped, the access is retried */
	SCULLMAP_FAULT_SIGBUS,
	SCULLMAP_FAULT_OOM,
};

/* Why a device dropped what it held, for the scullmap_empty trace event. */
enum scullmap_empty_reason {
	SCULLMAP_EMPTY_TRUNC,		/* open() with O_TRUNC */
	SCULLMAP_EMPTY_RESET,		/* the SCULLMAP_IOC_RESET ioctl */
	SCULLMAP_EMPTY_GEOMETRY,	/* SCULLMAP_IOC_SET_GEOMETRY */
};

/* tree.c */
struct scullmap_tree *scullmap_tree_new(const struct scullmap_backend *backend,
					unsigned int order, unsigned int qset);
void scullmap_tree_free(struct scullmap_tree *tree);
size_t scullmap_tree_read(struct scullmap_tree *tree, char __user *buf,
			  size_t count, loff_t pos, size_t *stuck);
ssize_t scullmap_tree_write(struct scullmap_tree *tree, const char __user *buf,
			    size_t count, loff_t pos);
loff_t scullmap_tree_seek(struct scullmap_tree *tree, loff_t pos, bool data);
unsigned int scullmap_tree_pages(struct scullmap_tree *tree, pgoff_t pgoff,
				 struct page **pages, unsigned int max);
struct page *scullmap_tree_quantum_page(struct scullmap_tree *tree, pgoff_t pgoff);
void scullmap_tree_usage(struct scullmap_tree *tree, struct scullmap_usage *usage);

/* usage.c */
void scullmap_usage_init(void);
bool scullmap_charge(size_t bytes);
void scullmap_uncharge(size_t bytes);
void scullmap_debugfs_init(struct scullmap_dev *devs, unsigned int nr_devs);
void scullmap_debugfs_exit(void);

/* vmops.c */
int scullmap_vmops_init(void);
void scullmap_vmops_exit(void);
struct inode *scullmap_mapping_new(void);
void scullmap_unmap_all(struct scullmap_dev *dev);
#ifdef SCULLMAP_HAVE_MMAP_PREPARE
int scullmap_mmap_prepare(struct vm_area_desc *desc);
#else
int scullmap_mmap(struct file *filp, struct vm_area_struct *vma);
#endif

#endif /* _SCULLMAP_H */

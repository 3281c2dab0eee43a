// SPDX-License-Identifier: GPL-2.0
/*
 * scullmap - mmap, and the vm_operations_struct that serves its faults.
 *
 * mmap maps nothing.  The first touch of a page of the mapping traps into
 * scullmap_vm_fault(), which finds the page in the device's tree, with the
 * run of pages that follow it, and installs them in the faulting process's
 * page table with vm_insert_pages().  That takes a reference to each page
 * for its page table entry; the mm drops it when the entry goes (munmap,
 * exit, or scullmap_unmap_all()).  The driver keeps its own reference, so a
 * page is freed only after both.  Documentation/fault-path.rst tells the
 * whole story.
 *
 * On kernels that can, a shared mapping of a device whose quanta are huge
 * folios (alloc_pages.c) maps each whole quantum with one PMD entry,
 * through ->huge_fault; see "PMD entries" below.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/fs_context.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mount.h>
#include <linux/pseudo_fs.h>

#include "scullmap.h"

#define CREATE_TRACE_POINTS
#include "trace.h"

#define SCULLMAP_MAX_WINDOW	256
#define SCULLMAP_DEFAULT_WINDOW	256
#define SCULLMAP_BATCH		32	/* pages per vm_insert_pages() call */

/*
 * One fault maps the faulting page and up to fault_window - 1 pages after
 * it, so that a sequential scan traps once per window, not once per page.
 * The default, 256 pages (1 MiB with 4 KiB pages), is where a sequential
 * first touch stopped getting cheaper in the measurements of
 * Documentation/performance.rst.  Writable at run time; a setter keeps it
 * in range.
 */
static unsigned int fault_window = SCULLMAP_DEFAULT_WINDOW;

static int fault_window_set(const char *val, const struct kernel_param *kp)
{
	unsigned int window;

	if (kstrtouint(val, 0, &window) || !window || window > SCULLMAP_MAX_WINDOW) {
		pr_err("fault_window must be 1..%d\n", SCULLMAP_MAX_WINDOW);
		return -EINVAL;
	}
	WRITE_ONCE(fault_window, window);
	return 0;
}

static const struct kernel_param_ops fault_window_ops = {
	.set = fault_window_set,
	.get = param_get_uint,
};

module_param_cb(fault_window, &fault_window_ops, &fault_window, 0644);
MODULE_PARM_DESC(fault_window, "pages one fault maps, from the faulting one on (1..256, default 256)");

/*
 * Every mapping of a file is linked into the address_space its f_mapping
 * points to; unmap_mapping_range() walks those links.  Each open of a char
 * device gets its own file, and may come through a different node, so each
 * device gets an anonymous inode, from a tiny pseudo filesystem of the
 * driver's own, whose address_space all its files share (DRM does the
 * same).  The filesystem has no owner: a module may not pin itself.
 */
#define SCULLMAP_FS_MAGIC	0x5c0117a9

static struct vfsmount *scullmap_mnt;

static int scullmap_init_fs_context(struct fs_context *fc)
{
	return init_pseudo(fc, SCULLMAP_FS_MAGIC) ? 0 : -ENOMEM;
}

static struct file_system_type scullmap_fs_type = {
	.name = "scullmap",
	.init_fs_context = scullmap_init_fs_context,
	.kill_sb = kill_anon_super,
};

/**
 * scullmap_vmops_init() - mount the pseudo filesystem of the device inodes
 *
 * Return: 0 or a negative errno.
 */
int scullmap_vmops_init(void)
{
	scullmap_mnt = kern_mount(&scullmap_fs_type);
	return PTR_ERR_OR_ZERO(scullmap_mnt);
}

/**
 * scullmap_vmops_exit() - unmount it, once every device inode is put
 */
void scullmap_vmops_exit(void)
{
	kern_unmount(scullmap_mnt);
}

/**
 * scullmap_mapping_new() - make the inode that carries a device's mappings
 *
 * Return: the inode (iput() it when the device goes), or an ERR_PTR.
 */
struct inode *scullmap_mapping_new(void)
{
	return alloc_anon_inode(scullmap_mnt->mnt_sb);
}

/**
 * scullmap_unmap_all() - remove every page table entry that maps the device
 * @dev: the device
 *
 * In every process, in shared and private mappings alike (the last argument
 * also drops copy-on-write copies, as truncating a file does): the next
 * access faults again, and finds what the tree holds then.
 */
void scullmap_unmap_all(struct scullmap_dev *dev)
{
	unmap_mapping_range(dev->inode->i_mapping, 0, 0, 1);
}

/*
 * open and close keep count of the VMAs, for GET_INFO and nothing else:
 * correctness never depends on the count.  open is called when a VMA is
 * copied (fork) or split, not for the first mmap: scullmap_vm_mapped() or
 * scullmap_mmap() counts that one.
 */
static void scullmap_vm_open(struct vm_area_struct *vma)
{
	struct scullmap_dev *dev = vma->vm_private_data;

	atomic_inc(&dev->mappings);
}

static void scullmap_vm_close(struct vm_area_struct *vma)
{
	struct scullmap_dev *dev = vma->vm_private_data;

	atomic_dec(&dev->mappings);
}

/*
 * Map the pages that hold data from the faulting one on: @window pages at
 * most, SCULLMAP_BATCH at a time, stopping at a hole, at the end of the
 * device, or at a page already mapped (-EBUSY: another thread's fault, or
 * an earlier run, got there first).  Returns the pages mapped; *@errp is
 * the error that stopped the run, if one did.
 */
static unsigned long scullmap_map_run(struct vm_fault *vmf,
				      struct scullmap_tree *tree,
				      unsigned long window, int *errp)
{
	struct page *pages[SCULLMAP_BATCH];
	unsigned long done = 0, want, found, left;
	int err = 0;

	while (done < window) {
		want = min(window - done, (unsigned long)SCULLMAP_BATCH);
		found = scullmap_tree_pages(tree, vmf->pgoff + done, pages, want);
		if (!found)
			break;
		left = found;
		err = vm_insert_pages(vmf->vma, vmf->address + done * PAGE_SIZE,
				      pages, &left);
		done += found - left;
		if (err || found < want)
			break;
	}
	*errp = err;
	return done;
}

/* The fault's answer, from what scullmap_map_run() mapped and met. */
static vm_fault_t scullmap_fault_result(unsigned long mapped, int err)
{
	/*
	 * -EBUSY: a PTE is there already.  -EFAULT: the run lies inside the
	 * VMA, so the page table changed under us (newer kernels free empty
	 * PTE tables on MADV_DONTNEED under the mmap lock held for reading).
	 * Either way the access may simply be tried again.
	 */
	if (mapped || err == -EBUSY || err == -EFAULT)
		return VM_FAULT_NOPAGE;
	if (err)
		return vmf_error(err);
	/*
	 * The faulting page is in a hole or past the end.  (Returning
	 * VM_FAULT_NOPAGE here without a page table entry, as the maintained
	 * port of LDD3's scullp does, would send the task back to the same
	 * access, forever.)
	 */
	return VM_FAULT_SIGBUS;
}

#ifdef SCULLMAP_HAVE_PMD_MAPPINGS
/*
 * PMD entries.  One entry of a page-middle directory maps 2 MiB: a whole
 * huge quantum, with one fault instead of one per fault_window pages and
 * one TLB entry instead of 512.  vmf_insert_folio_pmd() installs it and
 * takes a reference to the folio for it, as vm_insert_pages() does for each
 * page, so lifetimes are as for PTEs.
 *
 * Such a mapping must not be VM_MIXEDMAP.  The core mm takes a PMD entry in
 * a VM_MIXEDMAP mapping for one that maps no folio: splitting it (a munmap,
 * mprotect or MADV_DONTNEED of part of it) clears it without dropping its
 * reference, rmap count and RSS count (__split_huge_pmd_locked(), 7.3), so
 * the folio leaks.  Without VM_MIXEDMAP, vm_insert_pages() is not allowed
 * at fault time, so a fault that cannot map a PMD maps its one page with
 * vmf_insert_page_mkwrite().  Only shared mappings of a huge device, placed
 * so that a PMD fits, pay that price; scullmap_mmap_prepare() decides.
 * (Private ones keep VM_MIXEDMAP and PTEs: a write copies a page, and a
 * PMD entry would have to be split for it anyway.)
 */
static bool scullmap_pmd_mappable(const struct vm_area_desc *desc)
{
	struct scullmap_dev *dev = desc->file->private_data;
	unsigned long pmd_pages = PMD_SIZE >> PAGE_SHIFT;
	unsigned int order;
	int idx;

	if (dev->backend != &scullmap_pages_backend ||
	    !vma_desc_test(desc, VMA_MAYSHARE_BIT))
		return false;
	/* Where address and file offset agree modulo 2 MiB, and 2 MiB fit. */
	if (((desc->start >> PAGE_SHIFT) - desc->pgoff) & (pmd_pages - 1) ||
	    ALIGN(desc->start, PMD_SIZE) + PMD_SIZE > desc->end)
		return false;
	idx = srcu_read_lock(&dev->srcu);
	order = srcu_dereference(dev->tree, &dev->srcu)->order;
	srcu_read_unlock(&dev->srcu, idx);
	return order == SCULLMAP_HUGE_ORDER;
}

/*
 * The faulting page alone, in a mapping that may hold PMD entries.  A
 * huge fault of another thread may be installing one over the same 2 MiB;
 * inserting a PTE there would walk into it.  pmd_sem orders the two: under
 * it, an entry that is not a PMD now will not become one.
 */
static unsigned long scullmap_map_page(struct vm_fault *vmf,
				       struct scullmap_dev *dev,
				       struct scullmap_tree *tree, int *errp)
{
	struct page *page;
	vm_fault_t ret;

	*errp = 0;
	if (!scullmap_tree_pages(tree, vmf->pgoff, &page, 1))
		return 0;
	down_read(&dev->pmd_sem);
	if (pmd_trans_huge(pmdp_get_lockless(vmf->pmd)))
		ret = 0;	/* mapped meanwhile: the access is retried */
	else
		ret = vmf_insert_page_mkwrite(vmf, page, false);
	up_read(&dev->pmd_sem);
	/* (A page already there also answers NOPAGE: it counts as mapped.) */
	if (ret == VM_FAULT_NOPAGE)
		return 1;
	*errp = !ret ? -EBUSY : ret & VM_FAULT_OOM ? -ENOMEM : -EFAULT;
	return 0;
}

/**
 * scullmap_vm_huge_fault() - map a whole huge quantum with one PMD entry
 * @vmf:   the fault
 * @order: the size of entry the core asks for, as an order of pages
 *
 * The core asks where the PMD is empty and transparent huge pages are
 * enabled ("always", or "madvise" and MADV_HUGEPAGE).  Holds the SRCU read
 * lock until the entry is in, as scullmap_vm_fault() does.
 *
 * Return: VM_FAULT_NOPAGE when the entry is in place, or VM_FAULT_FALLBACK
 * for the PTE path: the faulting 2 MiB lies outside the mapping or the
 * device, or is not one whole quantum; or a PMD entry is there already
 * (a write to a read-only one: the core splits it and goes on with PTEs).
 */
static vm_fault_t scullmap_vm_huge_fault(struct vm_fault *vmf, unsigned int order)
{
	struct vm_area_struct *vma = vmf->vma;
	struct scullmap_dev *dev = vma->vm_private_data;
	unsigned long start = vmf->address & PMD_MASK;
	pgoff_t pgoff = vmf->pgoff - ((vmf->address - start) >> PAGE_SHIFT);
	vm_fault_t ret = VM_FAULT_FALLBACK;
	struct page *page;
	int idx;

	if (order != SCULLMAP_HUGE_ORDER || (vma->vm_flags & VM_MIXEDMAP) ||
	    start < vma->vm_start || start + PMD_SIZE > vma->vm_end ||
	    !pmd_none(vmf->orig_pmd))
		return VM_FAULT_FALLBACK;
	idx = srcu_read_lock(&dev->srcu);
	page = scullmap_tree_quantum_page(srcu_dereference(dev->tree, &dev->srcu),
					  pgoff);
	/* A device emptied to another geometry since the mmap has no folio. */
	if (page && folio_order(page_folio(page)) == SCULLMAP_HUGE_ORDER) {
		down_write(&dev->pmd_sem);
		ret = vmf_insert_folio_pmd(vmf, page_folio(page), false);
		up_write(&dev->pmd_sem);
	}
	srcu_read_unlock(&dev->srcu, idx);
	if (ret != VM_FAULT_FALLBACK)
		trace_scullmap_fault(dev, vmf, ret == VM_FAULT_NOPAGE ?
				     PMD_SIZE >> PAGE_SHIFT : 0, 0, ret);
	return ret;
}
#endif /* SCULLMAP_HAVE_PMD_MAPPINGS */

/*
 * The fault handler.  It runs with the mmap lock held for reading (kernels
 * that try faults under a per-VMA lock first send those of a VMA without
 * ->map_pages back to take it), and may run inside a read() or write() of
 * this same device whose user buffer is a mapping of it: so it takes no
 * lock that those hold across their copies.  The SRCU read lock only keeps
 * the tree alive; emptying the device waits for it (see
 * scullmap_replace_tree() in core.c).
 *
 * It installs the pages itself rather than returning one in vmf->page, so
 * that the page table entries exist before the SRCU read lock is dropped:
 * once emptying has waited for the readers, the unmap it does next finds
 * every entry a fault on the old tree could have made.
 */
static vm_fault_t scullmap_vm_fault(struct vm_fault *vmf)
{
	struct scullmap_dev *dev = vmf->vma->vm_private_data;
	unsigned long room = (vmf->vma->vm_end - vmf->address) >> PAGE_SHIFT;
	unsigned long window = min_t(unsigned long, room, READ_ONCE(fault_window));
	struct scullmap_tree *tree;
	unsigned long mapped;
	vm_fault_t ret;
	int idx, err;

	idx = srcu_read_lock(&dev->srcu);
	tree = srcu_dereference(dev->tree, &dev->srcu);
#ifdef SCULLMAP_HAVE_PMD_MAPPINGS
	if (!(vmf->vma->vm_flags & VM_MIXEDMAP))
		mapped = scullmap_map_page(vmf, dev, tree, &err);
	else
#endif
		mapped = scullmap_map_run(vmf, tree, window, &err);
	srcu_read_unlock(&dev->srcu, idx);
	ret = scullmap_fault_result(mapped, err);
	trace_scullmap_fault(dev, vmf, mapped, err, ret);
	return ret;
}

#ifdef SCULLMAP_HAVE_MMAP_PREPARE
/* The new VMA exists and is mapped: count it, as open counts copies. */
static int scullmap_vm_mapped(unsigned long start, unsigned long end,
			      pgoff_t pgoff, const struct file *file,
			      void **vm_private_data)
{
	struct scullmap_dev *dev = *vm_private_data;

	atomic_inc(&dev->mappings);
	return 0;
}
#endif

static const struct vm_operations_struct scullmap_vm_ops = {
	.open = scullmap_vm_open,
	.close = scullmap_vm_close,
#ifdef SCULLMAP_HAVE_MMAP_PREPARE
	.mapped = scullmap_vm_mapped,
#endif
	.fault = scullmap_vm_fault,
#ifdef SCULLMAP_HAVE_PMD_MAPPINGS
	.huge_fault = scullmap_vm_huge_fault,
#endif
};

/*
 * Any page offset and length are accepted, as for a file, but the end of
 * the mapping must lie within SCULLMAP_MAX_BYTES.  Compared in pages, so
 * that nothing overflows.
 */
static bool scullmap_range_ok(pgoff_t pgoff, unsigned long pages)
{
	const unsigned long max_pages = SCULLMAP_MAX_BYTES >> PAGE_SHIFT;

	return pgoff <= max_pages && pages <= max_pages - pgoff;
}

/*
 * Both ways to set a mapping up set the same three things: VM_MIXEDMAP,
 * the vm_ops, and the device as the private data.  vm_insert_page() from a
 * fault handler needs VM_MIXEDMAP set now: it may not change the VMA's
 * flags under a read lock.  The entries it makes map ordinary, refcounted
 * pages, so copy-on-write, fork and GUP treat them as a file's pages.
 * Pages are mapped on first touch.  The mmap lock is held for writing, so
 * neither way takes a lock of the driver.
 */
#ifdef SCULLMAP_HAVE_MMAP_PREPARE

/**
 * scullmap_mmap_prepare() - the mmap_prepare file operation
 * @desc: the mapping about to be made
 *
 * Return: 0, or -ENXIO if the range lies beyond the largest device.
 */
int scullmap_mmap_prepare(struct vm_area_desc *desc)
{
	if (!scullmap_range_ok(desc->pgoff, vma_desc_pages(desc)))
		return -ENXIO;
#ifdef SCULLMAP_HAVE_PMD_MAPPINGS
	/*
	 * VM_HUGEPAGE, as device DAX sets it: in THP's "madvise" mode too,
	 * PMD entries without the program's MADV_HUGEPAGE, where the single
	 * pages of scullmap_map_page() would cost a fault each.
	 * MADV_NOHUGEPAGE still turns them off.
	 */
	if (scullmap_pmd_mappable(desc))
		vma_desc_set_flags(desc, VMA_HUGEPAGE_BIT);
	else
#endif
		vma_desc_set_flags(desc, VMA_MIXEDMAP_BIT);
	desc->vm_ops = &scullmap_vm_ops;
	desc->private_data = desc->file->private_data;
	return 0;
}

#else /* !SCULLMAP_HAVE_MMAP_PREPARE */

/**
 * scullmap_mmap() - the mmap file operation
 * @filp: an open file of the device
 * @vma:  the new mapping
 *
 * Return: 0, or -ENXIO if the range lies beyond the largest device.
 */
int scullmap_mmap(struct file *filp, struct vm_area_struct *vma)
{
	if (!scullmap_range_ok(vma->vm_pgoff, vma_pages(vma)))
		return -ENXIO;
	vm_flags_set(vma, VM_MIXEDMAP);
	vma->vm_ops = &scullmap_vm_ops;
	vma->vm_private_data = filp->private_data;
	scullmap_vm_open(vma);	/* the first mapping: open is not called */
	return 0;
}

#endif /* SCULLMAP_HAVE_MMAP_PREPARE */

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * scullmap - the kernel interfaces that changed between the kernels the
 * driver supports (6.1 to 7.3, the newest tested), each behind one helper.
 * Only this file tests LINUX_VERSION_CODE.
 */
#ifndef _SCULLMAP_COMPAT_H
#define _SCULLMAP_COMPAT_H

#include <linux/mm.h>
#include <linux/version.h>

#if KERNEL_VERSION(6, 3, 0) > LINUX_VERSION_CODE
/* 6.3 made vm_flags const: changes go through vm_flags_set() and friends. */
static inline void vm_flags_set(struct vm_area_struct *vma, vm_flags_t flags)
{
	vma->vm_flags |= flags;
}
#endif

/*
 * Which mmap interface each kernel gets:
 * - 6.1 to 7.1: f_op->mmap, which sets VM_MIXEDMAP with vm_flags_set()
 *   (the helper above before 6.3).  f_op->mmap_prepare exists from 6.16,
 *   but two things scullmap's version of it needs came later:
 *   vma_desc_set_flags() with VMA_MIXEDMAP_BIT (7.0) and vm_ops->mapped
 *   (7.1); and scullmap was never built on 6.16 to 7.1.
 * - 7.2 on (tested on 7.2 and 7.3): f_op->mmap_prepare describes the
 *   mapping before the VMA exists, and vm_ops->mapped reports it mapped.
 */
#if KERNEL_VERSION(7, 2, 0) <= LINUX_VERSION_CODE
#define SCULLMAP_HAVE_MMAP_PREPARE
#endif

/*
 * PMD entries for huge quanta (vmops.c) need vmf_insert_folio_pmd() and
 * vmf_insert_page_mkwrite(), which came after 6.12 (in 6.15, by the dates
 * of their patches), and a kernel built with transparent huge pages.
 * scullmap uses them from 7.3, the kernel they were tested on, whose
 * vma_desc_test() the mmap_prepare side needs.
 */
#if KERNEL_VERSION(7, 3, 0) <= LINUX_VERSION_CODE && defined(CONFIG_TRANSPARENT_HUGEPAGE)
#define SCULLMAP_HAVE_PMD_MAPPINGS
#endif

#endif /* _SCULLMAP_COMPAT_H */

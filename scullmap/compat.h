/* SPDX-License-Identifier: GPL-2.0 */
/*
 * scullmap - the kernel interfaces that changed between the kernels the
 * driver supports (6.1 to 7.2), each behind one helper.  Only this file
 * tests LINUX_VERSION_CODE.
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
 * f_op->mmap_prepare describes the mapping before the VMA exists, and
 * vm_ops->mapped then reports it mapped.  Both predate 7.2, but 7.2 is the
 * first kernel scullmap was built and tested against with them; older
 * kernels get f_op->mmap, which 7.2 still accepts.
 */
#if KERNEL_VERSION(7, 2, 0) <= LINUX_VERSION_CODE
#define SCULLMAP_HAVE_MMAP_PREPARE
#endif

#endif /* _SCULLMAP_COMPAT_H */

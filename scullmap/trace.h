/* SPDX-License-Identifier: GPL-2.0 */
/*
 * scullmap - trace events, under events/scullmap/ in tracefs.
 *
 * scullmap_fault: one call of the fault handler, with what it mapped and
 * what it answered.  scullmap_empty: the device dropped what it held.
 * Both are off until enabled, and cost a patched-out branch while off.
 * Documentation/fault-path.rst ("Watching a fault") shows them at work.
 *
 * This header is read several times by <trace/define_trace.h> (that is
 * what the TRACE_HEADER_MULTI_READ guard is for), once by vmops.c with
 * CREATE_TRACE_POINTS defined; Kbuild puts this directory on the include
 * path of the files that include it, so that define_trace.h finds it
 * again in an out-of-tree build.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM scullmap

#if !defined(_SCULLMAP_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _SCULLMAP_TRACE_H

#include <linux/kdev_t.h>
#include <linux/mm_types.h>
#include <linux/tracepoint.h>

#include <uapi/scullmap.h>
#include "scullmap.h"

/* So that tools reading the format file see the values, not the names. */
TRACE_DEFINE_ENUM(SCULLMAP_FAULT_NOPAGE);
TRACE_DEFINE_ENUM(SCULLMAP_FAULT_RETRY);
TRACE_DEFINE_ENUM(SCULLMAP_FAULT_SIGBUS);
TRACE_DEFINE_ENUM(SCULLMAP_FAULT_OOM);
TRACE_DEFINE_ENUM(SCULLMAP_EMPTY_TRUNC);
TRACE_DEFINE_ENUM(SCULLMAP_EMPTY_RESET);
TRACE_DEFINE_ENUM(SCULLMAP_EMPTY_GEOMETRY);

#define scullmap_show_backend(id)					\
	__print_symbolic(id,						\
			 { SCULLMAP_BACKEND_PAGES, "pages" },		\
			 { SCULLMAP_BACKEND_VMALLOC, "vmalloc" })

/*
 * A fault that mapped nothing but answers VM_FAULT_NOPAGE sends the task
 * back to retry the access: the event shows the errno that stopped it
 * instead (EBUSY: the page was mapped meanwhile; EFAULT: the page table
 * changed under the fault).
 */
TRACE_EVENT(scullmap_fault,
	    TP_PROTO(const struct scullmap_dev *dev, const struct vm_fault *vmf,
		     unsigned long mapped, int err, vm_fault_t ret),
	    TP_ARGS(dev, vmf, mapped, err, ret),
	    TP_STRUCT__entry(__field(unsigned int, minor)
			     __field(u32, backend)
			     __field(unsigned long, address)
			     __field(unsigned long, pgoff)
			     __field(bool, write)
			     __field(unsigned long, mapped)
			     __field(int, err)
			     __field(int, answer)),
	    TP_fast_assign(__entry->minor = MINOR(dev->device->devt);
			   __entry->backend = dev->backend->id;
			   __entry->address = vmf->address;
			   __entry->pgoff = vmf->pgoff;
			   __entry->write = !!(vmf->flags & FAULT_FLAG_WRITE);
			   __entry->mapped = mapped;
			   __entry->err = err;
			   __entry->answer =
				ret & VM_FAULT_OOM ? SCULLMAP_FAULT_OOM :
				ret & VM_FAULT_SIGBUS ? SCULLMAP_FAULT_SIGBUS :
				mapped ? SCULLMAP_FAULT_NOPAGE : SCULLMAP_FAULT_RETRY;),
	    TP_printk("minor=%u backend=%s address=0x%lx pgoff=%lu write=%d mapped=%lu result=%s",
		      __entry->minor, scullmap_show_backend(__entry->backend),
		      __entry->address, __entry->pgoff, __entry->write,
		      __entry->mapped,
		      __entry->answer == SCULLMAP_FAULT_RETRY ?
		      __print_symbolic(-__entry->err, { EBUSY, "EBUSY" },
				       { EFAULT, "EFAULT" }) :
		      __print_symbolic(__entry->answer,
				       { SCULLMAP_FAULT_NOPAGE, "NOPAGE" },
				       { SCULLMAP_FAULT_SIGBUS, "SIGBUS" },
				       { SCULLMAP_FAULT_OOM, "OOM" }))
);

/* The device dropped its data: @bytes of size, @pages of quanta. */
TRACE_EVENT(scullmap_empty,
	    TP_PROTO(const struct scullmap_dev *dev,
		     enum scullmap_empty_reason reason, loff_t bytes,
		     unsigned long pages),
	    TP_ARGS(dev, reason, bytes, pages),
	    TP_STRUCT__entry(__field(unsigned int, minor)
			     __field(u32, backend)
			     __field(int, reason)
			     __field(loff_t, bytes)
			     __field(unsigned long, pages)),
	    TP_fast_assign(__entry->minor = MINOR(dev->device->devt);
			   __entry->backend = dev->backend->id;
			   __entry->reason = reason;
			   __entry->bytes = bytes;
			   __entry->pages = pages;),
	    TP_printk("minor=%u backend=%s reason=%s bytes=%lld pages=%lu",
		      __entry->minor, scullmap_show_backend(__entry->backend),
		      __print_symbolic(__entry->reason,
				       { SCULLMAP_EMPTY_TRUNC, "O_TRUNC" },
				       { SCULLMAP_EMPTY_RESET, "RESET" },
				       { SCULLMAP_EMPTY_GEOMETRY, "SET_GEOMETRY" }),
		      __entry->bytes, __entry->pages)
);

#endif /* _SCULLMAP_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE trace
#include <trace/define_trace.h>

/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * scullmap ioctl interface, shared by the driver and user programs.
 *
 * Every ioctl works on any open file of a device.  The structures hold only
 * fixed-size fields in an order that needs no padding, so 32-bit and 64-bit
 * programs see the same layout.
 */
#ifndef _UAPI_SCULLMAP_H
#define _UAPI_SCULLMAP_H

#include <linux/ioctl.h>
#include <linux/types.h>

/* Limits of the geometry, for module parameters and SCULLMAP_IOC_SET_GEOMETRY. */
#define SCULLMAP_MAX_ORDER	10	/* a quantum is at most PAGE_SIZE << 10 */
#define SCULLMAP_MAX_QSET	4096	/* quanta in one quantum set */

/* Which allocator fills a device's quanta (struct scullmap_info.backend). */
#define SCULLMAP_BACKEND_PAGES		0	/* /dev/scullmapN: the page allocator */
#define SCULLMAP_BACKEND_VMALLOC	1	/* /dev/scullmapvN: vmalloc */

/**
 * struct scullmap_info - geometry and usage of one device
 * @size:      bytes in the device, as SEEK_END reports them
 * @max_size:  the size no write can go beyond (it fails with EFBIG there)
 * @quanta:    quanta allocated; holes in a sparse device take none
 * @qsets:     quantum sets allocated
 * @backend:   SCULLMAP_BACKEND_PAGES or SCULLMAP_BACKEND_VMALLOC
 * @order:     a quantum is (@page_size << @order) bytes
 * @qset:      quanta in one quantum set
 * @mappings:  live memory mappings (VMAs) of the device, in all processes
 * @page_size: the kernel's page size
 * @reserved:  zero
 */
struct scullmap_info {
	__u64 size;
	__u64 max_size;
	__u64 quanta;
	__u64 qsets;
	__u32 backend;
	__u32 order;
	__u32 qset;
	__u32 mappings;
	__u32 page_size;
	__u32 reserved;
};

/**
 * struct scullmap_geometry - the shape of a device's quanta
 * @order: a quantum is PAGE_SIZE << @order bytes, 0..SCULLMAP_MAX_ORDER
 * @qset:  quanta in one quantum set, 1..SCULLMAP_MAX_QSET
 */
struct scullmap_geometry {
	__u32 order;
	__u32 qset;
};

#define SCULLMAP_IOC_MAGIC	0xE7

/* Read the geometry and usage of the device. */
#define SCULLMAP_IOC_GET_INFO \
	_IOR(SCULLMAP_IOC_MAGIC, 0x01, struct scullmap_info)

/*
 * Change the geometry.  Needs CAP_SYS_ADMIN (EPERM), values in range
 * (EINVAL) and an empty device (EBUSY).
 */
#define SCULLMAP_IOC_SET_GEOMETRY \
	_IOW(SCULLMAP_IOC_MAGIC, 0x02, struct scullmap_geometry)

/*
 * Empty the device, as open(O_TRUNC) does: needs a file open for writing
 * (EBADF otherwise).  Mappings stay, and fault with SIGBUS on access.
 */
#define SCULLMAP_IOC_RESET \
	_IO(SCULLMAP_IOC_MAGIC, 0x03)

#endif /* _UAPI_SCULLMAP_H */

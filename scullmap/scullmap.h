/* SPDX-License-Identifier: GPL-2.0 */
/*
 * scullmap - the types the driver's files share.
 */
#ifndef _SCULLMAP_H
#define _SCULLMAP_H

#include <linux/cdev.h>
#include <linux/device.h>

/**
 * struct scullmap_dev - one device node and the bytes behind it
 * @cdev:   the character device; open() finds the device from it
 * @device: the device in the driver model, which makes the /dev node
 * @minor:  minor number: 0..nr_devs-1 page allocator, then vmalloc
 */
struct scullmap_dev {
	struct cdev cdev;
	struct device *device;
	unsigned int minor;
};

#endif /* _SCULLMAP_H */

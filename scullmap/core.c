// SPDX-License-Identifier: GPL-2.0
/*
 * scullmap - a character device whose mmap is served by its fault handler.
 *
 * This file: module parameters, the device nodes and the file operations.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/module.h>
#include <linux/slab.h>

#include <uapi/scullmap.h>
#include "scullmap.h"

#define SCULLMAP_MAX_DEVS	32	/* per back end */

static unsigned int nr_devs = 4;
module_param(nr_devs, uint, 0444);
MODULE_PARM_DESC(nr_devs, "devices per back end (1..32, default 4)");

static unsigned int order;
module_param(order, uint, 0444);
MODULE_PARM_DESC(order, "quantum order of page-allocator devices (0..10, default 0)");

static unsigned int vorder = 4;
module_param(vorder, uint, 0444);
MODULE_PARM_DESC(vorder, "quantum order of vmalloc devices (0..10, default 4)");

static unsigned int qset = 500;
module_param(qset, uint, 0444);
MODULE_PARM_DESC(qset, "quanta per quantum set (1..4096, default 500)");

static dev_t scullmap_first_devt;
static struct scullmap_dev *scullmap_devs;
static unsigned int scullmap_nr_minors;

static struct class scullmap_class = {
	.name = "scullmap",
};

static int scullmap_open(struct inode *inode, struct file *filp)
{
	filp->private_data = container_of(inode->i_cdev, struct scullmap_dev, cdev);
	return 0;
}

static const struct file_operations scullmap_fops = {
	.owner = THIS_MODULE,
	.open = scullmap_open,
};

/* Refuse a parameter outside [min, max] with a message that names it. */
static int scullmap_check_param(const char *name, unsigned int value,
				unsigned int min, unsigned int max)
{
	if (value >= min && value <= max)
		return 0;
	pr_err("%s=%u is out of range: it must be %u..%u\n", name, value, min, max);
	return -EINVAL;
}

static int scullmap_check_params(void)
{
	int err;

	err = scullmap_check_param("nr_devs", nr_devs, 1, SCULLMAP_MAX_DEVS);
	if (!err)
		err = scullmap_check_param("order", order, 0, SCULLMAP_MAX_ORDER);
	if (!err)
		err = scullmap_check_param("vorder", vorder, 0, SCULLMAP_MAX_ORDER);
	if (!err)
		err = scullmap_check_param("qset", qset, 1, SCULLMAP_MAX_QSET);
	return err;
}

static int scullmap_dev_add(struct scullmap_dev *dev, unsigned int minor)
{
	dev_t devt = scullmap_first_devt + minor;
	int err;

	dev->minor = minor;
	cdev_init(&dev->cdev, &scullmap_fops);
	dev->cdev.owner = THIS_MODULE;
	err = cdev_add(&dev->cdev, devt, 1);
	if (err)
		return err;

	if (minor < nr_devs)
		dev->device = device_create(&scullmap_class, NULL, devt, dev,
					    "scullmap%u", minor);
	else
		dev->device = device_create(&scullmap_class, NULL, devt, dev,
					    "scullmapv%u", minor - nr_devs);
	if (IS_ERR(dev->device)) {
		cdev_del(&dev->cdev);
		return PTR_ERR(dev->device);
	}
	return 0;
}

static void scullmap_dev_remove(struct scullmap_dev *dev)
{
	device_destroy(&scullmap_class, dev->cdev.dev);
	cdev_del(&dev->cdev);
}

static void scullmap_remove_devs(unsigned int count)
{
	while (count--)
		scullmap_dev_remove(&scullmap_devs[count]);
}

static int __init scullmap_init(void)
{
	unsigned int i;
	int err;

	err = scullmap_check_params();
	if (err)
		return err;

	scullmap_nr_minors = 2 * nr_devs;
	err = alloc_chrdev_region(&scullmap_first_devt, 0, scullmap_nr_minors,
				  KBUILD_MODNAME);
	if (err)
		return err;

	err = class_register(&scullmap_class);
	if (err)
		goto out_region;

	scullmap_devs = kcalloc(scullmap_nr_minors, sizeof(*scullmap_devs),
				GFP_KERNEL);
	if (!scullmap_devs) {
		err = -ENOMEM;
		goto out_class;
	}

	for (i = 0; i < scullmap_nr_minors; i++) {
		err = scullmap_dev_add(&scullmap_devs[i], i);
		if (err)
			goto out_devs;
	}
	return 0;

out_devs:
	scullmap_remove_devs(i);
	kfree(scullmap_devs);
out_class:
	class_unregister(&scullmap_class);
out_region:
	unregister_chrdev_region(scullmap_first_devt, scullmap_nr_minors);
	return err;
}

static void __exit scullmap_exit(void)
{
	scullmap_remove_devs(scullmap_nr_minors);
	kfree(scullmap_devs);
	class_unregister(&scullmap_class);
	unregister_chrdev_region(scullmap_first_devt, scullmap_nr_minors);
}

module_init(scullmap_init);
module_exit(scullmap_exit);

MODULE_DESCRIPTION("Character device with a fault-driven mmap on a quantum-set store");
MODULE_LICENSE("GPL");

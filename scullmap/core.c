// SPDX-License-Identifier: GPL-2.0
/*
 * scullmap - a character device whose mmap is served by its fault handler.
 *
 * This file: module parameters, the device nodes and the file operations.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/cdev.h>
#include <linux/fs.h>
#include <linux/module.h>
#include <linux/overflow.h>
#include <linux/pagemap.h>
#include <linux/sched/signal.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include <uapi/scullmap.h>
#include "scullmap.h"
#include "trace.h"

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
static struct cdev scullmap_cdev;	/* every minor: nr_devs of each back end */
static struct scullmap_dev *scullmap_devs;	/* indexed by minor */
static unsigned int scullmap_nr_minors;

static struct class scullmap_class = {
	.name = "scullmap",
};

/*
 * Put an empty tree with the given geometry in place of the device's, and
 * free the old one.  The order of the steps is what makes it safe while
 * read() and faults run without the lock:
 *
 *  1. publish the new tree: from now on, nobody finds the old one;
 *  2. wait for the SRCU readers that found it before: read()s finish their
 *     copies, faults finish installing their page table entries;
 *  3. remove every page table entry of the device, those too: the next
 *     access faults on the new tree, and gets SIGBUS for what is gone;
 *  4. free the old tree: no reader and no mapping can reach it.
 */
static int scullmap_replace_tree(struct scullmap_dev *dev, unsigned int order,
				 unsigned int qset, enum scullmap_empty_reason why)
{
	struct scullmap_tree *old, *new;

	lockdep_assert_held(&dev->lock);
	new = scullmap_tree_new(dev->backend, order, qset);
	if (!new)
		return -ENOMEM;
	old = rcu_replace_pointer(dev->tree, new, lockdep_is_held(&dev->lock));
	/* Under the lock: no writer changes the old tree's counts now. */
	trace_scullmap_empty(dev, why, old->size, old->nr_quanta << old->order);
	synchronize_srcu(&dev->srcu);
	scullmap_unmap_all(dev);
	scullmap_tree_free(old);
	return 0;
}

static struct scullmap_tree *scullmap_locked_tree(struct scullmap_dev *dev)
{
	return rcu_dereference_protected(dev->tree, lockdep_is_held(&dev->lock));
}

/* No data: the geometry may change.  (It may still hold empty sets.) */
static bool scullmap_tree_empty(struct scullmap_tree *tree)
{
	return !tree->size && !tree->nr_quanta;
}

/*
 * Nothing at all, not even a quantum set left behind by a write whose
 * quantum could not be allocated: emptying would free nothing.
 */
static bool scullmap_tree_bare(struct scullmap_tree *tree)
{
	return !tree->size && !tree->nr_qsets;
}

/* Empty the device, as truncating a file to 0 does.  Mappings stay. */
static int scullmap_empty(struct scullmap_dev *dev, enum scullmap_empty_reason why)
{
	struct scullmap_tree *tree;
	int err = 0;

	if (mutex_lock_killable(&dev->lock))
		return -EINTR;
	tree = scullmap_locked_tree(dev);
	if (!scullmap_tree_bare(tree))
		err = scullmap_replace_tree(dev, tree->order, tree->qset, why);
	mutex_unlock(&dev->lock);
	return err;
}

static int scullmap_open(struct inode *inode, struct file *filp)
{
	struct scullmap_dev *dev = &scullmap_devs[iminor(inode) - MINOR(scullmap_first_devt)];

	/*
	 * The VFS refuses O_DIRECT (there is no page cache to bypass), but
	 * only after this returns: refuse it first, or O_TRUNC would empty
	 * the device for an open that fails.
	 */
	if (filp->f_flags & O_DIRECT)
		return -EINVAL;
	filp->private_data = dev;
	/* Link the mappings of every open file into the one address_space. */
	filp->f_mapping = dev->inode->i_mapping;
	if ((filp->f_flags & O_TRUNC) && (filp->f_mode & FMODE_WRITE))
		return scullmap_empty(dev, SCULLMAP_EMPTY_TRUNC);
	return 0;
}

/*
 * At most this much of the user buffer is faulted in before the copy goes
 * on: a read into a buffer never touched makes one round per this much,
 * not one per page, yet does not fault in a whole huge buffer at once.
 */
#define SCULLMAP_FAULT_IN_MAX	SZ_1M

/*
 * Readers never wait on a user page inside their SRCU section (emptying
 * the device waits for that section): scullmap_tree_read() copies with
 * page faults disabled and stops at a page that is not present.  Fault it
 * in here, with no lock held, and go on.  The user buffer may be a mapping
 * of this very device: its fault takes no lock this holds.
 *
 * fault_in_safe_writeable() faults the pages in as a write would, through
 * GUP, without storing anything: read() changes no byte of the caller's
 * buffer beyond those it returns.  (fault_in_writeable() would store a zero
 * in every page it touches.)  And it faults in no more than the copy still
 * had to store.
 */
static ssize_t scullmap_read(struct file *filp, char __user *buf, size_t count,
			     loff_t *ppos)
{
	struct scullmap_dev *dev = filp->private_data;
	size_t done = 0, stuck, want;
	int idx;

	for (;;) {
		idx = srcu_read_lock(&dev->srcu);
		done += scullmap_tree_read(srcu_dereference(dev->tree, &dev->srcu),
					   buf + done, count - done, *ppos + done,
					   &stuck);
		srcu_read_unlock(&dev->srcu, idx);
		if (!stuck || fatal_signal_pending(current))
			break;
		/* A page that cannot be faulted in ends the read: EFAULT. */
		want = min_t(size_t, stuck, SCULLMAP_FAULT_IN_MAX);
		if (fault_in_safe_writeable(buf + done, want) == want)
			break;
	}

	*ppos += done;
	return done || !stuck ? done : -EFAULT;
}

/*
 * Writers hold the device lock across their copy from user space: that
 * keeps writes whole with respect to each other, and O_APPEND atomic.  It
 * is safe because the fault path never takes this lock, even when the
 * user buffer is a mapping of this device.
 */
static ssize_t scullmap_write(struct file *filp, const char __user *buf,
			      size_t count, loff_t *ppos)
{
	struct scullmap_dev *dev = filp->private_data;
	struct scullmap_tree *tree;
	loff_t pos;
	ssize_t ret;

	if (mutex_lock_killable(&dev->lock))
		return -EINTR;
	tree = scullmap_locked_tree(dev);
	pos = filp->f_flags & O_APPEND ? tree->size : *ppos;
	if (pos >= SCULLMAP_MAX_BYTES) {
		ret = count ? -EFBIG : 0;
	} else {
		count = min_t(u64, count, SCULLMAP_MAX_BYTES - pos);
		ret = scullmap_tree_write(tree, buf, count, pos);
	}
	if (ret > 0)
		*ppos = pos + ret;
	mutex_unlock(&dev->lock);
	return ret;
}

static loff_t scullmap_size(struct scullmap_dev *dev)
{
	loff_t size;
	int idx;

	idx = srcu_read_lock(&dev->srcu);
	/* Pairs with the release in scullmap_tree_write(). */
	size = smp_load_acquire(&srcu_dereference(dev->tree, &dev->srcu)->size);
	srcu_read_unlock(&dev->srcu, idx);
	return size;
}

static loff_t scullmap_seek_data(struct scullmap_dev *dev, loff_t pos, bool data)
{
	int idx;

	idx = srcu_read_lock(&dev->srcu);
	pos = scullmap_tree_seek(srcu_dereference(dev->tree, &dev->srcu), pos, data);
	srcu_read_unlock(&dev->srcu, idx);
	return pos;
}

static loff_t scullmap_llseek(struct file *filp, loff_t offset, int whence)
{
	struct scullmap_dev *dev = filp->private_data;

	switch (whence) {
	case SEEK_SET:
		break;
	case SEEK_CUR:
		if (check_add_overflow(filp->f_pos, offset, &offset))
			return -EINVAL;
		break;
	case SEEK_END:
		if (check_add_overflow(scullmap_size(dev), offset, &offset))
			return -EINVAL;
		break;
	case SEEK_DATA:
	case SEEK_HOLE:
		offset = scullmap_seek_data(dev, offset, whence == SEEK_DATA);
		if (offset < 0)
			return offset;
		break;
	default:
		return -EINVAL;
	}
	/* -EINVAL for a negative offset or one past the largest device */
	return vfs_setpos(filp, offset, SCULLMAP_MAX_BYTES);
}

static long scullmap_get_info(struct scullmap_dev *dev, void __user *arg)
{
	struct scullmap_info info = {
		.max_size = SCULLMAP_MAX_BYTES,
		.backend = dev->backend->id,
		.mappings = atomic_read(&dev->mappings),
		.page_size = PAGE_SIZE,
	};
	struct scullmap_tree *tree;
	int idx;

	idx = srcu_read_lock(&dev->srcu);
	tree = srcu_dereference(dev->tree, &dev->srcu);
	/* Pairs with the release in scullmap_tree_write(). */
	info.size = smp_load_acquire(&tree->size);
	info.quanta = READ_ONCE(tree->nr_quanta);
	info.qsets = READ_ONCE(tree->nr_qsets);
	info.order = tree->order;
	info.qset = tree->qset;
	srcu_read_unlock(&dev->srcu, idx);

	return copy_to_user(arg, &info, sizeof(info)) ? -EFAULT : 0;
}

static long scullmap_set_geometry(struct scullmap_dev *dev, void __user *arg)
{
	struct scullmap_geometry geo;
	long err = 0;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	if (copy_from_user(&geo, arg, sizeof(geo)))
		return -EFAULT;
	if (geo.order > SCULLMAP_MAX_ORDER || !geo.qset || geo.qset > SCULLMAP_MAX_QSET)
		return -EINVAL;

	if (mutex_lock_killable(&dev->lock))
		return -EINTR;
	if (!scullmap_tree_empty(scullmap_locked_tree(dev)))
		err = -EBUSY;
	else
		err = scullmap_replace_tree(dev, geo.order, geo.qset,
					    SCULLMAP_EMPTY_GEOMETRY);
	mutex_unlock(&dev->lock);
	return err;
}

static long scullmap_ioctl(struct file *filp, unsigned int cmd, unsigned long arg)
{
	struct scullmap_dev *dev = filp->private_data;

	switch (cmd) {
	case SCULLMAP_IOC_GET_INFO:
		return scullmap_get_info(dev, (void __user *)arg);
	case SCULLMAP_IOC_SET_GEOMETRY:
		return scullmap_set_geometry(dev, (void __user *)arg);
	case SCULLMAP_IOC_RESET:
		if (!(filp->f_mode & FMODE_WRITE))
			return -EBADF;
		return scullmap_empty(dev, SCULLMAP_EMPTY_RESET);
	default:
		return -ENOTTY;
	}
}

static const struct file_operations scullmap_fops = {
	.owner = THIS_MODULE,
	.open = scullmap_open,
	.read = scullmap_read,
	.write = scullmap_write,
	.llseek = scullmap_llseek,
	.unlocked_ioctl = scullmap_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
#ifdef SCULLMAP_HAVE_MMAP_PREPARE
	.mmap_prepare = scullmap_mmap_prepare,
#ifdef SCULLMAP_HAVE_PMD_MAPPINGS
	/* Mappings of 2 MiB or more start on a 2 MiB boundary, as PMDs do. */
	.get_unmapped_area = thp_get_unmapped_area,
#endif
#else
	.mmap = scullmap_mmap,
#endif
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

/* Give a device its store: lock, SRCU, an empty tree, its inode. */
static int scullmap_dev_init(struct scullmap_dev *dev, bool use_vmalloc)
{
	struct scullmap_tree *tree;
	int err;

	dev->backend = use_vmalloc ? &scullmap_vmalloc_backend : &scullmap_pages_backend;
	tree = scullmap_tree_new(dev->backend, use_vmalloc ? vorder : order, qset);
	if (!tree)
		return -ENOMEM;
	RCU_INIT_POINTER(dev->tree, tree);
	mutex_init(&dev->lock);
	init_rwsem(&dev->pmd_sem);
	atomic_set(&dev->mappings, 0);

	err = init_srcu_struct(&dev->srcu);
	if (err)
		goto out_tree;
	dev->inode = scullmap_mapping_new();
	if (IS_ERR(dev->inode)) {
		err = PTR_ERR(dev->inode);
		goto out_srcu;
	}
	return 0;

out_srcu:
	cleanup_srcu_struct(&dev->srcu);
out_tree:
	scullmap_tree_free(tree);
	return err;
}

/* Free a device's store; nobody can open or map it any more. */
static void scullmap_dev_destroy(struct scullmap_dev *dev)
{
	iput(dev->inode);
	cleanup_srcu_struct(&dev->srcu);
	scullmap_tree_free(rcu_dereference_protected(dev->tree, true));
}

static void scullmap_destroy_devs(unsigned int count)
{
	while (count--)
		scullmap_dev_destroy(&scullmap_devs[count]);
}

/* The stores of every device: minors below nr_devs use the page allocator. */
static int scullmap_init_devs(void)
{
	unsigned int i;
	int err;

	for (i = 0; i < scullmap_nr_minors; i++) {
		err = scullmap_dev_init(&scullmap_devs[i], i >= nr_devs);
		if (err) {
			scullmap_destroy_devs(i);
			return err;
		}
	}
	return 0;
}

static void scullmap_remove_nodes(unsigned int count)
{
	while (count--)
		device_destroy(&scullmap_class, scullmap_first_devt + count);
}

/*
 * The device in the driver model of every minor, which makes its /dev
 * node.  Until the cdev is added, opening a node fails with ENXIO in the
 * VFS, without reaching the driver.
 */
static int scullmap_add_nodes(void)
{
	struct device *device;
	unsigned int i;

	for (i = 0; i < scullmap_nr_minors; i++) {
		if (i < nr_devs)
			device = device_create(&scullmap_class, NULL, scullmap_first_devt + i,
					       NULL, "scullmap%u", i);
		else
			device = device_create(&scullmap_class, NULL, scullmap_first_devt + i,
					       NULL, "scullmapv%u", i - nr_devs);
		if (IS_ERR(device)) {
			scullmap_remove_nodes(i);
			return PTR_ERR(device);
		}
		scullmap_devs[i].device = device;
	}
	return 0;
}

/*
 * Everything that can fail comes before the one step that lets an open()
 * reach the driver: adding the cdev of all the minors at once.  If init
 * failed after an open() got in, the module would be freed under that open
 * file, for a failed init does not wait for the module's users.
 */
static int __init scullmap_init(void)
{
	int err;

	err = scullmap_check_params();
	if (err)
		return err;
	scullmap_usage_init();

	err = scullmap_vmops_init();
	if (err)
		return err;

	scullmap_nr_minors = 2 * nr_devs;
	err = alloc_chrdev_region(&scullmap_first_devt, 0, scullmap_nr_minors,
				  KBUILD_MODNAME);
	if (err)
		goto out_vmops;

	err = class_register(&scullmap_class);
	if (err)
		goto out_region;

	scullmap_devs = kcalloc(scullmap_nr_minors, sizeof(*scullmap_devs),
				GFP_KERNEL);
	if (!scullmap_devs) {
		err = -ENOMEM;
		goto out_class;
	}
	err = scullmap_init_devs();
	if (err)
		goto out_free;
	err = scullmap_add_nodes();
	if (err)
		goto out_devs;

	cdev_init(&scullmap_cdev, &scullmap_fops);
	scullmap_cdev.owner = THIS_MODULE;
	err = cdev_add(&scullmap_cdev, scullmap_first_devt, scullmap_nr_minors);
	if (err)
		goto out_nodes;
	/* Cannot fail: debugfs is a debugging aid, and may be absent. */
	scullmap_debugfs_init(scullmap_devs, scullmap_nr_minors);
	return 0;

out_nodes:
	scullmap_remove_nodes(scullmap_nr_minors);
out_devs:
	scullmap_destroy_devs(scullmap_nr_minors);
out_free:
	kfree(scullmap_devs);
out_class:
	class_unregister(&scullmap_class);
out_region:
	unregister_chrdev_region(scullmap_first_devt, scullmap_nr_minors);
out_vmops:
	scullmap_vmops_exit();
	return err;
}

static void __exit scullmap_exit(void)
{
	scullmap_debugfs_exit();
	cdev_del(&scullmap_cdev);
	scullmap_remove_nodes(scullmap_nr_minors);
	scullmap_destroy_devs(scullmap_nr_minors);
	kfree(scullmap_devs);
	class_unregister(&scullmap_class);
	unregister_chrdev_region(scullmap_first_devt, scullmap_nr_minors);
	scullmap_vmops_exit();
}

module_init(scullmap_init);
module_exit(scullmap_exit);

MODULE_DESCRIPTION("Character device with a fault-driven mmap on a quantum-set store");
MODULE_LICENSE("GPL");
MODULE_VERSION(SCULLMAP_VERSION);

// SPDX-License-Identifier: GPL-2.0
/*
 * scullmap - the memory the devices hold: a module-wide cap on it, and a
 * debugfs file that shows it.
 *
 * Whoever may write a device can make the driver allocate kernel memory,
 * and two limits bound that.  Each allocation is charged to the memory
 * cgroup of the task that writes (SCULLMAP_GFP), so its cgroup's limits
 * apply.  And all devices together hold at most max_mb MiB, counting the
 * quanta and the quantum-set arrays that index them: a write that would
 * pass the cap gets ENOSPC, as on a full file system.  The count drops when
 * a tree is freed; a page that a pin (O_DIRECT, io_uring) still holds then
 * lives on outside it until the pin goes.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/debugfs.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/seq_file.h>

#include "scullmap.h"

/* 0 until a value is given; then scullmap_usage_init() sets the default. */
static unsigned long max_mb;

/* Bytes held by all devices: quanta and quantum-set arrays. */
static atomic_long_t scullmap_held = ATOMIC_LONG_INIT(0);

static struct dentry *scullmap_debugfs_dir;
static struct scullmap_dev *scullmap_usage_devs;
static unsigned int scullmap_usage_nr_devs;

static unsigned long ram_mb(void)
{
	return totalram_pages() >> (20 - PAGE_SHIFT);
}

/* A cap above the RAM would be no cap at all: refuse it, and 0. */
static int max_mb_set(const char *val, const struct kernel_param *kp)
{
	unsigned long mb;

	if (kstrtoul(val, 0, &mb) || !mb || mb > ram_mb()) {
		pr_err("max_mb must be 1..%lu (MiB, at most the RAM)\n", ram_mb());
		return -EINVAL;
	}
	WRITE_ONCE(max_mb, mb);
	return 0;
}

static const struct kernel_param_ops max_mb_ops = {
	.set = max_mb_set,
	.get = param_get_ulong,
};
module_param_cb(max_mb, &max_mb_ops, &max_mb, 0644);
MODULE_PARM_DESC(max_mb, "MiB all devices may hold together (default a quarter of RAM)");

/**
 * scullmap_charge() - count memory a device is about to allocate
 * @bytes: how much
 *
 * Counted before the allocation, so that no two writers can both pass the
 * cap; undo it with scullmap_uncharge() if the allocation fails.
 *
 * Return: true if @bytes fit under the cap and are now counted.
 */
bool scullmap_charge(size_t bytes)
{
	unsigned long limit = READ_ONCE(max_mb) << 20;
	long held = atomic_long_read(&scullmap_held);

	do {
		if (bytes > limit || held > limit - bytes)
			return false;
	} while (!atomic_long_try_cmpxchg(&scullmap_held, &held, held + bytes));
	return true;
}

/**
 * scullmap_uncharge() - count memory a device has freed
 * @bytes: how much
 */
void scullmap_uncharge(size_t bytes)
{
	atomic_long_sub(bytes, &scullmap_held);
}

static void usage_show_dev(struct seq_file *m, struct scullmap_dev *dev,
			   struct scullmap_usage *total)
{
	struct scullmap_usage usage;
	int idx;

	idx = srcu_read_lock(&dev->srcu);
	scullmap_tree_usage(srcu_dereference(dev->tree, &dev->srcu), &usage);
	srcu_read_unlock(&dev->srcu, idx);
	usage.mappings = atomic_read(&dev->mappings);

	seq_printf(m, "%-12s %14lld %10lu %10lu %8u\n", dev_name(dev->device),
		   usage.size, usage.pages, usage.index_bytes, usage.mappings);
	total->size += usage.size;
	total->pages += usage.pages;
	total->index_bytes += usage.index_bytes;
	total->mappings += usage.mappings;
}

/*
 * One line per device, their sum, then what the cap counts.  The sum and
 * the count agree whenever no write or emptying is under way.
 */
static int usage_show(struct seq_file *m, void *unused)
{
	struct scullmap_usage total = { };
	unsigned int i;

	seq_printf(m, "%-12s %14s %10s %10s %8s\n",
		   "device", "size", "pages", "index", "mappings");
	for (i = 0; i < scullmap_usage_nr_devs; i++)
		usage_show_dev(m, &scullmap_usage_devs[i], &total);
	seq_printf(m, "%-12s %14lld %10lu %10lu %8u\n", "total",
		   total.size, total.pages, total.index_bytes, total.mappings);
	seq_printf(m, "held_bytes %ld\n", atomic_long_read(&scullmap_held));
	seq_printf(m, "max_bytes %lu\n", READ_ONCE(max_mb) << 20);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(usage);

/**
 * scullmap_usage_init() - give the cap its default, unless max_mb was given
 *
 * Called before the first device exists, so that no write sees a cap of 0.
 */
void scullmap_usage_init(void)
{
	if (!max_mb)
		max_mb = max(ram_mb() / 4, 1UL);
}

/**
 * scullmap_debugfs_init() - show the devices in <debugfs>/scullmap/usage
 * @devs:    the devices, which live until scullmap_debugfs_exit()
 * @nr_devs: how many
 *
 * A kernel without debugfs, or a failure to make the file, costs the file
 * and nothing else: the debugfs calls take care of that themselves.
 */
void scullmap_debugfs_init(struct scullmap_dev *devs, unsigned int nr_devs)
{
	scullmap_usage_devs = devs;
	scullmap_usage_nr_devs = nr_devs;
	scullmap_debugfs_dir = debugfs_create_dir(KBUILD_MODNAME, NULL);
	debugfs_create_file("usage", 0400, scullmap_debugfs_dir, NULL, &usage_fops);
}

/**
 * scullmap_debugfs_exit() - remove the file, before the devices go
 *
 * debugfs_remove() waits for the readers inside usage_show().
 */
void scullmap_debugfs_exit(void)
{
	debugfs_remove(scullmap_debugfs_dir);
}

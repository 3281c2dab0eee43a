// SPDX-License-Identifier: GPL-2.0
/*
 * scullmap - the quantum-set tree that holds a device's bytes.
 *
 * Byte offset pos lives in quantum number pos / quantum_bytes; quantum qnum
 * lives in slot qnum % qset of quantum set qnum / qset.  The quantum sets
 * hang in an xarray indexed by set number, so finding a byte costs the same
 * at any offset, and a sparse device holds no memory for its holes: a set
 * never written is absent from the xarray, a quantum never written is NULL
 * in its set.
 *
 * Concurrency: writers hold the device's lock; readers hold only the
 * device's SRCU read lock (which keeps the tree alive, see core.c) and may
 * run alongside a writer.  So a writer publishes each new quantum set once
 * it is zeroed (xa_store), each new quantum once it is filled with the
 * bytes written and zeros (smp_store_release), and raises the size only
 * after the data below it is copied; readers load the size first with an
 * acquire, then the data.
 */
#include <linux/mm.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "scullmap.h"

/**
 * struct scullmap_qset - one quantum set
 * @used:    non-NULL entries in @quantum
 * @quantum: kernel addresses of the quanta, NULL for a hole
 */
struct scullmap_qset {
	unsigned int used;
	void *quantum[];
};

static unsigned int quantum_shift(const struct scullmap_tree *tree)
{
	return PAGE_SHIFT + tree->order;
}

static size_t quantum_bytes(const struct scullmap_tree *tree)
{
	return PAGE_SIZE << tree->order;
}

static size_t qset_bytes(const struct scullmap_tree *tree)
{
	struct scullmap_qset *qs;

	return struct_size(qs, quantum, tree->qset);
}

/* What the tree holds, as the cap counts it (see usage.c). */
static size_t tree_bytes(const struct scullmap_tree *tree)
{
	return tree->nr_quanta * quantum_bytes(tree) +
	       tree->nr_qsets * qset_bytes(tree);
}

/**
 * scullmap_tree_new() - make an empty tree
 * @backend: the allocator of its quanta
 * @order:   a quantum is PAGE_SIZE << @order bytes
 * @qset:    quanta per quantum set
 *
 * Return: the tree, or NULL if out of memory.
 */
struct scullmap_tree *scullmap_tree_new(const struct scullmap_backend *backend,
					unsigned int order, unsigned int qset)
{
	struct scullmap_tree *tree = kzalloc(sizeof(*tree), GFP_KERNEL);

	if (!tree)
		return NULL;
	tree->backend = backend;
	tree->order = order;
	tree->qset = qset;
	/* Its nodes are charged to the writer's memory cgroup too. */
	xa_init_flags(&tree->qsets, XA_FLAGS_ACCOUNT);
	return tree;
}

/**
 * scullmap_tree_free() - free a tree and drop its references to its pages
 * @tree: a tree no reader can reach any more
 */
void scullmap_tree_free(struct scullmap_tree *tree)
{
	struct scullmap_qset *qs;
	unsigned long set, slot;

	xa_for_each(&tree->qsets, set, qs) {
		for (slot = 0; slot < tree->qset; slot++)
			if (qs->quantum[slot])
				tree->backend->free(qs->quantum[slot], tree->order);
		kvfree(qs);
		cond_resched();
	}
	xa_destroy(&tree->qsets);
	scullmap_uncharge(tree_bytes(tree));
	kfree(tree);
}

/* The quantum set of quantum @qnum, or NULL.  Lockless. */
static struct scullmap_qset *find_qset(struct scullmap_tree *tree,
				       unsigned long qnum)
{
	return xa_load(&tree->qsets, qnum / tree->qset);
}

/* The quantum @qnum, or NULL for a hole.  Lockless. */
static void *find_quantum(struct scullmap_tree *tree, unsigned long qnum)
{
	struct scullmap_qset *qs = find_qset(tree, qnum);

	/* Pairs with the release in write_quantum(): the quantum is filled. */
	return qs ? smp_load_acquire(&qs->quantum[qnum % tree->qset]) : NULL;
}

/*
 * The quantum set of quantum @qnum, allocated if missing, or an ERR_PTR:
 * -ENOSPC past the cap, -ENOMEM.  Writers only.
 */
static struct scullmap_qset *grow_qset(struct scullmap_tree *tree,
				       unsigned long qnum)
{
	struct scullmap_qset *qs = find_qset(tree, qnum);

	if (qs)
		return qs;
	if (!scullmap_charge(qset_bytes(tree)))
		return ERR_PTR(-ENOSPC);
	/*
	 * With __GFP_RETRY_MAYFAIL, kvzalloc() also tries harder for a
	 * contiguous array before it falls back to vmalloc: a set is 4 KiB
	 * at the default qset, 32 KiB at most.
	 */
	qs = kvzalloc(qset_bytes(tree), SCULLMAP_GFP);
	if (!qs)
		goto out_uncharge;
	if (xa_err(xa_store(&tree->qsets, qnum / tree->qset, qs, SCULLMAP_GFP))) {
		kvfree(qs);
		goto out_uncharge;
	}
	WRITE_ONCE(tree->nr_qsets, tree->nr_qsets + 1);
	return qs;

out_uncharge:
	scullmap_uncharge(qset_bytes(tree));
	return ERR_PTR(-ENOMEM);
}

/*
 * Copy @chunk bytes from @buf into a quantum that no reader can see yet,
 * at @offset, and zero the rest of it: the allocator does not zero, so
 * that no byte is stored twice.  A copy that faults leaves zeros from
 * where it stopped.  Returns the bytes not copied, as __copy_from_user().
 */
static size_t fill_new_quantum(struct scullmap_tree *tree, void *quantum,
			       size_t offset, const char __user *buf,
			       size_t chunk)
{
	size_t left, end;

	memset(quantum, 0, offset);
	left = __copy_from_user(quantum + offset, buf, chunk);
	end = offset + chunk - left;
	memset(quantum + end, 0, quantum_bytes(tree) - end);
	return left;
}

/*
 * Write @chunk bytes from @buf at @offset of quantum @qnum, allocating the
 * quantum (and its set) if missing.  A new quantum is filled before it is
 * published, so readers and faults find a hole or the written bytes, never
 * a half-filled quantum or another owner's old data.  A quantum whose
 * copy then faults stays, zero-filled after what was copied, as does a
 * set made for a quantum that then fails: a reader may have found them.
 * Writers only.
 *
 * Return: the bytes not copied; all of @chunk, with @err set to -ENOSPC
 * (past the cap) or -ENOMEM, if the set or the quantum could not be made.
 */
static size_t write_quantum(struct scullmap_tree *tree, unsigned long qnum,
			    size_t offset, const char __user *buf,
			    size_t chunk, int *err)
{
	struct scullmap_qset *qs = grow_qset(tree, qnum);
	void **slot;
	void *quantum;
	size_t left;

	*err = 0;
	if (IS_ERR(qs)) {
		*err = PTR_ERR(qs);
		return chunk;
	}
	slot = &qs->quantum[qnum % tree->qset];
	if (*slot)
		return __copy_from_user(*slot + offset, buf, chunk);

	if (!scullmap_charge(quantum_bytes(tree))) {
		*err = -ENOSPC;
		return chunk;
	}
	quantum = tree->backend->alloc(tree->order);
	if (!quantum) {
		scullmap_uncharge(quantum_bytes(tree));
		*err = -ENOMEM;
		return chunk;
	}
	left = fill_new_quantum(tree, quantum, offset, buf, chunk);
	/* The release orders the filling before the pointer (find_quantum()). */
	smp_store_release(slot, quantum);
	qs->used++;
	WRITE_ONCE(tree->nr_quanta, tree->nr_quanta + 1);
	return left;
}

/* Where byte @pos lies inside its quantum. */
static size_t quantum_offset(struct scullmap_tree *tree, loff_t pos)
{
	return pos & (quantum_bytes(tree) - 1);
}

/* Bytes from @pos to the end of its quantum, at most @count. */
static size_t chunk_at(struct scullmap_tree *tree, loff_t pos, size_t count)
{
	return min(quantum_bytes(tree) - quantum_offset(tree, pos), count);
}

/**
 * scullmap_tree_read() - copy bytes of a tree to user space
 * @tree:  the tree, kept alive by the caller's SRCU read lock
 * @buf:   user buffer
 * @count: bytes wanted
 * @pos:   offset of the first
 * @stuck: set to the bytes it still had to copy when it stopped at a user
 *         page that is not present; 0 if it did not stop there
 *
 * Copies a quantum at a time, and zeros for holes, with page faults
 * disabled: the caller holds an SRCU read lock, which emptying the device
 * waits for, and a user page may take any time to fault in (one of a FUSE
 * file or a userfaultfd region: for ever).  The caller faults the page in
 * with no lock held and calls again.
 *
 * Return: bytes copied; fewer than @count at the end of the device, or
 * when @stuck is set.
 */
size_t scullmap_tree_read(struct scullmap_tree *tree, char __user *buf,
			  size_t count, loff_t pos, size_t *stuck)
{
	/* Pairs with the release in scullmap_tree_write(): data, then size. */
	loff_t size = smp_load_acquire(&tree->size);
	size_t done = 0;

	*stuck = 0;
	if (pos >= size)
		return 0;
	count = min_t(loff_t, count, size - pos);

	while (done < count) {
		size_t chunk = chunk_at(tree, pos + done, count - done);
		void *quantum = find_quantum(tree, (pos + done) >> quantum_shift(tree));
		size_t offset = quantum_offset(tree, pos + done);
		size_t left;

		pagefault_disable();
		if (quantum)
			left = copy_to_user(buf + done, quantum + offset, chunk);
		else
			left = clear_user(buf + done, chunk);
		pagefault_enable();
		done += chunk - left;
		if (left) {
			*stuck = count - done;
			break;
		}
		cond_resched();
	}
	return done;
}

/*
 * Zero the bytes from the end of the device to @pos, within the last page.
 * A MAP_SHARED mapping may store there (the page maps, the size does not
 * cover it); once a write beyond them makes them part of the device, they
 * must read as zeros, as they do in a file.  Writers only.
 */
static void zero_tail(struct scullmap_tree *tree, loff_t pos)
{
	loff_t end = min_t(loff_t, pos, round_up(tree->size, PAGE_SIZE));
	void *quantum = find_quantum(tree, tree->size >> quantum_shift(tree));

	if (quantum && tree->size < end)
		memset(quantum + quantum_offset(tree, tree->size), 0,
		       end - tree->size);
}

/**
 * scullmap_tree_write() - copy bytes from user space into a tree
 * @tree:  the tree; the caller holds the device's lock
 * @buf:   user buffer
 * @count: bytes to write; @pos + @count must not pass SCULLMAP_MAX_BYTES
 * @pos:   offset of the first
 *
 * Allocates the quanta (and quantum sets) the range touches, copies a
 * quantum at a time, and raises the size as the data lands.  A quantum
 * allocated for a copy that then faults stays, zero-filled past what was
 * copied, like a file's block.
 *
 * Return: bytes written, or if none could be: -ENOSPC (the module-wide
 * cap), -ENOMEM or -EFAULT.
 */
ssize_t scullmap_tree_write(struct scullmap_tree *tree, const char __user *buf,
			    size_t count, loff_t pos)
{
	ssize_t err = 0;
	size_t done = 0;

	/*
	 * copy_from_user() zero-fills what it could not copy, which would
	 * wipe device bytes this write never reached.  __copy_from_user()
	 * leaves them alone, but trusts its caller to have checked the range.
	 */
	if (!access_ok(buf, count))
		return -EFAULT;
	if (pos > tree->size)
		zero_tail(tree, pos);

	while (done < count) {
		size_t chunk = chunk_at(tree, pos + done, count - done);
		size_t left;
		int qerr;

		left = write_quantum(tree, (pos + done) >> quantum_shift(tree),
				     quantum_offset(tree, pos + done), buf + done,
				     chunk, &qerr);
		if (qerr) {
			err = qerr;
			break;
		}
		done += chunk - left;
		if (pos + done > tree->size) {
			/* The bytes are in place: release them to the readers. */
			smp_store_release(&tree->size, pos + done);
		}
		if (left) {
			err = -EFAULT;
			break;
		}
		cond_resched();
	}
	return done ? done : err;
}

/**
 * scullmap_tree_seek() - SEEK_DATA and SEEK_HOLE, a quantum at a time
 * @tree: the tree, kept alive by the caller's SRCU read lock or lock
 * @pos:  where to start
 * @data: true for SEEK_DATA, false for SEEK_HOLE
 *
 * Return: the first offset at or after @pos in data (or in a hole, the end
 * of the device counting as one), or -ENXIO if @pos is not inside the
 * device or no data follows it.
 */
loff_t scullmap_tree_seek(struct scullmap_tree *tree, loff_t pos, bool data)
{
	/* Pairs with the release in scullmap_tree_write(). */
	loff_t size = smp_load_acquire(&tree->size);
	unsigned int shift = quantum_shift(tree);
	unsigned long qnum, last, set;

	if (pos < 0 || pos >= size)
		return -ENXIO;
	last = (size - 1) >> shift;
	for (qnum = pos >> shift; qnum <= last; qnum++) {
		if (!find_qset(tree, qnum)) {
			if (!data)
				break;
			/* Jump over the missing sets to the next one there is. */
			set = qnum / tree->qset;
			if (!xa_find_after(&tree->qsets, &set, ULONG_MAX, XA_PRESENT))
				return -ENXIO;
			qnum = set * tree->qset;
			if (qnum > last)
				return -ENXIO;
		}
		if (!!find_quantum(tree, qnum) == data)
			break;
		if (qnum % tree->qset == tree->qset - 1)
			cond_resched();
	}
	if (qnum > last)
		return data ? -ENXIO : size;
	return max_t(loff_t, pos, (loff_t)qnum << shift);
}

/**
 * scullmap_tree_pages() - the pages behind a run of device pages
 * @tree:  the tree, kept alive by the caller's SRCU read lock
 * @pgoff: page offset in the device of the first (vmf->pgoff)
 * @pages: where to store them
 * @max:   at most this many
 *
 * Looks each quantum set up once, walks its slots in order, and asks the
 * back end for each quantum's pages in one call, however many the run
 * takes.  The last, partial page of the device counts as data.  Its bytes
 * after the end are not the device's: zeros at first, they hold whatever a
 * shared mapping stores there, until a write() that grows the device past
 * them zeros them (zero_tail()).
 *
 * Return: how many consecutive pages from @pgoff on hold data, stored in
 * @pages: the run stops at the first hole and at the end of the device.
 * 0 if @pgoff itself is in a hole or wholly past the end.
 */
unsigned int scullmap_tree_pages(struct scullmap_tree *tree, pgoff_t pgoff,
				 struct page **pages, unsigned int max)
{
	/* Pairs with the release in scullmap_tree_write(). */
	loff_t size = smp_load_acquire(&tree->size);
	/* In pages: pgoff << PAGE_SHIFT could overflow. */
	pgoff_t end = DIV_ROUND_UP_ULL(size, PAGE_SIZE);
	unsigned long per_quantum = 1UL << tree->order;
	unsigned long qnum = pgoff >> tree->order;
	/* Divide once; from here on, step from slot to slot. */
	unsigned long set = qnum / tree->qset, slot = qnum % tree->qset;
	unsigned long first = pgoff & (per_quantum - 1);
	struct scullmap_qset *qs;
	unsigned int n = 0, nr;
	void *quantum;

	if (pgoff >= end)
		return 0;
	max = min_t(pgoff_t, max, end - pgoff);
	qs = xa_load(&tree->qsets, set);
	while (n < max && qs) {
		/* Pairs with the release in write_quantum(). */
		quantum = smp_load_acquire(&qs->quantum[slot]);
		if (!quantum)
			break;
		nr = min_t(unsigned long, per_quantum - first, max - n);
		tree->backend->pages(quantum, first, nr, pages + n);
		n += nr;
		first = 0;
		if (++slot == tree->qset) {
			slot = 0;
			qs = xa_load(&tree->qsets, ++set);
		}
	}
	return n;
}

/**
 * scullmap_tree_quantum_page() - the first page of a whole quantum
 * @tree:  the tree, kept alive by the caller's SRCU read lock
 * @pgoff: page offset in the device of the quantum's first page
 *
 * For a fault that maps a whole quantum with one entry: every page of it
 * must be data, so the quantum must lie wholly below the end of the device
 * (the last, partial quantum goes page by page, as scullmap_tree_pages()
 * maps it).
 *
 * Return: the page, or NULL if @pgoff does not start a quantum, or the
 * quantum is a hole or reaches past the end of the device.
 */
struct page *scullmap_tree_quantum_page(struct scullmap_tree *tree, pgoff_t pgoff)
{
	/* Pairs with the release in scullmap_tree_write(). */
	loff_t size = smp_load_acquire(&tree->size);
	unsigned long per_quantum = 1UL << tree->order;
	struct page *page;
	void *quantum;

	/* pgoff is below SCULLMAP_MAX_BYTES in pages: no sum overflows. */
	if (pgoff & (per_quantum - 1) || pgoff + per_quantum > size >> PAGE_SHIFT)
		return NULL;
	quantum = find_quantum(tree, pgoff >> tree->order);
	if (!quantum)
		return NULL;
	tree->backend->pages(quantum, 0, 1, &page);
	return page;
}

/**
 * scullmap_tree_usage() - what a tree holds
 * @tree:  the tree, kept alive by the caller's SRCU read lock or lock
 * @usage: where to store it; @usage->mappings is left alone
 */
void scullmap_tree_usage(struct scullmap_tree *tree, struct scullmap_usage *usage)
{
	/* Pairs with the release in scullmap_tree_write(). */
	usage->size = smp_load_acquire(&tree->size);
	usage->pages = READ_ONCE(tree->nr_quanta) << tree->order;
	usage->index_bytes = READ_ONCE(tree->nr_qsets) * qset_bytes(tree);
}

// SPDX-License-Identifier: GPL-2.0-only OR MIT
/*
 * edge_npu_platform.c - the simulated silicon's home in the kernel: what the device model of
 * silicon/npu_device.c needs from its host (silicon/npu_platform.h), and the register backend
 * and interrupt line the rest of the driver uses.
 *
 * With real silicon this file is what changes: enpu_reg_read()/enpu_reg_write() become
 * readl()/writel() on the engine's MMIO window, and the IRQ comes from the platform device's
 * resources instead of being allocated here.
 *
 * Execution context: one kthread per engine, at nice -20, runs the model (its ring consumer and
 * the engine's slices, with cond_resched() between slices). The model's lock is a spinlock (its critical
 * sections are register accesses and bookkeeping; engine work runs without it); its sleep is
 * an interruptible wait (an idle device is not a hung task). Interrupt: the model raises it
 * from its kthread through an irq_work, whose hard-IRQ callback injects a Linux interrupt on a
 * descriptor of our own (dummy chip, handle_simple_irq); the driver requests it as any device
 * interrupt, with a threaded handler (edge_npu_job.c).
 */
#include <linux/interrupt.h>
#include <linux/irq.h>
#include <linux/irq_work.h>
#include <linux/kthread.h>
#include <linux/mm.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/wait.h>

#include "edge_npu_drv.h"

/**
 * struct enpu_silicon - one engine's device model and the kernel services it runs on.
 * @dev: the model.
 * @lock: the model's lock.
 * @wq: where the model's kthread sleeps.
 * @wake_seq: bumped by every wake, so a wait cannot miss one.
 * @exited: the model's main has returned.
 * @main: the model's main, run by the kthread.
 * @arg: its argument.
 * @irq_work: hop from the model's kthread to hard-IRQ context.
 * @virq: the interrupt number of the engine.
 */
struct enpu_silicon {
	struct npu_device dev;
	spinlock_t lock;
	wait_queue_head_t wq;
	u64 wake_seq;
	struct completion exited;
	void (*main)(void *arg);
	void *arg;
	struct irq_work irq_work;
	int virq;
};

static struct enpu_silicon *to_silicon(void *host)
{
	return host;
}

static int enpu_silicon_thread(void *data)
{
	struct enpu_silicon *s = data;

	s->main(s->arg);
	complete(&s->exited);
	return 0;
}

static int enpu_silicon_start(void *host, void (*main)(void *arg), void *arg)
{
	struct enpu_silicon *s = to_silicon(host);
	struct task_struct *t;

	s->main = main;
	s->arg = arg;
	t = kthread_create(enpu_silicon_thread, s, "npu-silicon-%d", s->virq);
	if (IS_ERR(t))
		return PTR_ERR(t);
	/*
	 * The engine is hardware: the host's own tasks must not hold its jobs past their
	 * timeout (4 KiB copies timed out now and then in the 8 x 2 load test, the VM's two
	 * CPUs shared with 16 client threads, on a loaded host). First among fair tasks, not a
	 * real-time one: a long job's slices would starve them.
	 */
	set_user_nice(t, MIN_NICE);
	wake_up_process(t);
	return 0;
}

static void enpu_silicon_join(void *host)
{
	wait_for_completion(&to_silicon(host)->exited);
}

static void enpu_silicon_lock(void *host)
{
	spin_lock(&to_silicon(host)->lock);
}

static void enpu_silicon_unlock(void *host)
{
	spin_unlock(&to_silicon(host)->lock);
}

static void enpu_silicon_wait(void *host, u64 timeout_ns)
{
	struct enpu_silicon *s = to_silicon(host);
	u64 seq = s->wake_seq;

	spin_unlock(&s->lock);
	/* a high-resolution timeout: a paced job's end is due within microseconds, not jiffies */
	if (timeout_ns)
		wait_event_interruptible_hrtimeout(s->wq, READ_ONCE(s->wake_seq) != seq,
						   ns_to_ktime(timeout_ns));
	else
		wait_event_interruptible(s->wq, READ_ONCE(s->wake_seq) != seq);
	spin_lock(&s->lock);
}

static void enpu_silicon_wake(void *host)
{
	struct enpu_silicon *s = to_silicon(host);

	WRITE_ONCE(s->wake_seq, s->wake_seq + 1);
	wake_up_interruptible(&s->wq);
}

static void enpu_silicon_yield(void *host)
{
	cond_resched();
}

static u64 enpu_silicon_now_ns(void *host)
{
	return ktime_get_ns();
}

static void enpu_silicon_raise_irq(void *host)
{
	irq_work_queue(&to_silicon(host)->irq_work);
}

/*
 * The device reaches memory by physical address, here through the kernel's direct map: the
 * driver's page tables hold page_to_phys() of shmem pages and of its own table pages.
 */
static void *enpu_silicon_phys_to_ptr(void *host, u64 phys)
{
	return pfn_valid(PHYS_PFN(phys)) ? phys_to_virt(phys) : NULL;
}

static const struct npu_platform_ops enpu_silicon_ops = {
	.start = enpu_silicon_start,
	.join = enpu_silicon_join,
	.lock = enpu_silicon_lock,
	.unlock = enpu_silicon_unlock,
	.wait = enpu_silicon_wait,
	.wake = enpu_silicon_wake,
	.yield = enpu_silicon_yield,
	.now_ns = enpu_silicon_now_ns,
	.irq = enpu_silicon_raise_irq,
	.phys_to_ptr = enpu_silicon_phys_to_ptr,
};

/* Hard-IRQ context: the line is asserted; Linux runs the handlers requested on it. */
static void enpu_silicon_irq_work(struct irq_work *work)
{
	generic_handle_irq(container_of(work, struct enpu_silicon, irq_work)->virq);
}

/*
 * An interrupt descriptor of our own, requestable with a threaded handler. Its owner is no
 * module: request_irq() pins the owner, and ours would then never unload.
 */
static int enpu_silicon_alloc_irq(struct enpu_silicon *s)
{
	int virq = __irq_alloc_descs(-1, 0, 1, NUMA_NO_NODE, NULL, NULL);

	if (virq < 0)
		return virq;
	irq_set_chip_and_handler(virq, &dummy_irq_chip, handle_simple_irq);
	irq_modify_status(virq, IRQ_NOREQUEST | IRQ_NOAUTOEN, IRQ_NOPROBE);
	s->virq = virq;
	return 0;
}

/**
 * enpu_silicon_create() - builds and starts one engine's device model.
 * @caps: %NPU_CAP_* of its engine.
 * @out: the device.
 *
 * Return: 0, or a negative errno.
 */
int enpu_silicon_create(u32 caps, struct enpu_silicon **out)
{
	struct enpu_silicon *s = kvzalloc(sizeof(*s), GFP_KERNEL);
	int ret;

	if (!s)
		return -ENOMEM;
	spin_lock_init(&s->lock);
	init_waitqueue_head(&s->wq);
	init_completion(&s->exited);
	init_irq_work(&s->irq_work, enpu_silicon_irq_work);
	ret = enpu_silicon_alloc_irq(s);
	if (ret)
		goto err_free;
	npu_dev_init(&s->dev, &enpu_silicon_ops, s, caps);
	ret = npu_dev_start(&s->dev) ? -ENOMEM : 0;
	if (ret)
		goto err_irq;
	*out = s;
	return 0;

err_irq:
	irq_free_desc(s->virq);
err_free:
	kvfree(s);
	return ret;
}

/**
 * enpu_silicon_destroy() - stops the model and frees it; the IRQ must have been freed.
 * @s: the device (NULL is fine).
 */
void enpu_silicon_destroy(struct enpu_silicon *s)
{
	if (!s)
		return;
	npu_dev_stop(&s->dev);
	irq_work_sync(&s->irq_work);
	irq_free_desc(s->virq);
	kvfree(s);
}

/**
 * enpu_silicon_irq() - the engine's interrupt number, for request_threaded_irq().
 * @s: the device.
 *
 * Return: the IRQ.
 */
int enpu_silicon_irq(struct enpu_silicon *s)
{
	return s->virq;
}

/**
 * enpu_reg_read() - reads an engine register (NPU_REG_* of silicon/npu_regs.h).
 * @s: the device.
 * @off: the register's offset.
 *
 * Return: its value.
 */
u32 enpu_reg_read(struct enpu_silicon *s, u32 off)
{
	return npu_dev_read(&s->dev, off);
}

/**
 * enpu_reg_write() - writes an engine register.
 * @s: the device.
 * @off: the register's offset.
 * @val: the value.
 */
void enpu_reg_write(struct enpu_silicon *s, u32 off, u32 val)
{
	/*
	 * The pace and thermal_* parameters are the simulation's settings, not the driver's:
	 * this host hands them to the model with each doorbell, so a write to a parameter
	 * reaches the next jobs.
	 */
	if (off == NPU_REG_DOORBELL) {
		npu_dev_write(&s->dev, NPU_REG_SIM_PACE, READ_ONCE(enpu_pace));
		npu_dev_write(&s->dev, NPU_REG_SIM_THERM_R, READ_ONCE(enpu_thermal_r));
		npu_dev_write(&s->dev, NPU_REG_SIM_THERM_C, READ_ONCE(enpu_thermal_c));
		npu_dev_write(&s->dev, NPU_REG_SIM_THERM_AMBIENT, READ_ONCE(enpu_thermal_ambient));
	}
	npu_dev_write(&s->dev, off, val);
}

/**
 * enpu_reg_read64() - reads a LO/HI register pair (the model reads both under one lock
 *	hold only per register, so HI is read around LO until it is stable).
 * @s: the device.
 * @lo: offset of the LO register.
 *
 * Return: the 64-bit value.
 */
u64 enpu_reg_read64(struct enpu_silicon *s, u32 lo)
{
	u32 hi, l;

	do {
		hi = enpu_reg_read(s, lo + 4);
		l = enpu_reg_read(s, lo);
	} while (hi != enpu_reg_read(s, lo + 4));
	return (u64)hi << 32 | l;
}

/* SPDX-License-Identifier: GPL-2.0-only OR MIT */
/*
 * edge_npu_drv.h - the types every file of the edge_npu DRM driver shares.
 *
 * One &struct enpu_device per platform device; it owns enpu_device.num_engines hardware queues
 * (&struct enpu_queue), each a drm_sched scheduler in front of one engine of the silicon,
 * programmed through its registers and command ring (silicon/npu_regs.h; the simulated
 * silicon's device model lives behind enpu_reg_read/enpu_reg_write, edge_npu_platform.c). A file (&struct enpu_file) owns contexts
 * (&struct enpu_ctx), each a drm_sched entity spread over the queues with its own device
 * address space (&struct enpu_vm, edge_npu_vm.c); a job (&struct enpu_job) holds a private
 * copy of its command stream and its buffer table of device addresses.
 */
#ifndef EDGE_NPU_DRV_H
#define EDGE_NPU_DRV_H

#include <linux/hrtimer.h>
#include <linux/kref.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/xarray.h>
#include <linux/wait.h>
#include <linux/ktime.h>
#include <linux/iosys-map.h>
#include <drm/drm_device.h>
#include <drm/drm_file.h>
#include <drm/drm_gem_shmem_helper.h>
#include <drm/drm_mm.h>
#include <drm/gpu_scheduler.h>

#include <linux/thermal.h>

#include "edge_npu_compat.h"
#include "silicon/npu_engine.h"
#include "silicon/npu_device.h"
#include "../uapi/drm/edge_npu_drm.h"

#define ENPU_DRIVER_NAME	"edge_npu"
#define ENPU_PDEV_NAME		"edge-npu"
#define ENPU_MAX_ENGINES	4
#define ENPU_MAX_BO_SIZE	(1ull << 32)
#define ENPU_NUM_PRIORITIES	3	/* DRM_EDGE_NPU_PRIORITY_LOW..HIGH */
#define ENPU_RING_SIZE		16	/* descriptors per engine ring (a power of two) */

/* Module parameters (edge_npu_drv.c). */
extern unsigned int enpu_num_engines;
extern unsigned int enpu_job_timeout_ms;
extern bool enpu_debug_stall;
extern unsigned int enpu_debug_tdr_delay_ms;
extern unsigned int enpu_debug_free_delay_ms;
extern unsigned int enpu_autosuspend_ms;
extern unsigned int enpu_max_ctxs_per_file;
extern unsigned int enpu_max_bos_per_file;
extern unsigned long long enpu_max_bo_bytes_per_file;
extern unsigned int enpu_pace;
extern unsigned int enpu_max_jobs_per_file;
extern unsigned int enpu_thermal_r;
extern unsigned int enpu_thermal_c;
extern int enpu_thermal_ambient;

struct enpu_device;

struct enpu_silicon;
struct enpu_job;
struct enpu_mapping;

/**
 * struct enpu_age - an engine's priority ageing (edge_npu_prio.c).
 * @lock: guards the rest (irq-safe: the timer runs in hard interrupt context).
 * @waiting: jobs pushed to the engine and not started, per priority.
 * @passed: per priority, jobs of higher priorities started since one of its jobs waits.
 * @gate: the fence higher-priority jobs wait for while a starved job goes first, or NULL.
 * @gate_prio: the lowest starved priority @gate holds the others back for.
 * @gate_deadline: when @gate opens even if no job of @gate_prio started.
 * @timer: fires at @gate_deadline.
 * @fence_lock: lock of the gate fences.
 * @fence_context: their dma-fence context.
 * @seqno: last gate seqno.
 */
struct enpu_age {
	spinlock_t lock;
	u32 waiting[ENPU_NUM_PRIORITIES];
	u32 passed[ENPU_NUM_PRIORITIES];
	struct dma_fence *gate;
	u32 gate_prio;
	ktime_t gate_deadline;
	struct hrtimer timer;
	spinlock_t fence_lock;
	u64 fence_context;
	u64 seqno;
};

/**
 * struct enpu_queue - one hardware queue: a scheduler in front of one engine.
 * @edev: the device.
 * @index: engine number.
 * @name: scheduler, fence timeline and IRQ name.
 * @sched: the drm_sched scheduler (hardware queue depth 1).
 * @lock: serialises the ring (@slots, @tail, @retired), resets and retirement.
 * @hw: the engine's registers (the simulated silicon).
 * @ring: the command ring, in memory the engine reads (%ENPU_RING_SIZE descriptors).
 * @slots: the job of each posted descriptor, until retired.
 * @tail: descriptors posted (RING_TAIL).
 * @retired: descriptors retired (up to RING_HEAD).
 * @irq: the engine's interrupt, 0 when not requested.
 * @fence_context: dma-fence context of the hardware fences.
 * @seqno: last hardware fence seqno.
 * @fence_lock: lock of the hardware fences.
 * @resets: engine resets after a timeout.
 * @resetting: a RESET written after a timeout has not completed yet (enpu_hw_reset()): the
 *	jobs stay on the ring, which is neither retired nor programmed until it has.
 * @as_vm: &enpu_vm.id of the space each address-space slot holds (0: none since the reset).
 * @as_next: the slot to take next when no slot holds a job's space (round robin).
 * @age: priority ageing among the jobs waiting for this engine.
 */
struct enpu_queue {
	struct enpu_device *edev;
	u32 index;
	char name[24];
	struct drm_gpu_scheduler sched;
	struct mutex lock;
	struct enpu_silicon *hw;
	struct npu_ring_desc *ring;
	struct enpu_job *slots[ENPU_RING_SIZE];
	u32 tail;
	u32 retired;
	int irq;
	u64 fence_context;
	u64 seqno;
	spinlock_t fence_lock;
	u64 resets;
	bool resetting;
	u64 as_vm[NPU_AS_SLOTS];
	u32 as_next;
	struct enpu_age age;
};

/**
 * struct enpu_pm - runtime PM and devfreq state.
 * @devfreq: the devfreq device, NULL when no governor could be used.
 * @lock: protects the busy/idle accounting below.
 * @busy_count: jobs executing now.
 * @time_last_update: start of the current accounting window.
 * @busy_time: busy time in the current window.
 * @idle_time: idle time in the current window.
 * @cur_opp: the operating point index applied to every engine.
 * @powered: the modeled power state (true = on; runtime PM resumed).
 * @suspends: runtime suspends so far.
 * @throttled: the max_freq bound holds back a busy device (genl THROTTLE events).
 * @req_running: running jobs with a clock request, per requested OPP.
 * @req_last: the request of the job that started last (%ENPU_NO_FREQ_REQUEST: none).
 * @req_applied: the request in force when devfreq last re-evaluated for a job's start.
 * @ondemand: the simple_ondemand governor, under which requests are honoured.
 * @opp_lock: without devfreq, orders the jobs' starts' clock changes (enpu_pm_apply_request()).
 */
struct enpu_pm {
	struct devfreq *devfreq;
	spinlock_t lock;
	unsigned int busy_count;
	ktime_t time_last_update;
	ktime_t busy_time;
	ktime_t idle_time;
	u32 cur_opp;
	bool powered;
	u64 suspends;
	bool throttled;
	u32 req_running[NPU_NUM_OPPS];
	int req_last;
	int req_applied;
	const struct devfreq_governor *ondemand;
	struct mutex opp_lock;
};

#define ENPU_THERMAL_TRIPS 2	/* passive, critical */

/**
 * struct enpu_thermal - the thermal zone, its cooling device and hwmon (edge_npu_thermal.c).
 * @tz: the thermal zone, of type "edge-npu.N" (the platform device), NULL if none.
 * @tzp: its parameters (sustainable power).
 * @trips: passive and critical trip points, as the zone uses them (sysfs writes mirrored).
 * @above: the temperature is at or above each trip (with hysteresis), for the trip events.
 * @cdev: the devfreq cooling device, NULL without devfreq.
 * @cooling_state: its state at the zone's last reading (0: not throttling).
 * @em: an energy-model performance domain (the power model) is registered.
 * @hwmon: the hwmon device (temp1_input).
 */
struct enpu_thermal {
	struct thermal_zone_device *tz;
	struct thermal_zone_params tzp;
	struct thermal_trip trips[ENPU_THERMAL_TRIPS];
	bool above[ENPU_THERMAL_TRIPS];
	struct thermal_cooling_device *cdev;
	unsigned long cooling_state;
	bool em;
	struct device *hwmon;
};

/* A job without a clock request (&enpu_job.freq_req). */
#define ENPU_NO_FREQ_REQUEST	(-1)

/**
 * struct enpu_device - one edge-npu device.
 * @drm: the DRM device.
 * @num_engines: queues in @queues.
 * @queues: the hardware queues.
 * @scheds: the schedulers of @queues, the list every context's entity uses.
 * @sched_lock: keeps job arming and pushing in one order.
 * @pm: power and frequency state.
 * @thermal: thermal zone, cooling and hwmon.
 * @bo_count: live GEM objects of this device (created or imported).
 * @next_bo_id: source of &enpu_bo.id (never reused).
 * @next_client_id: source of &enpu_file.client_id.
 * @jobs_done: jobs completed successfully.
 * @jobs_failed: jobs completed with an error.
 * @energy_pj: modeled energy of all completed jobs.
 * @busy_cycles: modeled cycles of all completed jobs.
 * @index: N of the platform device edge-npu.N (genl EDGE_NPU_A_DEVICE).
 * @busy_ns: wall time the engines spent running jobs.
 * @bo_bytes: bytes of the live GEM objects.
 * @queued: jobs submitted and not finished, per context priority.
 * @last_power_uw: modeled power of the last completed job while it ran.
 * @validator: the engine state SUBMIT validates streams against (capabilities only).
 * @next_vm_id: source of &enpu_vm.id.
 * @pinned_pages: BO pages pinned by the address spaces' mappings (sysfs pinned_pages).
 * @mmu_faults: jobs ended by a device MMU fault.
 * @live_files: &struct enpu_file objects not yet freed (open files, and closed ones that
 *	jobs still reference through their contexts).
 * @live_ctxs: &struct enpu_ctx objects not yet freed (destroyed ones included until their
 *	last job is freed).
 * @live_jobs: &struct enpu_job objects not yet freed (queued, running, or finished and not
 *	yet freed by the scheduler). A job's last access to the device is its decrement.
 *	While it is not 0, the jobs hold a reference on the device and on the module.
 * @jobs_refs: those references that the last job gone left to drop.
 * @jobs_put: drops them, on a workqueue of the module's (edge_npu_job.c).
 * @prio_aged: jobs that started ahead of higher-priority ones by ageing (sysfs prio_aged).
 *
 * The live counters (and @bo_count) are what debugfs "live" shows; all are 0 when the device
 * is released, or the driver leaked.
 */
struct enpu_device {
	struct drm_device drm;
	u32 num_engines;
	struct enpu_queue *queues[ENPU_MAX_ENGINES];
	struct drm_gpu_scheduler *scheds[ENPU_MAX_ENGINES];
	struct mutex sched_lock;
	struct enpu_pm pm;
	struct enpu_thermal thermal;
	atomic_t bo_count;
	atomic64_t next_bo_id;
	atomic64_t jobs_done;
	atomic64_t jobs_failed;
	atomic64_t energy_pj;
	atomic64_t busy_cycles;
	u32 index;
	atomic64_t busy_ns;
	atomic64_t bo_bytes;
	atomic_t queued[ENPU_NUM_PRIORITIES];
	u64 last_power_uw;
	struct npu_engine *validator;
	atomic64_t next_vm_id;
	atomic64_t pinned_pages;
	atomic64_t mmu_faults;
	atomic_t live_files;
	atomic_t live_ctxs;
	atomic_t live_jobs;
	atomic_t jobs_refs;
	struct work_struct jobs_put;
	atomic64_t prio_aged;
};

static inline struct enpu_device *to_enpu(struct drm_device *drm)
{
	return container_of(drm, struct enpu_device, drm);
}

/**
 * struct enpu_file - per-open state; refcounted because jobs may finish after close.
 * @ref: references: the drm_file and each context.
 * @edev: the device.
 * @client_id: drm-client-id of fdinfo.
 * @ctxs: contexts by handle.
 * @engine_ns: wall time the engines spent on this file's jobs.
 * @cycles: modeled cycles of this file's jobs.
 * @num_ctxs: live contexts (limit: max_ctxs_per_file).
 * @keep_lock: guards @kept, @num_bos and @bo_bytes.
 * @kept: the objects this file is charged for, by id: how many of its handles and VM_BIND
 *	mappings hold each, plus one for each it created while it lives (enpu_file_keep()).
 * @num_bos: objects in @kept (limit: max_bos_per_file).
 * @bo_bytes: their bytes (limit: max_bo_bytes_per_file).
 * @num_handles: GEM handles of the file (limit: max_bos_per_file too: GEM_OPEN of a flink
 *	name on 6.1's primary node gives one object many handles).
 * @num_jobs: jobs submitted and not yet freed (limit: max_jobs_per_file).
 */
struct enpu_file {
	struct kref ref;
	struct enpu_device *edev;
	u64 client_id;
	struct xarray ctxs;
	atomic64_t engine_ns;
	atomic64_t cycles;
	atomic_t num_ctxs;
	struct mutex keep_lock;
	struct xarray kept;
	u32 num_bos;
	u64 bo_bytes;
	atomic_t num_handles;
	atomic_t num_jobs;
};

/**
 * struct enpu_vm - a context's device address space (edge_npu_vm.c).
 * @edev: the device.
 * @id: unique, never reused (which space an address-space slot holds).
 * @lock: guards @mm, the tables and @last.
 * @mm: the mapped ranges (&struct enpu_mapping).
 * @root: the level-0 table.
 * @tables: the other table pages (linked by page->lru).
 * @last: finished fence of the context's newest job (UNMAP waits for it), or NULL.
 */
struct enpu_vm {
	struct enpu_device *edev;
	u64 id;
	struct mutex lock;
	struct drm_mm mm;
	struct page *root;
	struct list_head tables;
	struct dma_fence *last;
};

/**
 * struct enpu_ctx - a submission context: one drm_sched entity and one address space.
 * @ref: references: the file's handle table and each job.
 * @efile: the file (a reference).
 * @entity: the scheduler entity.
 * @priority: DRM_EDGE_NPU_PRIORITY_*, the index of its jobs in &enpu_device.queued (the
 *	entity's drm_sched priority cannot be: its order differs between kernels).
 * @submit_lock: held by SUBMIT from drm_sched_job_init() to the push, and by CTX_DESTROY
 *	while it marks the context @dead, so that no job is pushed to a destroyed entity.
 * @dead: the entity is (being) destroyed; SUBMIT fails with -ENOENT.
 * @lock: protects @seqno and the statistics.
 * @seqno: last job sequence number.
 * @stats: what &struct drm_edge_npu_ctx_query reports (handle and reserved unused).
 * @vm: the device address space of its jobs.
 * @guilty: a job of the context faulted; SUBMIT fails with -ECANCELED.
 */
struct enpu_ctx {
	struct kref ref;
	struct enpu_file *efile;
	struct drm_sched_entity entity;
	u32 priority;
	struct mutex submit_lock;
	bool dead;
	spinlock_t lock;
	u64 seqno;
	struct drm_edge_npu_ctx_query stats;
	struct enpu_vm *vm;
	bool guilty;
};

/**
 * struct enpu_bo - a GEM shmem object with the identity the engine keys SRAM residency by.
 * @base: the shmem object.
 * @id: unique, never reused (&npu_buffer.id).
 * @mmu_pages: its pages pinned by device-MMU mappings (VM_BIND ranges and the pages jobs
 *	use), once per mapping: fdinfo counts them resident although the BO has no page array.
 * @creator: the file whose BO_CREATE made it (a reference), which keeps it charged until it
 *	is freed, whoever holds it by then (an exported dma-buf, another file); NULL for imports.
 */
struct enpu_bo {
	struct drm_gem_shmem_object base;
	u64 id;
	atomic_t mmu_pages;
	struct enpu_file *creator;
};

static inline struct enpu_bo *to_enpu_bo(struct drm_gem_object *obj)
{
	return container_of(to_drm_gem_shmem_obj(obj), struct enpu_bo, base);
}

/**
 * struct enpu_job - one submitted job.
 * @base: the scheduler job.
 * @ctx: its context (a reference).
 * @stream: private copy of the command stream.
 * @stream_len: bytes at @stream.
 * @num_bufs: entries of @bufs and @table.
 * @bufs: the validator's view of the buffers (device addresses, sizes, flags).
 * @table: the engine's buffer table (device addresses), which the descriptor points at.
 * @num_bos: entries of @bos and @maps: the buffers named by BO handle.
 * @bos: those BOs (references), for implicit synchronisation.
 * @maps: their mappings in the driver's half of the context's space, for the job's life
 *	(the range of the whole BO; the pages the stream touches mapped).
 * @bo_write: whether the job writes each of them.
 * @bo_buf: the buffer (index of @bufs) each of them is.
 * @result: where the engine writes how the job ended.
 * @hw_fence: the hardware fence, allocated at submit, initialised by run_job.
 * @hw_fence_init: whether @hw_fence was initialised (else it is freed with kfree).
 * @done: the scheduler's finished fence (a reference).
 * @start: when the engine started the job.
 * @pm_ref: the job holds a runtime PM reference and a devfreq busy mark.
 * @prio: its context's priority (index of &enpu_device.queued).
 * @queued: counted in &enpu_device.queued until it finishes.
 * @freq_req: the OPP its SUBMIT asked for, or %ENPU_NO_FREQ_REQUEST (edge_npu_devfreq.c).
 * @age_waiting: counted as waiting on its engine for priority ageing (edge_npu_prio.c),
 *	from the push until it starts or is freed unstarted.
 * @pid: thread-group id of the submitter (genl events).
 * @num_deps: entries of @deps.
 * @deps: the fences whose errors fail the job (its in-syncs, and the writers of the BOs it
 *	reads), a reference each: run_job looks (enpu_job_deps_error()).
 * @prev: the finished fence of the context's job before it, until run_job (fence order).
 */
struct enpu_job {
	struct drm_sched_job base;
	struct enpu_ctx *ctx;
	void *stream;
	u32 stream_len;
	u32 num_bufs;
	struct npu_buffer *bufs;
	struct npu_buf_desc *table;
	u32 num_bos;
	struct drm_gem_object **bos;
	struct enpu_mapping **maps;
	bool *bo_write;
	u32 *bo_buf;
	struct npu_job_result result;
	struct dma_fence *hw_fence;
	bool hw_fence_init;
	struct dma_fence *done;
	ktime_t start;
	bool pm_ref;
	u8 prio;
	bool queued;
	s8 freq_req;
	bool age_waiting;
	u32 pid;
	u32 num_deps;
	struct dma_fence **deps;
	struct dma_fence *prev;
};

/* edge_npu_drv.c */
struct enpu_ctx *enpu_ctx_lookup(struct enpu_file *efile, u32 handle);
void enpu_ctx_put(struct enpu_ctx *ctx);
void enpu_file_put(struct enpu_file *efile);

/* edge_npu_gem.c */
struct drm_gem_object *enpu_gem_create_object(struct drm_device *drm, size_t size);
int enpu_file_keep(struct enpu_file *efile, struct drm_gem_object *obj);
void enpu_file_unkeep(struct enpu_file *efile, struct drm_gem_object *obj);
struct drm_gem_object *enpu_gem_prime_import_sg_table(struct drm_device *drm,
						      struct dma_buf_attachment *attach,
						      struct sg_table *sgt);
int enpu_ioctl_bo_create(struct drm_device *drm, void *data, struct drm_file *file);
int enpu_ioctl_bo_mmap_offset(struct drm_device *drm, void *data, struct drm_file *file);
int enpu_ioctl_bo_wait(struct drm_device *drm, void *data, struct drm_file *file);

/* edge_npu_vm.c: the contexts' device address spaces */
int enpu_vm_create(struct enpu_device *edev, struct enpu_vm **out);
void enpu_vm_destroy(struct enpu_vm *vm);
void enpu_vm_unmap_user(struct enpu_vm *vm);
u64 enpu_vm_root(const struct enpu_vm *vm);
int enpu_vm_reserve(struct enpu_vm *vm, struct drm_gem_object *obj, u64 perm,
		    struct enpu_mapping **out);
int enpu_vm_populate(struct enpu_vm *vm, struct enpu_mapping *m, unsigned long first,
		     unsigned long n);
void enpu_vm_unmap(struct enpu_vm *vm, struct enpu_mapping *m);
u64 enpu_vm_mapping_addr(const struct enpu_mapping *m);
struct dma_fence *enpu_vm_set_last(struct enpu_vm *vm, struct dma_fence *fence);
u64 enpu_vm_range_id(struct enpu_vm *vm, u64 addr, u64 size);
int enpu_bo_read(struct drm_gem_object *obj, u64 offset, void *dst, size_t len);
int enpu_ioctl_vm_bind(struct drm_device *drm, void *data, struct drm_file *file);

/* edge_npu_platform.c: the simulated silicon's host and register backend */
int enpu_silicon_create(u32 caps, struct enpu_silicon **out);
void enpu_silicon_destroy(struct enpu_silicon *s);
int enpu_silicon_irq(struct enpu_silicon *s);
u32 enpu_reg_read(struct enpu_silicon *s, u32 off);
void enpu_reg_write(struct enpu_silicon *s, u32 off, u32 val);
u64 enpu_reg_read64(struct enpu_silicon *s, u32 lo);

/* edge_npu_job.c */
int enpu_queues_init(struct enpu_device *edev);
void enpu_queues_drain(struct enpu_device *edev);
void enpu_queues_fini(struct enpu_device *edev);
int enpu_jobs_module_init(void);
void enpu_jobs_module_exit(void);
int enpu_ioctl_submit(struct drm_device *drm, void *data, struct drm_file *file);

/* edge_npu_prio.c: priority ageing across contexts */
extern unsigned int enpu_prio_age_jobs;
void enpu_age_init(struct enpu_age *a);
void enpu_age_fini(struct enpu_age *a);
void enpu_age_pushed(struct enpu_age *a, struct enpu_job *job);
struct dma_fence *enpu_age_gate(struct enpu_age *a, struct enpu_job *job);
void enpu_age_started(struct enpu_age *a, struct enpu_job *job, atomic64_t *aged);
void enpu_age_dropped(struct enpu_age *a, struct enpu_job *job);

/* edge_npu_devfreq.c: devfreq, runtime PM and the modeled power state */
int enpu_pm_init(struct enpu_device *edev);
void enpu_pm_fini(struct enpu_device *edev);
int enpu_pm_freq_request(u32 khz);
int enpu_pm_job_begin(struct enpu_device *edev, int req);
void enpu_pm_job_end(struct enpu_device *edev, int req);
u32 enpu_pm_cur_freq_mhz(struct enpu_device *edev);
void enpu_pm_freq_bounds(struct enpu_device *edev, unsigned long *min_hz, unsigned long *max_hz);
extern const struct dev_pm_ops enpu_pm_ops;

/* edge_npu_thermal.c: thermal zone, devfreq cooling with a power model, hwmon */
int enpu_thermal_init(struct enpu_device *edev);
void enpu_thermal_fini(struct enpu_device *edev);
int enpu_thermal_temp_mc(struct enpu_device *edev);
u32 enpu_thermal_state(struct enpu_device *edev, u32 *cooling_state);

/* edge_npu_sysfs.c */
extern const struct attribute_group *enpu_dev_groups[];

/* edge_npu_debugfs.c */
void enpu_debugfs_init(struct drm_minor *minor);
void enpu_debugfs_register(struct enpu_device *edev);

/* edge_npu_fdinfo.c */
struct drm_printer;
void enpu_fdinfo_keys(struct drm_printer *p, struct drm_file *file);
#ifndef ENPU_DRM_SHOW_FDINFO
void enpu_show_fdinfo(struct seq_file *m, struct file *f);
#endif

/* edge_npu_genl.c: the "edge_npu" generic-netlink family (uapi/edge_npu_genl.h) */
int enpu_genl_init(void);
void enpu_genl_exit(void);
int enpu_genl_add_device(struct enpu_device *edev);
void enpu_genl_remove_device(struct enpu_device *edev);
void enpu_genl_job_fault(struct enpu_device *edev, u32 engine, int error, u32 pid);
void enpu_genl_job_timeout(struct enpu_device *edev, u32 engine, u32 pid);
void enpu_genl_engine_reset(struct enpu_device *edev, u32 engine);
void enpu_genl_power_state(struct enpu_device *edev, bool on);
void enpu_genl_freq_change(struct enpu_device *edev, u64 old_hz, u64 new_hz);
void enpu_genl_throttle(struct enpu_device *edev, bool throttled, u64 cur_hz, u64 max_hz);
void enpu_genl_thermal_trip(struct enpu_device *edev, int temp_mc, u32 trip, int trip_mc,
			    bool crossed);
void enpu_genl_thermal_throttle(struct enpu_device *edev, u32 state, int temp_mc, u64 max_hz);

#endif

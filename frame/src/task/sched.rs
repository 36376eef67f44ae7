//! The scheduler: a run queue per CPU (FIFO, filtered by CPU affinity; idle CPUs steal from the others), the
//! context switch and its hand-off between CPUs, idling, sleepers ordered by deadline, time slices.
//!
//! Placement: a task made ready goes to the queue of the CPU that ran it last (when it may still run there),
//! else of this CPU, else of the first CPU it may run on; an idle CPU that may run it is kicked and takes it
//! (its own queue first, then the others'), and when none is idle the queue's CPU is kicked out of user mode
//! to arm the end of its time slice. A CPU takes tasks from its own queue at the end of a time slice.
//!
//! Idling: a task that blocks with nothing to switch to idles on its own stack (it stays on its CPU, so no
//! other CPU can claim it) until a task can be claimed or it is woken. A CPU's idle task runs only where no
//! task may stay: an application processor before its first task, a task whose affinity excludes its CPU.
//!
//! Hand-off: a task is *on a CPU* from the moment a CPU claims it (taking it off the queue) until the switch
//! away from it has saved its stack pointer and the next task on that CPU clears the flag. Only a task that is
//! not on a CPU can be claimed, and claiming is an atomic test-and-set under the queue lock, so a task's saved
//! context is resumed once, by one CPU, and only after it was saved. A task that became ready while still on
//! its old CPU stays queued; that CPU kicks an idle one once the switch is done.

use super::{State, Task};
use crate::cpu::local::{MAX_CPUS, assert_may_sleep, this_cpu};
use crate::cpu::times::idle;
use crate::cpu::{current_index, online_count, smp};
use crate::mm::VmSpace;
use crate::sync::{Mutex, MutexGuard};
use crate::time::{self, now_ns};
use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::Arc;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use spin::Once;

/// How long a task runs in user mode before another ready task gets the CPU.
const TIME_SLICE_NS: u64 = 10_000_000;

/// The ready tasks, a queue per CPU; a queue's summary is its length.
static QUEUES: [Summarized<VecDeque<Arc<Task>>>; MAX_CPUS] =
    [const { Summarized::new(VecDeque::new(), 0, |q| q.len() as u64) }; MAX_CPUS];
/// Tasks waiting with a deadline, by (deadline, task id). Every CPU arms its timer for the earliest; the
/// first to take the interrupt wakes it. Its summary is the earliest deadline (`u64::MAX` for none).
static SLEEPERS: Summarized<BTreeMap<(u64, u64), Arc<Task>>> = Summarized::new(BTreeMap::new(), u64::MAX, |s| {
    s.first_key_value().map_or(u64::MAX, |(&(d, _), _)| d)
});
static BOOT_TASK: Once<()> = Once::new();

/// The scheduler's state of one CPU.
struct CpuSched {
    /// When the running task's time slice ends.
    slice_end: AtomicU64,
    /// Set while the CPU's idle task halts (or is about to): a task made ready kicks such a CPU.
    idle: AtomicBool,
    /// The task that runs when nothing else can and the current one may not stay (never queued): an
    /// application processor's start-up code; the boot CPU's is made when first needed.
    idle_task: Once<Arc<Task>>,
    /// The user address space loaded in CR3, held so that it cannot be freed while loaded. Kernel tasks run
    /// in whatever space is loaded (the kernel half is the same in all).
    space: Mutex<Option<Arc<VmSpace>>>,
}

static CPUS: [CpuSched; MAX_CPUS] = [const {
    CpuSched {
        slice_end: AtomicU64::new(u64::MAX),
        idle: AtomicBool::new(false),
        idle_task: Once::new(),
        space: Mutex::new(None),
    }
}; MAX_CPUS];

fn this_sched() -> &'static CpuSched {
    &CPUS[current_index()]
}

unsafe extern "C" {
    fn ember_switch(from_rsp: *mut u64, to_rsp: u64);
    fn ember_task_trampoline();
}

core::arch::global_asm!(
    r#"
    .section .text.ember_switch, "ax"
    .global ember_switch
ember_switch:
    push %rbp
    push %rbx
    push %r12
    push %r13
    push %r14
    push %r15
    mov %rsp, (%rdi)
    mov %rsi, %rsp
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbx
    pop %rbp
    ret

    .global ember_task_trampoline
ember_task_trampoline:
    call {start}
    ud2
    "#,
    start = sym task_start,
    options(att_syntax)
);

/// Makes the code running now (the kernel's main, on the boot stack) the boot CPU's first task. Runs once.
/// The boot CPU gets an idle task only if it ever needs one (see [`switch_to_idle`]).
pub(crate) fn init() {
    BOOT_TASK.call_once(|| {
        let task = Arc::new(Task::new(None, None, Box::new(())));
        task.set_state(State::Running);
        task.on_cpu.store(true, Ordering::Relaxed);
        this_cpu()
            .current_task
            .store(Arc::into_raw(task) as usize, Ordering::Release);
        this_sched()
            .slice_end
            .store(now_ns().saturating_add(TIME_SLICE_NS), Ordering::Relaxed);
        crate::irq::set_timer_handler(on_timer);
    });
}

/// An application processor's way into the scheduler: the code running now (on the CPU's start stack)
/// becomes its idle task. Interrupts are off; the CPU's tables, per-CPU data and timer are set up.
pub(crate) fn run_ap() -> ! {
    let task = Arc::new(Task::new(None, None, Box::new(())));
    task.set_state(State::Running);
    task.on_cpu.store(true, Ordering::Relaxed);
    this_sched().idle_task.call_once(|| task.clone());
    this_cpu()
        .current_task
        .store(Arc::into_raw(task) as usize, Ordering::Release);
    idle_loop()
}

/// The idle task: runs whatever is ready here, else halts until an interrupt (a device, the timer, a kick).
fn idle_loop() -> ! {
    let me = current_index();
    let sched = &CPUS[me];
    loop {
        if let Some(next) = claim_next(me) {
            switch_to(next);
            continue;
        }
        release_unused_space();
        // Wakers queue, then look for idle CPUs; this CPU says it is idle, then looks at the queue: one of the
        // two sees the other.
        sched.idle.store(true, Ordering::SeqCst);
        if has_work(me) {
            sched.idle.store(false, Ordering::Relaxed);
            continue;
        }
        arm_timer(false);
        idle();
        sched.idle.store(false, Ordering::Relaxed);
    }
}

/// Lays out a new task's stack so that switching to it "returns" into the trampoline with the six
/// callee-saved registers zero; returns the stack pointer to save.
pub(super) fn prepare_stack(top: u64) -> u64 {
    // The trampoline's `call` needs a 16-byte aligned stack: the return slot sits 24 bytes below the top.
    let ret_slot = top - 24;
    let rsp = ret_slot - 6 * 8;
    let words = (top - rsp) / 8;
    for i in 0..words {
        let value = if rsp + i * 8 == ret_slot {
            ember_task_trampoline as *const () as u64
        } else {
            0
        };
        // SAFETY: `[rsp, top)` lies in the new task's own stack, mapped and not used by anything yet.
        unsafe { ((rsp + i * 8) as *mut u64).write(value) };
    }
    rsp
}

/// The first code a spawned task runs (from the trampoline).
extern "C" fn task_start() -> ! {
    finish_switch();
    let task = current();
    let entry = task.entry.lock().take();
    drop(task);
    if let Some(entry) = entry {
        entry();
    }
    exit_current()
}

/// The running task.
pub(super) fn current() -> Arc<Task> {
    let raw = this_cpu().current_task.load(Ordering::Acquire) as *const Task;
    assert!(!raw.is_null(), "no current task before the scheduler starts");
    // SAFETY: `current_task` holds one strong reference to the running task (from `Arc::into_raw`), which
    // stays valid while it runs; we add one for the caller.
    unsafe {
        Arc::increment_strong_count(raw);
        Arc::from_raw(raw)
    }
}

/// Whether `task` may run on CPU `cpu`.
fn allowed(task: &Task, cpu: usize) -> bool {
    task.affinity.load(Ordering::Relaxed) & (1 << cpu) != 0
}

/// Takes the first task of CPU `q`'s queue that may run on CPU `cpu` and is on no CPU, and marks it running.
fn claim_from(q: usize, cpu: usize) -> Option<Arc<Task>> {
    if QUEUES[q].summary() == 0 {
        return None;
    }
    let mut queue = QUEUES[q].lock();
    let at = queue.iter().position(|t| {
        allowed(t, cpu)
            && t.on_cpu
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
    })?;
    let task = queue.remove(at)?;
    task.set_state(State::Running);
    Some(task)
}

/// Takes a task for CPU `cpu`: from its own queue first, then from the other CPUs' (the next ones first).
fn claim_next(cpu: usize) -> Option<Arc<Task>> {
    let n = online_count();
    (0..n).find_map(|i| claim_from((cpu + i) % n, cpu))
}

/// Whether CPU `q`'s queue holds a task that CPU `cpu` could claim now.
fn claimable_in(q: usize, cpu: usize) -> bool {
    QUEUES[q].summary() != 0
        && QUEUES[q]
            .lock()
            .iter()
            .any(|t| allowed(t, cpu) && !t.on_cpu.load(Ordering::SeqCst))
}

/// Whether any queue holds a task that CPU `cpu` could claim now.
fn has_work(cpu: usize) -> bool {
    (0..online_count()).any(|q| claimable_in(q, cpu))
}

/// The CPU whose queue a task made ready goes to: the one that ran it last, else this one, else the first it
/// may run on.
fn target_cpu(task: &Task) -> usize {
    let n = online_count();
    let last = task.cpu.load(Ordering::Relaxed) as usize;
    if last < n && allowed(task, last) {
        return last;
    }
    let me = current_index();
    if allowed(task, me) {
        return me;
    }
    (0..n).find(|&c| allowed(task, c)).unwrap_or(me)
}

/// Appends `task` (marked ready) to CPU `cpu`'s queue.
fn push(cpu: usize, task: &Arc<Task>) {
    let mut queue = QUEUES[cpu].lock();
    task.queue.store(cpu as u32, Ordering::Release);
    queue.push_back(task.clone());
}

/// Takes the running task `cur`, which a waker made ready and queued, out of that queue. No CPU can claim it
/// meanwhile (it is on this one). The waker records the queue and appends the task in one critical section,
/// after its state change; until it has, the queue read here may be an older one, so the search repeats.
fn unqueue(cur: &Arc<Task>) {
    loop {
        let q = cur.queue.load(Ordering::Acquire) as usize;
        let mut queue = QUEUES[q].lock();
        if let Some(at) = queue.iter().position(|t| Arc::ptr_eq(t, cur)) {
            queue.remove(at);
            return;
        }
        drop(queue);
        core::hint::spin_loop();
    }
}

/// Kicks an idle CPU that may run `task` (which was just queued), unless this CPU idles and will find it.
/// When no idle CPU may run it, the CPU whose queue holds it is kicked (unless it is this one), out of user
/// mode, so that it arms the end of its time slice (a CPU that entered user mode with its queue empty has
/// no timer armed for that).
fn kick_idle(task: &Task) {
    let me = current_index();
    // Still on a CPU (idling on its own stack, or being switched out): that CPU takes it back, or kicks
    // another once the switch is done.
    if task.on_cpu.load(Ordering::SeqCst) {
        let cpu = task.cpu.load(Ordering::Relaxed) as usize;
        if cpu != me {
            smp::kick(cpu);
        }
        return;
    }
    if CPUS[me].idle.load(Ordering::SeqCst) && allowed(task, me) {
        return;
    }
    let n = online_count();
    // The queue's own CPU first, then the others. (Read here after another CPU's wake-up, the queue may be
    // an older one: only an order, checked below where it matters.)
    let hint = task.queue.load(Ordering::Acquire) as usize;
    for cpu in (0..n).map(|i| (hint + i) % n).filter(|&c| c != me && allowed(task, c)) {
        if CPUS[cpu]
            .idle
            .compare_exchange(true, false, Ordering::SeqCst, Ordering::Relaxed)
            .is_ok()
        {
            smp::kick(cpu);
            return;
        }
    }
    // The queue that holds it (the waker appended it in the critical section of its state change, which was
    // seen, so a locked look finds it unless a CPU claimed it already).
    let holds = |q: usize| QUEUES[q].lock().iter().any(|t| core::ptr::eq(&**t, task));
    if let Some(home) = core::iter::once(hint).chain(0..n).find(|&q| q < n && holds(q))
        && home != me
    {
        smp::kick(home);
    }
}

pub(super) fn enqueue(task: Arc<Task>) {
    task.set_state(State::Ready);
    push(target_cpu(&task), &task);
    kick_idle(&task);
}

pub(super) fn wake(task: &Arc<Task>) {
    // The state change, the queue's record and the append happen under the queue's lock, so `unqueue` finds
    // the task once it sees it ready.
    let target = target_cpu(task);
    let woken = {
        let mut queue = QUEUES[target].lock();
        let ok = task
            .state
            .compare_exchange(
                State::Blocked as u8,
                State::Ready as u8,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok();
        if ok {
            task.queue.store(target as u32, Ordering::Release);
            queue.push_back(task.clone());
        }
        ok
    };
    if woken {
        kick_idle(task);
    }
}

/// The running task, marked blocked, found its condition true after all: it keeps running, and leaves the
/// run queue if a waker already put it there (no CPU can have claimed it: it is on this one).
pub(super) fn cancel_block(cur: &Arc<Task>) {
    let was = cur.state.compare_exchange(
        State::Blocked as u8,
        State::Running as u8,
        Ordering::AcqRel,
        Ordering::Acquire,
    );
    if was == Err(State::Ready as u8) {
        unqueue(cur);
        cur.set_state(State::Running);
    }
}

/// Gives the CPU to the next ready task, if any; the current one goes to the back of the queue.
pub fn yield_now() {
    assert_may_sleep("yield_now");
    let cur = current();
    let me = current_index();
    let next = claim_next(me);
    match next {
        Some(next) => {
            // Queued while still on this CPU: no other CPU claims it before the switch away is complete.
            cur.set_state(State::Ready);
            push(me, &cur);
            switch_to(next);
        }
        None if !allowed(&cur, me) => {
            // Its affinity no longer includes this CPU: leave it for one that may run it.
            cur.set_state(State::Ready);
            push(target_cpu(&cur), &cur);
            switch_to_idle();
        }
        None => this_sched()
            .slice_end
            .store(now_ns().saturating_add(TIME_SLICE_NS), Ordering::Relaxed),
    }
}

/// Yields when the running task's time slice is over and another task is ready (or when the task may no
/// longer run on this CPU). The kernel calls it before returning to user mode.
pub fn preempt_point() {
    let me = current_index();
    let cur_allowed = {
        let raw = this_cpu().current_task.load(Ordering::Acquire) as *const Task;
        // SAFETY: the per-CPU current-task reference keeps the running task alive while it runs.
        allowed(unsafe { &*raw }, me)
    };
    // This CPU's queue length first: with nothing queued (the common case) no clock read and no lock. The
    // other queues are their own CPUs' (or idle CPUs') to run.
    let slice_over = || now_ns() >= CPUS[me].slice_end.load(Ordering::Relaxed);
    if !cur_allowed || (QUEUES[me].summary() != 0 && slice_over() && claimable_in(me, me)) {
        yield_now();
    }
}

/// Blocks the current task (already marked blocked and registered where a waker finds it) until it is woken
/// or `deadline_ns` passes.
pub(super) fn block_current(cur: &Arc<Task>, deadline_ns: Option<u64>) {
    assert_may_sleep("a blocking wait");
    if let Some(d) = deadline_ns {
        SLEEPERS.lock().insert((d, cur.id), cur.clone());
    }
    schedule();
    if let Some(d) = deadline_ns {
        SLEEPERS.lock().remove(&(d, cur.id));
    }
}

/// Ends the current task. Its stack is freed once another task runs.
pub fn exit_current() -> ! {
    let raw = this_cpu().current_task.load(Ordering::Acquire) as *const Task;
    assert!(!raw.is_null(), "exit_current before the scheduler starts");
    // SAFETY: the per-CPU current-task reference keeps the task alive until the next task releases it after
    // the switch, when this frame is gone for good. No count is added: a clone held here would never be
    // dropped (this function does not return), and the task and its stack would leak.
    let cur = core::mem::ManuallyDrop::new(unsafe { Arc::from_raw(raw) });
    cur.set_state(State::Exited);
    let space = cur.vm_space.lock().take();
    drop(space);
    release_unused_space();
    schedule();
    unreachable!("an exited task was scheduled again");
}

/// Runs the next ready task; returns when the current task runs again (it was woken, or queued by
/// `yield_now`). With nothing to run, the CPU idles on the current task's stack (it stays on this CPU, so no
/// other CPU can claim it) until a task can be claimed or the current one is woken.
fn schedule() {
    let me = current_index();
    let cur = current();
    loop {
        if let Some(next) = claim_next(me) {
            drop(cur);
            switch_to(next);
            return;
        }
        if cur.state() == State::Ready {
            unqueue(&cur);
            if allowed(&cur, me) {
                cur.set_state(State::Running);
                return;
            }
            // Woken, but it may no longer run here: leave it (queued again) to a CPU that may.
            push(target_cpu(&cur), &cur);
            drop(cur);
            switch_to_idle();
            return;
        }
        release_unused_space();
        let sched = &CPUS[me];
        sched.idle.store(true, Ordering::SeqCst);
        if has_work(me) || cur.state() == State::Ready {
            sched.idle.store(false, Ordering::Relaxed);
            continue;
        }
        arm_timer(false);
        idle();
        sched.idle.store(false, Ordering::Relaxed);
    }
}

/// Switches to this CPU's idle task (the boot CPU's is made on first use). Returns when the current task
/// runs again.
fn switch_to_idle() {
    let idle = this_sched().idle_task.call_once(|| {
        let stack = super::KernelStack::new().expect("memory for an idle task's stack");
        let top = stack.top();
        let task = Arc::new(Task::new(Some(stack), Some(Box::new(|| idle_loop())), Box::new(())));
        // SAFETY: the task is new and not visible to anything else; its stack is ours and mapped.
        unsafe { *task.saved_rsp.get() = prepare_stack(top) };
        task
    });
    let idle = idle.clone();
    // Only this CPU runs its idle task, and the switch away from it finished before this one started.
    idle.on_cpu.store(true, Ordering::Relaxed);
    switch_to(idle);
}

/// Switches from the running task to `next`, which this CPU claimed. Returns when the running task is
/// switched back to.
fn switch_to(next: Arc<Task>) {
    next.set_state(State::Running);
    next.cpu.store(current_index() as u32, Ordering::Relaxed);
    if let Some(vm) = next.vm_space.lock().as_ref() {
        load_space(vm);
    }
    this_sched()
        .slice_end
        .store(now_ns().saturating_add(TIME_SLICE_NS), Ordering::Relaxed);
    let to_rsp = {
        // SAFETY: `next` was claimed by this CPU after the switch away from it finished (its `on_cpu` flag was
        // clear), so its saved rsp is written and nothing else touches it.
        unsafe { *next.saved_rsp.get() }
    };
    let cpu = this_cpu();
    let prev = cpu.current_task.swap(Arc::into_raw(next) as usize, Ordering::AcqRel) as *const Task;
    // The running task's reference moves to `prev_task`; the next task to run releases it after the switch,
    // once nothing runs on the old stack any more.
    cpu.prev_task.store(prev as usize, Ordering::Release);
    // SAFETY: `prev` is the task running now: its saved-rsp slot is written by the switch and read only when
    // a CPU claims it again, which needs its `on_cpu` flag clear, which only `finish_switch` does after this
    // switch. `to_rsp` was saved by a switch away from `next`, or laid out by `prepare_stack`, on `next`'s own
    // stack, which stays mapped while `next` lives (the current-task reference keeps it alive).
    unsafe { ember_switch((*prev).saved_rsp.get(), to_rsp) };
    finish_switch();
}

/// Runs on the new task right after a switch: marks the task switched away from as off the CPU (it may be
/// claimed now; an idle CPU is kicked if it is ready) and drops the reference to it (which frees an exited
/// task's stack, now that nothing runs on it).
fn finish_switch() {
    let prev = this_cpu().prev_task.swap(0, Ordering::AcqRel) as *const Task;
    if prev.is_null() {
        return;
    }
    // SAFETY: the reference `switch_to` moved out of `current_task`.
    let prev = unsafe { Arc::from_raw(prev) };
    prev.on_cpu.store(false, Ordering::SeqCst);
    let on_idle = this_sched().idle_task.get().is_some_and(|i| {
        core::ptr::eq(
            Arc::as_ptr(i),
            this_cpu().current_task.load(Ordering::Relaxed) as *const Task,
        )
    });
    // The idle task about to run here finds a ready task itself, unless it may not run here.
    if prev.state() == State::Ready && (!on_idle || !allowed(&prev, current_index())) {
        kick_idle(&prev);
    }
    drop(prev);
}

/// Loads `vm` on this CPU (unless it is loaded) and holds it while it stays loaded.
fn load_space(vm: &Arc<VmSpace>) {
    if vm.is_active() {
        return;
    }
    vm.load();
    let old = this_sched().space.lock().replace(vm.clone());
    // Dropped here, after CR3 moved on: if this was the last reference, the space is freed.
    drop(old);
}

/// Lets go of the loaded user address space when nothing else holds it (its tasks have exited): loads the
/// kernel's table and frees the space. A space held by anyone else stays loaded.
fn release_unused_space() {
    let mut held = this_sched().space.lock();
    if held.as_ref().is_some_and(|s| Arc::strong_count(s) == 1) {
        crate::mm::load_kernel_table();
        let space = held.take();
        drop(held);
        drop(space);
    }
}

/// Records the current task's address space and loads it.
pub(crate) fn set_current_vm_space(vm: Arc<VmSpace>) {
    load_space(&vm);
    let old = current().vm_space.lock().replace(vm);
    drop(old);
}

/// Arms this CPU's timer for the earliest sleeper, and for the end of the time slice when `running_user` and
/// another task is ready.
fn arm_timer(running_user: bool) {
    // Both summaries are written under their locks: a change another CPU makes after these reads either
    // kicks this CPU or is handled by that CPU's own timer, so no lock is taken on the way to user mode.
    let mut deadline = SLEEPERS.summary();
    if running_user && QUEUES[current_index()].summary() != 0 {
        deadline = deadline.min(this_sched().slice_end.load(Ordering::Relaxed));
    }
    time::set_task_deadline(deadline);
}

/// Called before entering user mode: arms the timer so that sleepers wake and time slices end on time.
pub(crate) fn before_user() {
    arm_timer(true);
}

/// The timer interrupt: wakes every sleeper whose deadline has passed.
pub(crate) fn on_timer() {
    let now = now_ns();
    let mut sleepers = SLEEPERS.lock();
    while let Some(entry) = sleepers.first_entry() {
        if entry.key().0 > now {
            break;
        }
        wake(&entry.remove());
    }
}

/// A lock whose holder leaves a summary of the data behind when it unlocks (an atomic written while the lock
/// is still held), so that the hot paths (every return to user mode) can read it without taking the lock.
struct Summarized<T> {
    data: Mutex<T>,
    summary: AtomicU64,
    summarize: fn(&T) -> u64,
}

impl<T> Summarized<T> {
    /// A lock holding `data` whose lock class is the caller's line.
    #[track_caller]
    const fn new(data: T, initial: u64, summarize: fn(&T) -> u64) -> Self {
        Summarized {
            data: Mutex::new(data),
            summary: AtomicU64::new(initial),
            summarize,
        }
    }

    /// Locks the data; the summary is brought up to date when the guard goes.
    fn lock(&self) -> SummaryGuard<'_, T> {
        SummaryGuard {
            guard: self.data.lock(),
            owner: self,
        }
    }

    /// The summary as the last holder of the lock left it.
    fn summary(&self) -> u64 {
        self.summary.load(Ordering::Acquire)
    }
}

/// The guard of a [`Summarized`] lock.
struct SummaryGuard<'a, T> {
    guard: MutexGuard<'a, T>,
    owner: &'a Summarized<T>,
}

impl<T> Deref for SummaryGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T> DerefMut for SummaryGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

impl<T> Drop for SummaryGuard<'_, T> {
    fn drop(&mut self) {
        // Runs before the fields drop, so the lock is still held.
        self.owner
            .summary
            .store((self.owner.summarize)(&self.guard), Ordering::Release);
    }
}

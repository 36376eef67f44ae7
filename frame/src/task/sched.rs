//! The scheduler: a FIFO run queue, the context switch, sleepers ordered by deadline, time slices.

use super::{State, Task};
use crate::arch::regs::idle;
use crate::cpu::local::{assert_may_sleep, this_cpu};
use crate::mm::VmSpace;
use crate::time::{self, now_ns};
use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::Arc;
use core::sync::atomic::{AtomicU64, Ordering};
use spin::{Mutex, Once};

/// How long a task runs in user mode before another ready task gets the CPU.
const TIME_SLICE_NS: u64 = 10_000_000;

static RUN_QUEUE: Mutex<VecDeque<Arc<Task>>> = Mutex::new(VecDeque::new());
/// Tasks waiting with a deadline, by (deadline, task id).
static SLEEPERS: Mutex<BTreeMap<(u64, u64), Arc<Task>>> = Mutex::new(BTreeMap::new());
/// When the running task's time slice ends.
static SLICE_END: AtomicU64 = AtomicU64::new(u64::MAX);
static BOOT_TASK: Once<()> = Once::new();

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

/// Makes the code running now (the kernel's main, on the boot stack) the first task. Runs once.
pub(crate) fn init() {
    BOOT_TASK.call_once(|| {
        let task = Arc::new(Task::new(None, None, Box::new(())));
        task.set_state(State::Running);
        this_cpu()
            .current_task
            .store(Arc::into_raw(task) as usize, Ordering::Release);
        SLICE_END.store(now_ns().saturating_add(TIME_SLICE_NS), Ordering::Relaxed);
        crate::irq::set_timer_handler(on_timer);
    });
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

pub(super) fn enqueue(task: Arc<Task>) {
    task.set_state(State::Ready);
    RUN_QUEUE.lock().push_back(task);
}

pub(super) fn wake(task: &Arc<Task>) {
    // The state change and the enqueue happen under the run-queue lock, so `cancel_block` sees both or neither.
    let mut queue = RUN_QUEUE.lock();
    if task
        .state
        .compare_exchange(
            State::Blocked as u8,
            State::Ready as u8,
            Ordering::AcqRel,
            Ordering::Acquire,
        )
        .is_ok()
    {
        queue.push_back(task.clone());
    }
}

/// The running task, marked blocked, found its condition true after all: it keeps running, and leaves the
/// run queue if a waker already put it there.
pub(super) fn cancel_block(cur: &Arc<Task>) {
    let mut queue = RUN_QUEUE.lock();
    if cur.state() == State::Ready {
        queue.retain(|t| !Arc::ptr_eq(t, cur));
    }
    cur.set_state(State::Running);
}

/// Gives the CPU to the next ready task, if any; the current one goes to the back of the queue.
pub fn yield_now() {
    assert_may_sleep("yield_now");
    let cur = current();
    if RUN_QUEUE.lock().is_empty() {
        SLICE_END.store(now_ns().saturating_add(TIME_SLICE_NS), Ordering::Relaxed);
        return;
    }
    enqueue(cur.clone());
    schedule(&cur);
}

/// Yields when the running task's time slice is over and another task is ready. The kernel calls it before
/// returning to user mode.
pub fn preempt_point() {
    if now_ns() >= SLICE_END.load(Ordering::Relaxed) && !RUN_QUEUE.lock().is_empty() {
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
    schedule(cur);
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
    *cur.vm_space.lock() = None;
    schedule(&cur);
    unreachable!("an exited task was scheduled again");
}

/// Runs the next ready task; returns when `cur` runs again. Idles (halted, no tick) while nothing is ready.
fn schedule(cur: &Arc<Task>) {
    loop {
        let next = RUN_QUEUE.lock().pop_front();
        match next {
            Some(next) if Arc::ptr_eq(&next, cur) => {
                cur.set_state(State::Running);
                return;
            }
            Some(next) => {
                switch_to(next);
                return;
            }
            None => {
                arm_timer(false);
                idle();
            }
        }
    }
}

/// Switches from the running task to `next`. Returns when the running task is switched back to.
fn switch_to(next: Arc<Task>) {
    next.set_state(State::Running);
    if let Some(vm) = next.vm_space.lock().as_ref() {
        vm.load();
    }
    SLICE_END.store(now_ns().saturating_add(TIME_SLICE_NS), Ordering::Relaxed);
    let to_rsp = {
        // SAFETY: `next` is not running (it came off the run queue), so nothing else touches its saved rsp.
        unsafe { *next.saved_rsp.get() }
    };
    let cpu = this_cpu();
    let prev = cpu.current_task.swap(Arc::into_raw(next) as usize, Ordering::AcqRel) as *const Task;
    // The running task's reference moves to `prev_task`; the next task to run releases it after the switch,
    // once nothing runs on the old stack any more.
    cpu.prev_task.store(prev as usize, Ordering::Release);
    // SAFETY: `prev` is the task running now: its saved-rsp slot is written by the switch and read only when
    // it is switched back to. `to_rsp` was saved by a switch away from `next`, or laid out by
    // `prepare_stack`, on `next`'s own stack, which stays mapped while `next` lives (the current-task
    // reference keeps it alive).
    unsafe { ember_switch((*prev).saved_rsp.get(), to_rsp) };
    finish_switch();
}

/// Runs on the new task right after a switch: drops the reference to the task switched away from (which
/// frees an exited task's stack, now that nothing runs on it).
fn finish_switch() {
    let prev = this_cpu().prev_task.swap(0, Ordering::AcqRel) as *const Task;
    if !prev.is_null() {
        // SAFETY: the reference `switch_to` moved out of `current_task`.
        drop(unsafe { Arc::from_raw(prev) });
    }
}

/// Records the current task's address space and loads it.
pub(crate) fn set_current_vm_space(vm: Arc<VmSpace>) {
    vm.load();
    *current().vm_space.lock() = Some(vm);
}

/// Arms the timer for the earliest sleeper, and for the end of the time slice when `running_user` and
/// another task is ready.
fn arm_timer(running_user: bool) {
    let mut deadline = SLEEPERS.lock().first_key_value().map_or(u64::MAX, |(&(d, _), _)| d);
    if running_user && !RUN_QUEUE.lock().is_empty() {
        deadline = deadline.min(SLICE_END.load(Ordering::Relaxed));
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

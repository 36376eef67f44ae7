//! Tasks: kernel threads of control, each with its own guarded kernel stack, switched by a scheduler.
//!
//! The kernel is not preemptible: Rust code runs with interrupts off, and interrupts are taken only while a
//! task runs in user mode or the CPU idles. A task therefore gives up the CPU only where it chooses to
//! ([`yield_now`], a wait on a [`WaitQueue`], [`exit_current`]) or where its user thread is preempted: a
//! timer interrupt ends the time slice and the kernel calls [`preempt_point`] before returning to user mode.
//! Because no kernel code runs with interrupts on, the spin locks here are also safe against interrupt
//! handlers on the same CPU; a handler on another CPU may take them, which is fine (the holder never waits for
//! that CPU). Tasks run on every CPU online: one run queue, a task's affinity mask says where it may run.
//!
//! Time: the timer is armed one-shot for the earliest sleeper, or for the end of the time slice when another
//! task is waiting to run. With nothing to wait for, the CPU halts with no tick.

mod sched;
mod stack;
mod wait;

pub(crate) use sched::{before_user, init, run_ap, set_current_vm_space};
pub use sched::{exit_current, preempt_point, yield_now};
pub(crate) use stack::{KernelStack, is_guard_page};
pub use wait::WaitQueue;

use crate::mm::VmSpace;
use crate::sync::Mutex;
use alloc::boxed::Box;
use alloc::sync::Arc;
use core::any::Any;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};

/// Where a task is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum State {
    /// On a CPU.
    Running = 0,
    /// In the run queue.
    Ready = 1,
    /// Waiting to be woken.
    Blocked = 2,
    /// Finished; never runs again.
    Exited = 3,
}

/// A task. Share it as `Arc<Task>`; [`current`] gives the running one.
pub struct Task {
    id: u64,
    state: AtomicU8,
    /// Set from the moment a CPU claims the task until the switch away from it has saved its context (see
    /// the scheduler's hand-off).
    on_cpu: AtomicBool,
    /// The CPUs (bit per CPU number) the task may run on.
    affinity: AtomicU32,
    /// The CPU that ran it last.
    cpu: AtomicU32,
    /// The CPU whose run queue holds it (meaningful while it is ready; written under that queue's lock).
    queue: AtomicU32,
    /// The stack pointer while switched out (written by the switch away, read by the switch back, which the
    /// `on_cpu` hand-off orders).
    saved_rsp: UnsafeCell<u64>,
    /// The stack the task runs on, owned so that it goes back to the pool with the task (`None` for the boot
    /// task, which runs on the boot stack).
    _stack: Option<KernelStack>,
    entry: Mutex<Option<Box<dyn FnOnce() + Send>>>,
    vm_space: Mutex<Option<Arc<VmSpace>>>,
    data: Box<dyn Any + Send + Sync>,
}

// SAFETY: `saved_rsp` is written by the switch away from the task and read by the switch to it; a CPU switches
// to a task only after claiming it, which needs `on_cpu` clear, which is cleared (release) only after the switch
// away saved the pointer, and set again (acquire) by the claim: the accesses never overlap.
// All other fields are Sync.
unsafe impl Sync for Task {}

impl core::fmt::Debug for Task {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Task({})", self.id)
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Why a task could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpawnError;

impl Task {
    fn new(
        stack: Option<KernelStack>,
        entry: Option<Box<dyn FnOnce() + Send>>,
        data: Box<dyn Any + Send + Sync>,
    ) -> Task {
        Task {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            state: AtomicU8::new(State::Ready as u8),
            on_cpu: AtomicBool::new(false),
            affinity: AtomicU32::new(u32::MAX),
            cpu: AtomicU32::new(0),
            queue: AtomicU32::new(0),
            saved_rsp: UnsafeCell::new(0),
            _stack: stack,
            entry: Mutex::new(entry),
            vm_space: Mutex::new(None),
            data,
        }
    }

    /// Makes a task that runs `entry` and carries `data` (the kernel's per-thread state, reached through
    /// [`Task::data`]), and puts it in the run queue. When `entry` returns, the task exits. It may run on the
    /// CPUs the spawning task may (as Linux's `clone` inherits the affinity).
    pub fn spawn(entry: impl FnOnce() + Send + 'static, data: impl Any + Send + Sync) -> Result<Arc<Task>, SpawnError> {
        let stack = KernelStack::new().ok_or(SpawnError)?;
        let top = stack.top();
        let task = Arc::new(Task::new(Some(stack), Some(Box::new(entry)), Box::new(data)));
        if crate::cpu::local::this_cpu().current_task.load(Ordering::Acquire) != 0 {
            task.affinity.store(current().affinity(), Ordering::Relaxed);
        }
        // SAFETY: the task is new and not yet visible to any scheduler; its stack is ours and mapped.
        unsafe { *task.saved_rsp.get() = sched::prepare_stack(top) };
        sched::enqueue(task.clone());
        Ok(task)
    }

    /// The task's number (unique for the kernel's life).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The data the task was spawned with.
    pub fn data(&self) -> &(dyn Any + Send + Sync) {
        &*self.data
    }

    /// The user address space the task runs in, if it has one.
    pub fn vm_space(&self) -> Option<Arc<VmSpace>> {
        self.vm_space.lock().clone()
    }

    /// Whether the task is blocked, waiting to be woken (what `/proc` shows as sleeping).
    pub fn is_blocked(&self) -> bool {
        self.state() == State::Blocked
    }

    /// The CPUs the task may run on (bit `n` for CPU `n`).
    pub fn affinity(&self) -> u32 {
        self.affinity.load(Ordering::Relaxed)
    }

    /// Restricts the task to the CPUs of `mask` (bit `n` for CPU `n`); `false` (unchanged) when no CPU online
    /// is in it. A running task that may no longer run where it is moves at its next [`preempt_point`] (or
    /// at once, when it is the caller: it yields).
    pub fn set_affinity(self: &Arc<Self>, mask: u32) -> bool {
        let online = u32::MAX >> (32 - crate::cpu::online_count() as u32);
        if mask & online == 0 {
            return false;
        }
        self.affinity.store(mask, Ordering::Relaxed);
        if Arc::ptr_eq(self, &current()) && mask & (1 << crate::cpu::current_index()) == 0 {
            yield_now();
        }
        true
    }

    /// Wakes the task if it is blocked (a wait it is in re-checks its condition).
    pub fn wake(self: &Arc<Self>) {
        sched::wake(self);
    }

    /// Wakes the task if it is blocked; if it runs on another CPU, interrupts that CPU, so that a task in user
    /// mode comes back to the kernel (for a signal sent to it, say).
    pub fn kick(self: &Arc<Self>) {
        sched::wake(self);
        if self.state() == State::Running && self.on_cpu.load(Ordering::Acquire) {
            crate::cpu::smp::kick(self.cpu.load(Ordering::Relaxed) as usize);
        }
    }

    fn state(&self) -> State {
        match self.state.load(Ordering::Acquire) {
            0 => State::Running,
            1 => State::Ready,
            2 => State::Blocked,
            _ => State::Exited,
        }
    }

    fn set_state(&self, s: State) {
        self.state.store(s as u8, Ordering::Release);
    }
}

/// The running task.
pub fn current() -> Arc<Task> {
    sched::current()
}

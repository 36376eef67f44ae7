//! Tasks: kernel threads of control, each with its own guarded kernel stack, switched by a scheduler.
//!
//! The kernel is not preemptible: Rust code runs with interrupts off, and interrupts are taken only while a
//! task runs in user mode or the CPU idles. A task therefore gives up the CPU only where it chooses to
//! ([`yield_now`], a wait on a [`WaitQueue`], [`exit_current`]) or where its user thread is preempted: a
//! timer interrupt ends the time slice and the kernel calls [`preempt_point`] before returning to user mode.
//! Because no kernel code runs with interrupts on, the spin locks here are also safe against interrupt
//! handlers on the same CPU. With several CPUs the run queue becomes per-CPU; nothing else here assumes one.
//!
//! Time: the timer is armed one-shot for the earliest sleeper, or for the end of the time slice when another
//! task is waiting to run. With nothing to wait for, the CPU halts with no tick.

mod sched;
mod stack;
mod wait;

pub(crate) use sched::{before_user, init, set_current_vm_space};
pub use sched::{exit_current, preempt_point, yield_now};
pub(crate) use stack::{KernelStack, is_guard_page};
pub use wait::WaitQueue;

use crate::mm::VmSpace;
use alloc::boxed::Box;
use alloc::sync::Arc;
use core::any::Any;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use spin::Mutex;

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
    /// The stack pointer while switched out (written and read only by the context switch on one CPU).
    saved_rsp: UnsafeCell<u64>,
    /// The stack the task runs on, owned so that it goes back to the pool with the task (`None` for the boot
    /// task, which runs on the boot stack).
    _stack: Option<KernelStack>,
    entry: Mutex<Option<Box<dyn FnOnce() + Send>>>,
    vm_space: Mutex<Option<Arc<VmSpace>>>,
    data: Box<dyn Any + Send + Sync>,
}

// SAFETY: `saved_rsp` is written by the switch away from the task and read by the switch to it; a task is
// switched by one CPU at a time (it is either running on one CPU or queued), so the accesses never overlap.
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
            saved_rsp: UnsafeCell::new(0),
            _stack: stack,
            entry: Mutex::new(entry),
            vm_space: Mutex::new(None),
            data,
        }
    }

    /// Makes a task that runs `entry` and carries `data` (the kernel's per-thread state, reached through
    /// [`Task::data`]), and puts it in the run queue. When `entry` returns, the task exits.
    pub fn spawn(entry: impl FnOnce() + Send + 'static, data: impl Any + Send + Sync) -> Result<Arc<Task>, SpawnError> {
        let stack = KernelStack::new().ok_or(SpawnError)?;
        let top = stack.top();
        let task = Arc::new(Task::new(Some(stack), Some(Box::new(entry)), Box::new(data)));
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

    /// Wakes the task if it is blocked (a wait it is in re-checks its condition).
    pub fn wake(self: &Arc<Self>) {
        sched::wake(self);
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

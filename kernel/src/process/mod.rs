//! Processes and threads: the Linux model on top of the framework's tasks.
//!
//! A [`Thread`] is one framework task running [`thread::run`], a loop that enters user mode and handles what
//! brings it back (system calls, faults, interrupts), delivering signals before each return. A [`Process`]
//! groups threads that share an address space, signal handlers and an identity; it lives in a global table
//! by pid until its parent reaps it.

pub mod clone;
pub mod exec;
pub mod exit;
pub mod jobctl;
pub mod ptrace;
pub mod signal;
pub mod thread;
pub mod wait;

use crate::fs::{FdTable, FsContext};
use crate::vm::Vm;
use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering};
use ember_creds::Credentials;
use ember_frame::sync::Mutex;
use ember_frame::task::{Task, WaitQueue};
use signal::{SigActions, SigSet};
use spin::Once;

/// The pid of init.
pub const INIT_PID: u32 = 1;
/// The flag of a scheduling policy whose children start with the default one.
pub const SCHED_RESET_ON_FORK: u32 = 0x4000_0000;

static NEXT_ID: AtomicU32 = AtomicU32::new(1);
/// Every process that has not been reaped, by pid.
static PROCESSES: Mutex<BTreeMap<u32, Weak<Process>>> = Mutex::new(BTreeMap::new());

/// A process. See the module documentation.
pub struct Process {
    pid: u32,
    parent: Mutex<Weak<Process>>,
    children: Mutex<Vec<Arc<Process>>>,
    pgid: AtomicU32,
    sid: AtomicU32,
    vm: Mutex<Arc<Vm>>,
    threads: Mutex<Vec<Arc<Thread>>>,
    /// Set by `exit_group` or a fatal signal: every thread stops at its next return to the kernel.
    exiting: AtomicBool,
    /// The wait status once every thread has exited (a zombie until reaped).
    status: Mutex<Option<u32>>,
    /// Where `wait4` sleeps: woken when a child changes state.
    child_wait: WaitQueue,
    actions: Mutex<SigActions>,
    /// Signals sent to the process as a whole.
    pending: AtomicU64,
    exe: Mutex<Vec<u8>>,
    /// The arguments and environment of the last `execve`, each NUL-terminated (`/proc/PID/cmdline`, `environ`).
    args: Mutex<(Vec<u8>, Vec<u8>)>,
    name: Mutex<[u8; 16]>,
    /// `prlimit` values, by resource: (soft, hard).
    limits: Mutex<[(u64, u64); 16]>,
    /// Whether a `vfork` parent still waits for this child to exec or exit.
    vfork_done: WaitQueue,
    vforked: AtomicBool,
    /// `alarm`/`ITIMER_REAL`.
    pub(crate) alarm: Mutex<Alarm>,
    /// Woken when the alarm changes or the process exits: the alarm's task then re-reads the deadline.
    pub(crate) alarm_changed: Arc<WaitQueue>,
    /// User and group ids (shared by the threads, which libc keeps in step anyway).
    creds: Mutex<Credentials>,
    /// The nice value, -20 (most favoured) to 19.
    nice: AtomicI32,
    /// The scheduling policy (`SCHED_*`, with `SCHED_RESET_ON_FORK`) and static priority `sched_setscheduler`
    /// set. Recorded and reported as Linux does; ember's scheduler treats every task alike.
    sched: Mutex<(u32, u32)>,
    /// The I/O priority `ioprio_set` set (class << 13 | level; 0: none set).
    ioprio: AtomicU32,
    /// `personality(2)`'s persona.
    personality: AtomicU32,
    /// Job control: stopped or not, and what `wait` may report.
    job: jobctl::JobState,
    /// Where the threads of a stopped process wait for `SIGCONT` (and a traced one for its tracer).
    resume: WaitQueue,
    /// `ptrace`: the tracer and the stop it may collect.
    trace: ptrace::TraceState,
    /// What `prctl` records beyond the credentials.
    prctl: Mutex<PrctlFlags>,
}

/// What `prctl(2)` records per process beyond the credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrctlFlags {
    /// `PR_SET_NO_NEW_PRIVS`: set-id bits do not count at `execve` (kept across fork and exec, never cleared).
    pub no_new_privs: bool,
    /// `PR_SET_THP_DISABLE` (recorded and reported; ember has no huge pages).
    pub thp_disable: bool,
    /// `PR_SET_DUMPABLE`.
    pub dumpable: bool,
    /// `PR_SET_PDEATHSIG`: the signal this process gets when its parent exits (0: none; not inherited).
    pub pdeathsig: u32,
}

impl Default for PrctlFlags {
    fn default() -> PrctlFlags {
        PrctlFlags {
            no_new_privs: false,
            thp_disable: false,
            dumpable: true,
            pdeathsig: 0,
        }
    }
}

/// A thread of a process (one framework task each).
pub struct Thread {
    tid: u32,
    process: Arc<Process>,
    task: Once<Weak<Task>>,
    files: Mutex<Arc<Mutex<FdTable>>>,
    fs: Mutex<Arc<Mutex<FsContext>>>,
    /// `CLONE_CHILD_CLEARTID` / `set_tid_address`: zeroed and woken (futex) when the thread exits.
    clear_child_tid: AtomicU64,
    robust_list: AtomicU64,
    /// Blocked signals.
    mask: AtomicU64,
    /// Signals sent to this thread.
    pending: AtomicU64,
    /// `sigaltstack`: (base, size, flags).
    altstack: Mutex<(u64, u64, u32)>,
    /// The mask to restore after `rt_sigsuspend` once the handler has run.
    saved_mask: Mutex<Option<u64>>,
}

impl Process {
    fn new(parent: Weak<Process>, vm: Arc<Vm>, pgid: u32, sid: u32) -> Arc<Process> {
        let p = Self::with_pid(NEXT_ID.fetch_add(1, Ordering::Relaxed), parent, vm, pgid, sid);
        PROCESSES.lock().insert(p.pid, Arc::downgrade(&p));
        p
    }

    fn with_pid(pid: u32, parent: Weak<Process>, vm: Arc<Vm>, pgid: u32, sid: u32) -> Arc<Process> {
        Arc::new(Process {
            pid,
            parent: Mutex::new(parent),
            children: Mutex::new(Vec::new()),
            pgid: AtomicU32::new(if pgid == 0 { pid } else { pgid }),
            sid: AtomicU32::new(if sid == 0 { pid } else { sid }),
            vm: Mutex::new(vm),
            threads: Mutex::new(Vec::new()),
            exiting: AtomicBool::new(false),
            status: Mutex::new(None),
            child_wait: WaitQueue::new(),
            actions: Mutex::new(SigActions::default()),
            pending: AtomicU64::new(0),
            exe: Mutex::new(Vec::new()),
            args: Mutex::new((Vec::new(), Vec::new())),
            name: Mutex::new([0; 16]),
            limits: Mutex::new(default_limits()),
            creds: Mutex::new(Credentials::root()),
            nice: AtomicI32::new(0),
            sched: Mutex::new((0, 0)),
            ioprio: AtomicU32::new(0),
            personality: AtomicU32::new(0),
            job: jobctl::JobState::default(),
            resume: WaitQueue::new(),
            trace: ptrace::TraceState::default(),
            prctl: Mutex::new(PrctlFlags::default()),
            vfork_done: WaitQueue::new(),
            vforked: AtomicBool::new(false),
            alarm: Mutex::new(Alarm::default()),
            alarm_changed: Arc::new(WaitQueue::new()),
        })
    }

    /// The arguments and environment of its program, each string NUL-terminated.
    pub fn args(&self) -> (Vec<u8>, Vec<u8>) {
        self.args.lock().clone()
    }

    /// The file-system context (root, working directory) of its first thread.
    pub fn fs_context(&self) -> Option<FsContext> {
        let t = self.threads.lock().first().cloned()?;
        let ctx = t.fs.lock().lock().clone();
        Some(ctx)
    }

    /// The wait status once it has exited (a zombie until reaped).
    pub fn exit_status(&self) -> Option<u32> {
        *self.status.lock()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The parent's pid (0 for init).
    pub fn ppid(&self) -> u32 {
        self.parent.lock().upgrade().map_or(0, |p| p.pid)
    }

    /// The process group.
    pub fn pgid(&self) -> u32 {
        self.pgid.load(Ordering::Relaxed)
    }

    /// Sets the process group.
    pub fn set_pgid(&self, pgid: u32) {
        self.pgid.store(pgid, Ordering::Relaxed);
    }

    /// The session.
    pub fn sid(&self) -> u32 {
        self.sid.load(Ordering::Relaxed)
    }

    /// Starts a new session (and process group) led by this process.
    pub fn set_sid(&self) {
        self.sid.store(self.pid, Ordering::Relaxed);
        self.pgid.store(self.pid, Ordering::Relaxed);
    }

    /// The process's address space.
    pub fn vm(&self) -> Arc<Vm> {
        self.vm.lock().clone()
    }

    /// The path of the program the process runs (for `/proc/self/exe`).
    pub fn exe(&self) -> Vec<u8> {
        self.exe.lock().clone()
    }

    /// The name (`comm`): the program's file name, or what `prctl(PR_SET_NAME)` set.
    pub fn name(&self) -> [u8; 16] {
        *self.name.lock()
    }

    /// Sets the name (truncated to 15 bytes).
    pub fn set_name(&self, name: &[u8]) {
        let mut n = [0u8; 16];
        let len = name.iter().position(|&b| b == 0).unwrap_or(name.len()).min(15);
        n[..len].copy_from_slice(&name[..len]);
        *self.name.lock() = n;
    }

    /// A copy of the credentials.
    pub fn creds(&self) -> Credentials {
        self.creds.lock().clone()
    }

    /// Changes the credentials with `change` (under their lock, so concurrent changes do not mix).
    pub fn update_creds<T>(&self, change: impl FnOnce(&mut Credentials) -> T) -> T {
        change(&mut self.creds.lock())
    }

    /// The `prctl` flags.
    pub fn prctl(&self) -> PrctlFlags {
        *self.prctl.lock()
    }

    /// Changes the `prctl` flags with `change`.
    pub fn update_prctl(&self, change: impl FnOnce(&mut PrctlFlags)) {
        change(&mut self.prctl.lock());
    }

    /// Whether `PR_SET_NO_NEW_PRIVS` is set.
    pub fn no_new_privs(&self) -> bool {
        self.prctl.lock().no_new_privs
    }

    /// The nice value.
    pub fn nice(&self) -> i32 {
        self.nice.load(Ordering::Relaxed)
    }

    /// Sets the nice value (the caller checked the range and the permission).
    pub fn set_nice(&self, nice: i32) {
        self.nice.store(nice, Ordering::Relaxed);
    }

    /// The scheduling policy (with `SCHED_RESET_ON_FORK`) and static priority.
    pub fn sched(&self) -> (u32, u32) {
        *self.sched.lock()
    }

    /// Sets the scheduling policy and static priority (the caller checked them).
    pub fn set_sched(&self, policy: u32, priority: u32) {
        *self.sched.lock() = (policy, priority);
    }

    /// The I/O priority (class << 13 | level).
    pub fn ioprio(&self) -> u32 {
        self.ioprio.load(Ordering::Relaxed)
    }

    /// Sets the I/O priority (the caller checked it).
    pub fn set_ioprio(&self, ioprio: u32) {
        self.ioprio.store(ioprio, Ordering::Relaxed);
    }

    /// The persona (`personality(2)`).
    pub fn personality(&self) -> u32 {
        self.personality.load(Ordering::Relaxed)
    }

    /// Sets the persona.
    pub fn set_personality(&self, persona: u32) {
        self.personality.store(persona, Ordering::Relaxed);
    }

    /// Resource limit `resource` as (soft, hard).
    pub fn limit(&self, resource: usize) -> Option<(u64, u64)> {
        self.limits.lock().get(resource).copied()
    }

    /// Sets resource limit `resource`.
    pub fn set_limit(&self, resource: usize, value: (u64, u64)) -> bool {
        match self.limits.lock().get_mut(resource) {
            Some(l) => {
                *l = value;
                true
            }
            None => false,
        }
    }

    /// Whether the process is on its way out.
    pub fn is_exiting(&self) -> bool {
        self.exiting.load(Ordering::Acquire)
    }

    /// Whether job control has it stopped.
    pub fn is_stopped(&self) -> bool {
        self.job.is_stopped()
    }

    /// The live threads.
    pub fn threads(&self) -> Vec<Arc<Thread>> {
        self.threads.lock().clone()
    }
}

fn default_limits() -> [(u64, u64); 16] {
    const INF: u64 = u64::MAX;
    let mut l = [(INF, INF); 16];
    l[3] = (8 << 20, INF); // RLIMIT_STACK
    l[4] = (0, INF); // RLIMIT_CORE
    l[6] = (4096, 4096); // RLIMIT_NPROC
    l[7] = (1024, 4096); // RLIMIT_NOFILE
    l[8] = (8 << 20, 8 << 20); // RLIMIT_MEMLOCK
    l[11] = (4096, 4096); // RLIMIT_SIGPENDING
    l[12] = (819_200, 819_200); // RLIMIT_MSGQUEUE
    l
}

impl Thread {
    /// Its open descriptors (`/proc/PID/fd`).
    pub fn open_fds(&self) -> Vec<i32> {
        self.files.lock().lock().fds()
    }

    /// The open file behind descriptor `fd`.
    pub fn open_file(&self, fd: i32) -> Option<Arc<crate::fs::OpenFile>> {
        self.files.lock().lock().get(fd)
    }

    fn new(
        process: Arc<Process>,
        files: Arc<Mutex<FdTable>>,
        fs: Arc<Mutex<FsContext>>,
        tid: Option<u32>,
    ) -> Arc<Thread> {
        Arc::new(Thread {
            tid: tid.unwrap_or_else(|| NEXT_ID.fetch_add(1, Ordering::Relaxed)),
            process,
            task: Once::new(),
            files: Mutex::new(files),
            fs: Mutex::new(fs),
            clear_child_tid: AtomicU64::new(0),
            robust_list: AtomicU64::new(0),
            mask: AtomicU64::new(0),
            pending: AtomicU64::new(0),
            altstack: Mutex::new((0, 0, signal::SS_DISABLE)),
            saved_mask: Mutex::new(None),
        })
    }

    /// The thread's id.
    pub fn tid(&self) -> u32 {
        self.tid
    }

    /// The task the thread runs on (`None` before it started or after it ended).
    pub fn task(&self) -> Option<Arc<Task>> {
        self.task.get().and_then(Weak::upgrade)
    }

    /// The process the thread belongs to.
    pub fn process(&self) -> &Arc<Process> {
        &self.process
    }

    /// Wakes the thread if it is blocked, so that it notices a signal or an exit.
    pub fn kick(&self) {
        if let Some(task) = self.task.get().and_then(Weak::upgrade) {
            task.kick();
        }
    }

    /// Whether the thread waits in the kernel (`/proc`'s `S` state) rather than runs or is ready to.
    pub fn sleeping(&self) -> bool {
        self.task.get().and_then(Weak::upgrade).is_some_and(|t| t.is_blocked())
    }

    /// The blocked-signal mask.
    pub fn mask(&self) -> u64 {
        self.mask.load(Ordering::Relaxed)
    }

    /// Sets the blocked-signal mask (SIGKILL and SIGSTOP can never be blocked).
    pub fn set_mask(&self, mask: u64) {
        self.mask.store(mask & !SigSet::UNBLOCKABLE, Ordering::Relaxed);
    }
}

/// A process's `alarm`/`ITIMER_REAL` timer. One kernel task at most waits for it, however often it is re-armed.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Alarm {
    /// The deadline (monotonic ns, 0 for none).
    pub deadline: u64,
    /// The interval it re-arms with after firing (0: once).
    pub interval: u64,
    /// Whether the alarm's task runs (it ends when it finds the alarm disarmed or the process exiting).
    pub task: bool,
}

/// A process by pid.
pub fn find(pid: u32) -> Option<Arc<Process>> {
    PROCESSES.lock().get(&pid).and_then(Weak::upgrade)
}

/// Every live process.
pub fn all() -> Vec<Arc<Process>> {
    PROCESSES.lock().values().filter_map(Weak::upgrade).collect()
}

/// The calling thread. Kernel tasks that are not user threads (the boot task, the console's input task,
/// self-tests) share one kernel thread of a pid-0 process, with its own files and root, as Linux's kernel
/// threads have `init_files` and `init_fs`.
pub fn current_thread() -> Arc<Thread> {
    let task = ember_frame::task::current();
    match task.data().downcast_ref::<Arc<Thread>>() {
        Some(t) => t.clone(),
        None => kernel_thread(),
    }
}

fn kernel_thread() -> Arc<Thread> {
    static KERNEL: Once<Arc<Thread>> = Once::new();
    KERNEL
        .call_once(|| {
            let vm = Vm::new().expect("memory for the kernel's empty address space");
            let p = Process::with_pid(0, Weak::new(), vm, 0, 0);
            Thread::new(
                p,
                Arc::new(Mutex::new(FdTable::new())),
                Arc::new(Mutex::new(FsContext::new())),
                Some(0),
            )
        })
        .clone()
}

/// The calling process.
pub fn current() -> Arc<Process> {
    current_thread().process.clone()
}

/// The calling thread's open files (shared with the threads and processes it shares them with).
pub fn current_files() -> Arc<Mutex<FdTable>> {
    current_thread().files.lock().clone()
}

/// The calling thread's root, working directory and umask.
pub fn current_fs() -> Arc<Mutex<FsContext>> {
    current_thread().fs.lock().clone()
}

/// Gives the calling thread its own copy of its descriptor table (`CLOSE_RANGE_UNSHARE`, `unshare(CLONE_FILES)`)
/// and returns it.
pub fn unshare_files() -> Arc<Mutex<FdTable>> {
    let t = current_thread();
    let mut files = t.files.lock();
    let copy = Arc::new(Mutex::new(files.lock().clone()));
    *files = copy.clone();
    copy
}

/// Whether the calling thread has a signal to handle: blocking waits end with `EINTR` when it does.
pub fn signal_pending() -> bool {
    let t = current_thread();
    t.process.is_exiting() || signal::deliverable(&t) != 0
}

/// The calling process's process group.
pub fn current_pgid() -> u32 {
    current().pgid()
}

/// Sends signal `sig` to every process of process group `pgid` (the terminal's ^C, ^Z, ^\).
pub fn signal_process_group(pgid: u32, sig: u32) {
    for p in all().into_iter().filter(|p| p.pgid() == pgid) {
        signal::send_to_process(&p, sig);
    }
}

/// Sends signal `sig` to the calling thread (`SIGPIPE` after a write to a broken pipe).
pub fn signal_current_thread(sig: u32) {
    signal::send_to_thread(&current_thread(), sig);
}

/// `set_tid_address`: where the thread's tid is cleared (and a futex woken) when it exits.
pub fn set_clear_child_tid(t: &Thread, at: u64) {
    t.clear_child_tid.store(at, Ordering::Relaxed);
}

/// `set_robust_list`: the head of the thread's robust futex list (kept for `get_robust_list`).
pub fn set_robust_list(t: &Thread, at: u64) {
    t.robust_list.store(at, Ordering::Relaxed);
}

//! Self-tests of the framework's tasks and user mode, which only a running machine can exercise.

use alloc::sync::Arc;
use core::sync::atomic::{AtomicU32, Ordering};
use ember_frame::mm::{Frame, PageProt, UserAddr, VmSpace};
use ember_frame::task::{Task, WaitQueue, yield_now};
use ember_frame::time;
use ember_frame::user::{PAGE_FAULT, ReturnReason, UserContext};

/// Two tasks take turns through a wait queue; a third sleeps 20 ms on the timer.
pub(crate) fn tasks() -> Result<(), &'static str> {
    static TURN: AtomicU32 = AtomicU32::new(0);
    static QUEUE: WaitQueue = WaitQueue::new();
    static SLEPT: AtomicU32 = AtomicU32::new(0);
    for me in 0..2u32 {
        Task::spawn(
            move || {
                for round in 0..5u32 {
                    QUEUE.wait_until(|| (TURN.load(Ordering::Acquire) == round * 2 + me).then_some(()));
                    TURN.fetch_add(1, Ordering::AcqRel);
                    QUEUE.wake_all();
                }
            },
            (),
        )
        .map_err(|_| "spawn failed")?;
    }
    Task::spawn(
        || {
            let q = WaitQueue::new();
            let start = time::now_ns();
            let none: Option<()> = q.wait_until_deadline(|| None, Some(start + 20_000_000));
            if none.is_none() && time::now_ns() >= start + 20_000_000 {
                SLEPT.store(1, Ordering::Release);
            }
        },
        (),
    )
    .map_err(|_| "spawn failed")?;
    QUEUE.wait_until(|| (TURN.load(Ordering::Acquire) == 10).then_some(()));
    let deadline = time::now_ns() + 1_000_000_000;
    while SLEPT.load(Ordering::Acquire) == 0 && time::now_ns() < deadline {
        yield_now();
        let q = WaitQueue::new();
        let _: Option<()> = q.wait_until_deadline(|| None, Some(time::now_ns() + 1_000_000));
    }
    if SLEPT.load(Ordering::Acquire) != 1 {
        return Err("the sleeping task did not wake after 20 ms");
    }
    ember_frame::println!("tasks: 10 turns, sleeper woke");
    Ok(())
}

const CODE: u64 = 0x40_0000;
const STACK: u64 = 0x80_0000;

/// `mov eax, 60; mov edi, 42; syscall; mov qword [0], 0; jmp $`
const PROGRAM: [u8; 26] = [
    0xB8, 60, 0, 0, 0, 0xBF, 42, 0, 0, 0, 0x0F, 0x05, 0x48, 0xC7, 0x04, 0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0xEB, 0xFE,
];

/// Runs a tiny program in user mode: a system call, a page fault, then a loop that the timer interrupts.
pub(crate) fn user_mode() -> Result<(), &'static str> {
    let vm = Arc::new(VmSpace::new().map_err(|_| "no address space")?);
    let code = Frame::alloc_zeroed().ok_or("no frame")?;
    code.write_bytes(0, &PROGRAM);
    let at = |a| UserAddr::new(a).ok_or("bad address");
    let flush = vm
        .map(
            at(CODE)?,
            code,
            PageProt {
                write: false,
                exec: true,
            },
        )
        .map_err(|_| "map")?;
    drop(flush);
    let flush = vm
        .map(
            at(STACK)?,
            Frame::alloc_zeroed().ok_or("no frame")?,
            PageProt {
                write: true,
                exec: false,
            },
        )
        .map_err(|_| "map")?;
    drop(flush);
    vm.activate();

    let mut buf = [0u8; 4];
    vm.read_bytes(at(CODE)?, &mut buf)
        .map_err(|_| "read of the code page faulted")?;
    if buf != PROGRAM[..4] {
        return Err("read of the code page returned other bytes");
    }
    match vm.write_bytes(at(CODE)?, &[0]) {
        Err(f) if f.addr == CODE && f.write => {}
        _ => return Err("a write to a read-only user page did not fault"),
    }
    match vm.read_bytes(at(STACK + 4094)?, &mut buf) {
        Err(f) if f.addr == STACK + 4096 => {}
        _ => return Err("a read across the end of the stack page did not fault where it should"),
    }
    if UserAddr::new(0xFFFF_8000_0000_0000).is_some() {
        return Err("a kernel address passed as a user address");
    }

    let mut ctx = UserContext::default();
    ctx.regs.rip = CODE;
    ctx.regs.rsp = STACK + 4096;
    if ctx.execute(false) != ReturnReason::Syscall || ctx.regs.rax != 60 || ctx.regs.rdi != 42 {
        return Err("the syscall did not come back with its registers");
    }
    match ctx.execute(true) {
        ReturnReason::Exception(e) if e.vector == PAGE_FAULT && e.fault_addr == 0 && e.error_code & 6 == 6 => {}
        _ => return Err("the user page fault was not reported"),
    }
    ctx.regs.rip += 12;
    // A task that sleeps 2 ms five times: each deadline is a timer interrupt while the user loop runs (the
    // timer is armed only for deadlines and for slices when another task is ready, so one sleep is not enough).
    let waker = Task::spawn(
        || {
            let q = WaitQueue::new();
            for _ in 0..5 {
                let _: Option<()> = q.wait_until_deadline(|| None, Some(time::now_ns() + 2_000_000));
            }
        },
        (),
    )
    .map_err(|_| "spawn failed")?;
    let mut interrupts = 0;
    while interrupts < 3 {
        match ctx.execute(false) {
            ReturnReason::Interrupt => interrupts += 1,
            _ => return Err("the user loop stopped for something other than an interrupt"),
        }
        ember_frame::task::preempt_point();
    }
    drop(waker);
    ctx.regs.rip = 0xFFFF_8000_0000_0000;
    match ctx.execute(false) {
        ReturnReason::Exception(e) if e.vector == ember_frame::user::GENERAL_PROTECTION => {}
        _ => return Err("a kernel RIP was not refused"),
    }
    ember_frame::println!("user-mode: syscall, page fault, {interrupts} timer interrupts, bad RIP refused");
    Ok(())
}

/// An interrupt handler that sleeps (`sleep`) or traps (`trap`): the framework must stop it with a clear
/// message instead of letting a nested trap overwrite the interrupt stack.
pub(crate) fn misbehaving_handler(what: &'static str) -> Result<(), &'static str> {
    let line = ember_frame::irq::IrqLine::alloc().map_err(|_| "no vector")?;
    line.on_active(move || match what {
        "sleep" => time::sleep_ns(1000),
        _ => {
            ember_frame::debug::breakpoint_preserves_sse();
        }
    });
    line.raise_on_this_cpu();
    time::sleep_ns(10_000_000);
    Err("the misbehaving handler was not stopped")
}

/// The heap grows even when free memory is scattered: every other page held by "user" frames, then a 4 MiB
/// allocation (no 4 MiB of contiguous frames exist) must succeed.
pub(crate) fn heap_fragmented() -> Result<(), &'static str> {
    // First a block bigger than 2 MiB while memory is still contiguous (the heap once aligned such blocks to
    // 2 MiB only, and the buddy allocator then could not serve them).
    let mut first: alloc::vec::Vec<u8> = alloc::vec::Vec::new();
    first
        .try_reserve_exact(8 << 20)
        .map_err(|_| "an 8 MiB heap allocation failed with plenty of contiguous memory")?;
    drop(first);
    let mut held = alloc::vec::Vec::new();
    held.try_reserve(1 << 16).map_err(|_| "no room for the bookkeeping")?;
    let mut kept = alloc::vec::Vec::new();
    kept.try_reserve(1 << 15).map_err(|_| "no room for the bookkeeping")?;
    while held.len() < held.capacity() {
        match Frame::alloc_zeroed() {
            Some(f) => held.push(f),
            None => break,
        }
    }
    let total = held.len();
    for (i, f) in held.drain(..).enumerate() {
        if i % 2 == 0 {
            kept.push(f);
        }
    }
    let mut big: alloc::vec::Vec<u8> = alloc::vec::Vec::new();
    big.try_reserve_exact(4 << 20)
        .map_err(|_| "a 4 MiB heap allocation failed with scattered free memory")?;
    big.resize(4 << 20, 0x5A);
    if big.iter().step_by(4096).any(|&b| b != 0x5A) {
        return Err("the heap block does not hold what was written");
    }
    ember_frame::println!(
        "heap-fragmented: {} pages held every other one; 4 MiB allocated",
        total / 2
    );
    Ok(())
}

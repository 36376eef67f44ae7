//! The application processors: found in the platform description (ACPI MADT or MP table), started with
//! INIT and start-up IPIs through the real-mode trampoline of [`crate::arch::ap_entry`], all at once, each
//! with its own stacks, GDT, TSS, per-CPU data and local APIC. A CPU that does not answer in time is logged
//! and left out. Each started CPU arms its own timer and enters the scheduler's idle loop: tasks run on
//! every CPU online.

use super::local::{self, MAX_CPUS};
use super::{enable_protections, gdt, idt};
use crate::arch::ap_entry as tramp;
use crate::arch::regs;
use crate::irq::lapic;
use crate::mm::layout::{PAGE_SIZE, phys_to_virt};
use crate::task::KernelStack;
use crate::time::now_ns;
use alloc::boxed::Box;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};

/// How long a CPU may take from its start-up IPI to running its Rust entry (Linux's bound: a vCPU thread of
/// a loaded or nested host can take a while to run).
const ANSWER_TIMEOUT_NS: u64 = 10_000_000_000;
/// How long after the first start-up IPI a CPU that has not taken its parameters gets a second one.
const SECOND_SIPI_AFTER_NS: u64 = 1_000_000;

/// CPUs running (the boot CPU and every application processor that answered).
static ONLINE: AtomicUsize = AtomicUsize::new(1);
/// Set by each application processor once it runs on its own tables.
static ALIVE: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];

/// The APIC ID of each CPU online, by CPU number.
static APIC_IDS: [AtomicU32; MAX_CPUS] = [const { AtomicU32::new(0) }; MAX_CPUS];

/// Sends CPU `index` the kick interrupt (a reschedule or a TLB shootdown; see [`crate::irq::KICK_VECTOR`]).
pub(crate) fn kick(index: usize) {
    if index < online_count() && index != local::current_index() {
        lapic::get().send_fixed(APIC_IDS[index].load(Ordering::Relaxed), crate::irq::KICK_VECTOR);
    }
}

/// The number of CPUs running: the boot CPU and the application processors that answered at boot.
pub fn online_count() -> usize {
    ONLINE.load(Ordering::Acquire)
}

/// What an application processor gets: its number and its stacks (the one it runs on, then the IST stacks
/// for traps, double faults, NMIs and machine checks). Leaked once the CPU has it: it lives as long as the CPU.
struct ApStart {
    index: usize,
    stacks: [KernelStack; 5],
}

/// One application processor being started: its slot in the trampoline page, its parameters (until it
/// claims them; the address of an `ApStart` from `Box::into_raw`) and its APIC ID.
struct Starting {
    apic_id: u32,
    slot: usize,
    start: usize,
}

/// The application processors started by [`start_aps`] that [`wait_for_aps`] has not counted yet, the
/// trampoline page's physical address and when the start-up IPIs were sent.
static STARTING: crate::sync::Mutex<Option<(u64, u64, alloc::vec::Vec<Starting>)>> = crate::sync::Mutex::new(None);

/// Starts every enabled application processor the platform description names, all at once (INIT to each,
/// then a start-up IPI to each), and returns at once: the boot continues while they come up, and
/// [`wait_for_aps`] counts them (sending a second start-up IPI to any that has not taken its parameters 1 ms
/// after the first). CPU numbers follow the platform description's order. Runs once on the boot CPU at boot,
/// after memory, interrupts and time are set up.
pub(crate) fn start_aps() {
    let apic = lapic::get();
    let boot_id = apic.id();
    APIC_IDS[0].store(boot_id, Ordering::Relaxed);
    let platform = crate::irq::platform();
    let mut others = platform
        .cpus()
        .iter()
        .filter(|c| c.enabled && c.apic_id != boot_id)
        .peekable();
    if others.peek().is_none() {
        return;
    }
    if crate::time::pit_is_timer() {
        // The PIT is one timer, and its interrupt reaches the boot CPU only: other CPUs would have no timer.
        log::warn!("smp: the local APIC timer does not count; only the boot CPU runs");
        return;
    }
    let Some(base) = crate::mm::ap_trampoline() else {
        log::warn!("smp: no start page below 1 MiB; only the boot CPU runs");
        return;
    };
    write_trampoline(base);
    let mut starting: alloc::vec::Vec<Starting> = alloc::vec::Vec::new();
    for cpu in others {
        let index = starting.len() + 1;
        if index == MAX_CPUS {
            log::warn!("smp: more than {MAX_CPUS} CPUs; the others are left out");
            break;
        }
        if !apic.is_x2apic() && cpu.apic_id > 0xFE {
            log::warn!(
                "smp: CPU with APIC ID {} cannot be reached in xAPIC mode; left out",
                cpu.apic_id
            );
            continue;
        }
        let Some(start) = prepare(base, index, cpu.apic_id) else {
            log::warn!(
                "smp: no memory for the stacks of CPU with APIC ID {}; it and the CPUs after it are left out",
                cpu.apic_id
            );
            break;
        };
        starting.push(Starting {
            apic_id: cpu.apic_id,
            slot: index - 1,
            start: start as usize,
        });
    }
    share_kernel_half(base);
    let page = (base >> 12) as u8;
    for cpu in &starting {
        apic.send_init(cpu.apic_id);
    }
    for cpu in &starting {
        apic.send_startup(cpu.apic_id, page);
    }
    *STARTING.lock() = Some((base, now_ns(), starting));
}

/// Waits until every application processor [`start_aps`] started has answered or was given up (bounded),
/// and counts them online: from then on they run tasks. The kernel calls it before `ready` (the boot work
/// in between overlaps their start-up). Later calls return at once.
///
/// The boot CPU waits halted (each CPU kicks it when it reports alive), never spinning: a spinning vCPU takes
/// the host core that the vCPUs it waits for need (a loaded host, a nested VMM), and QEMU's single-threaded
/// TCG (`-icount`) runs the other vCPUs only when it stops: the spin that waited for the start-up IPIs to be
/// taken made 8 vCPUs take 400 ms of guest time to `ready` under `-icount`, the 1 ms timeout ending only
/// when the scheduler's time slice did.
pub fn wait_for_aps() {
    let Some((base, sent_at, starting)) = STARTING.lock().take() else {
        return;
    };
    let waited_from = now_ns();
    let deadline = waited_from + ANSWER_TIMEOUT_NS;
    let alive = |cpu: &Starting| ALIVE[cpu.slot + 1].load(Ordering::Acquire);
    let taken = |cpu: &Starting| claim_word(base, cpu.slot).load(Ordering::Acquire) == 0;
    if !crate::time::wait_until(Some(sent_at + SECOND_SIPI_AFTER_NS), || starting.iter().all(alive)) {
        let page = (base >> 12) as u8;
        for cpu in starting.iter().filter(|c| !taken(c)) {
            lapic::get().send_startup(cpu.apic_id, page);
        }
        crate::time::wait_until(Some(deadline), || starting.iter().all(alive));
    }
    // CPU numbers are contiguous: the first CPU that did not answer ends the CPUs online.
    let mut online = 1;
    for cpu in &starting {
        if alive(cpu) {
            if online == cpu.slot + 1 {
                APIC_IDS[online].store(cpu.apic_id, Ordering::Relaxed);
                online += 1;
            } else {
                log::warn!(
                    "smp: CPU with APIC ID {} is left out (a CPU before it did not answer)",
                    cpu.apic_id
                );
            }
        } else if claim_word(base, cpu.slot).swap(0, Ordering::AcqRel) == 1 {
            // Withdrawn before the CPU took them: it parks if it ever runs the trampoline.
            log::warn!("smp: CPU with APIC ID {} did not answer; left out", cpu.apic_id);
            // SAFETY: `start` came from `Box::into_raw` in `prepare` and no CPU got it.
            drop(unsafe { Box::from_raw(cpu.start as *mut ApStart) });
        } else {
            // Its parameters stay the CPU's: it may still run on its stacks.
            log::warn!(
                "smp: CPU with APIC ID {} started but never finished; left out",
                cpu.apic_id
            );
        }
    }
    ONLINE.store(online, Ordering::Release);
    for index in 1..online {
        kick(index);
    }
    log::info!(
        "smp: {} CPUs online ({} us from the start-up IPIs, {} us waited here)",
        online_count(),
        (now_ns() - sent_at) / 1000,
        (now_ns() - waited_from) / 1000
    );
}

/// A pointer to `T` at offset `offset` of the trampoline page at physical `base`.
fn at<T>(base: u64, offset: usize) -> *mut T {
    phys_to_virt(base + offset as u64) as *mut T
}

/// Copies the trampoline code and its fixed data (GDT, far pointers, page tables but the kernel half) into
/// the reserved pages at `base`.
fn write_trampoline(base: u64) {
    let code = tramp::trampoline_code();
    assert!(code.len() <= tramp::SLOTS, "the AP trampoline code overlaps its data");
    let (off32, off64) = tramp::code_offsets();
    let gdt: [u64; 4] = [
        0,
        0x00CF_9A00_0000_FFFF, // 0x08: 32-bit code
        0x00CF_9200_0000_FFFF, // 0x10: data
        0x00AF_9A00_0000_FFFF, // 0x18: 64-bit code
    ];
    let pml4 = base + PAGE_SIZE;
    let pdpt = base + 2 * PAGE_SIZE;
    let pd = base + 3 * PAGE_SIZE;
    // EFER.NXE when the boot CPU has it on: the kernel's page tables use the NX bit.
    // SAFETY: EFER exists on every x86-64 CPU; reading it has no effect.
    let efer = 0x100 | (unsafe { regs::rdmsr(0xC000_0080) } & 0x800) as u32;
    // SAFETY: the four pages at `base` were reserved for this at boot (below 1 MiB, in the direct map) and
    // nothing else references them; no application processor runs yet. Every write stays inside them, at the
    // offsets the trampoline reads, with the layout it expects (unaligned writes where the layout packs).
    unsafe {
        core::ptr::write_bytes(at::<u8>(base, 0), 0, 4 * PAGE_SIZE as usize);
        core::ptr::copy_nonoverlapping(code.as_ptr(), at(base, 0), code.len());
        at::<[u64; 4]>(base, tramp::GDT).write(gdt);
        at::<u16>(base, tramp::GDT_POINTER).write(31);
        at::<u32>(base, tramp::GDT_POINTER + 2).write_unaligned((base + tramp::GDT as u64) as u32);
        at::<u32>(base, tramp::FAR_32).write((base + off32 as u64) as u32);
        at::<u16>(base, tramp::FAR_32 + 4).write(0x08);
        at::<u32>(base, tramp::FAR_64).write((base + off64 as u64) as u32);
        at::<u16>(base, tramp::FAR_64 + 4).write(0x18);
        at::<u32>(base, tramp::CR3).write(pml4 as u32);
        at::<u32>(base, tramp::EFER).write(efer);
        at::<u64>(base, PAGE_SIZE as usize).write(pdpt | 3);
        at::<u64>(base, 2 * PAGE_SIZE as usize).write(pd | 3);
        at::<u64>(base, 3 * PAGE_SIZE as usize).write(0x83); // the first 2 MiB, identity, writable
        for slot in 0..tramp::SLOT_COUNT {
            at::<u32>(base, tramp::SLOTS + slot * tramp::SLOT_SIZE + tramp::SLOT_APIC_ID).write(u32::MAX);
        }
    }
}

/// Makes the stacks and parameters of CPU number `index` (APIC ID `apic_id`) and fills its trampoline slot
/// (`index - 1`), claimable. Returns the parameters (`None`: no memory for the stacks).
fn prepare(base: u64, index: usize, apic_id: u32) -> Option<*mut ApStart> {
    let stack = || KernelStack::new();
    let stacks = [stack()?, stack()?, stack()?, stack()?, stack()?];
    let start = Box::into_raw(Box::new(ApStart { index, stacks }));
    // SAFETY: `start` is valid (just made); only its stack top is read.
    let stack_top = unsafe { (*start).stacks[0].top() };
    let slot = tramp::SLOTS + (index - 1) * tramp::SLOT_SIZE;
    // SAFETY: the slot lies in the trampoline page (ours; see `write_trampoline`), and no CPU was sent a
    // start-up IPI yet, so nothing reads it.
    unsafe {
        at::<u32>(base, slot + tramp::SLOT_APIC_ID).write(apic_id);
        at::<u64>(base, slot + tramp::SLOT_STACK).write(stack_top);
        at::<u64>(base, slot + tramp::SLOT_ARGUMENT).write(start as u64);
    }
    claim_word(base, index - 1).store(1, Ordering::Release);
    Some(start)
}

/// Copies the kernel half of the running page table into the trampoline's, now that every starting CPU's
/// stacks are mapped, and records the kernel's root for the CPUs to load.
fn share_kernel_half(base: u64) {
    let kernel_root = regs::cr3() & 0x000F_FFFF_FFFF_F000;
    // SAFETY: the trampoline pages are ours and no CPU was sent a start-up IPI yet. The kernel half of the
    // running page table is read through the direct map (the boot CPU runs on the kernel's own table at boot).
    unsafe {
        let kernel_half = (phys_to_virt(kernel_root) as *const u64).add(256);
        core::ptr::copy_nonoverlapping(kernel_half, at::<u64>(base, PAGE_SIZE as usize + 256 * 8), 256);
        at::<u64>(base, tramp::KERNEL_CR3).write(kernel_root);
    }
}

/// The claim word of trampoline slot `slot`.
fn claim_word(base: u64, slot: usize) -> &'static AtomicU32 {
    // SAFETY: the claim word lies in the reserved trampoline page (kept for good), 4-byte aligned; it is only
    // ever accessed atomically (here, and by `lock xchg` in the trampoline).
    unsafe { AtomicU32::from_ptr(at(base, tramp::SLOTS + slot * tramp::SLOT_SIZE + tramp::SLOT_CLAIM)) }
}

/// An application processor's first Rust code, on its own stack with the kernel's page tables, interrupts off.
pub(crate) extern "C" fn ap_main(start: u64) -> ! {
    // SAFETY: the trampoline passes the `ApStart` the boot CPU made for the CPU that claimed the parameters:
    // this one. It is never freed once claimed, so it lives as long as this CPU.
    let start: &'static ApStart = unsafe { &*(start as *const ApStart) };
    local::init_cpu(start.index, regs::cr3());
    super::times::start_this_cpu();
    let [_, trap, double_fault, nmi, machine_check] = &start.stacks;
    gdt::init_ap([trap.top(), double_fault.top(), nmi.top(), machine_check.top()]);
    idt::load();
    enable_protections();
    crate::user::init();
    lapic::get().init_this_cpu();
    lapic::get().start_timer();
    ALIVE[start.index].store(true, Ordering::Release);
    // The boot CPU may be halted in `wait_for_aps`, waiting for this.
    kick(0);
    // Tasks run here once the boot CPU has counted this one online (a wake-up only kicks CPUs online). It
    // halts meanwhile, leaving the host's time to the boot (a kick follows the count; one that comes between
    // the check and the halt ends it).
    while online_count() <= start.index {
        super::times::idle();
    }
    crate::task::run_ap()
}

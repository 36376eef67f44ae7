//! Console input: the UART's receive interrupt (ISA IRQ 4, routed through the IOAPIC) fills a buffer that
//! [`read_byte`] or [`try_read_byte`] drains. The kernel's terminal learns of new input from the waker it
//! registers with [`set_input_waker`].

use super::serial;
use crate::irq::IrqLine;
use crate::sync::Mutex;
use crate::time;
use alloc::collections::VecDeque;
use spin::Once;

/// Bytes kept when nobody reads; later ones are dropped.
const CAPACITY: usize = 4096;
const COM1_IRQ: u8 = 4;

static BUFFER: Mutex<VecDeque<u8>> = Mutex::new(VecDeque::new());
static LINE: Once<IrqLine> = Once::new();
static WAKER: Once<fn()> = Once::new();

/// Routes the UART's interrupt and enables its receive interrupt. Logs and carries on if that fails.
pub(crate) fn enable() {
    let line = match IrqLine::alloc().and_then(|l| l.route_isa(COM1_IRQ).map(|()| l)) {
        Ok(l) => l,
        Err(e) => {
            log::warn!("console: no input ({e:?})");
            return;
        }
    };
    line.on_active(|| {
        let mut buf = BUFFER.lock();
        while let Some(b) = serial::COM1.lock().receive() {
            if buf.len() < CAPACITY {
                buf.push_back(b);
            }
        }
        drop(buf);
        if let Some(wake) = WAKER.get() {
            wake();
        }
    });
    line.unmask();
    LINE.call_once(|| line);
    serial::COM1.lock().enable_receive_interrupt();
}

/// Waits (halted) for the next byte typed on the console.
pub fn read_byte() -> u8 {
    crate::cpu::assert_may_sleep("console::read_byte");
    let mut byte = None;
    time::wait_until(None, || {
        byte = BUFFER.lock().pop_front();
        byte.is_some()
    });
    byte.unwrap_or(0)
}

/// The next byte typed on the console, if one is waiting.
pub fn try_read_byte() -> Option<u8> {
    BUFFER.lock().pop_front()
}

/// Registers `wake`, called from the console's interrupt handler after input arrives (interrupt context: it
/// must only wake tasks, e.g. [`crate::task::WaitQueue::wake_all`], and never block). The first registration
/// stays.
pub fn set_input_waker(wake: fn()) {
    WAKER.call_once(|| wake);
}

//! The frame bitmap (`ember-frames`) against a model: one state per frame.

use crate::input::Input;
use ember_frames::{FrameBitmap, FreeError};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Frame {
    NotRam,
    Free,
    Allocated,
}

/// Operations from the input (add RAM, allocate runs, free runs, some of them wrong) on a bitmap of up to 600
/// frames and on a model. Checks: an allocation is a free, aligned run of RAM in the model (never a frame
/// twice, never a frame that is not RAM) and fails only when the model has no such run; a free succeeds
/// exactly when the model says the whole run is allocated, and names the first frame that is not; the free
/// count always matches.
pub fn frames(data: &[u8]) {
    let mut input = Input::new(data);
    let frames = input.below(600);
    let mut storage = vec![0u64; FrameBitmap::words_for(frames)];
    let mut bitmap = FrameBitmap::new(&mut storage, frames).expect("storage sized by words_for");
    let mut model = vec![Frame::NotRam; frames];
    let mut held: Vec<(usize, usize)> = Vec::new();
    while !input.is_empty() {
        match input.u8() % 5 {
            0 => {
                let (start, count) = (input.below(frames + 8), input.below(80));
                bitmap.add_free(start, count);
                for f in model.iter_mut().skip(start).take(count) {
                    *f = Frame::Free;
                }
                // Handing over allocated frames frees them (the caller's mistake, but defined).
                held.retain(|&(s, c)| s + c <= start || start + count <= s);
            }
            1 | 2 => {
                let count = input.below(20);
                let align = 1usize << input.below(8);
                match bitmap.alloc(count, align) {
                    Some(start) => {
                        assert!(
                            count > 0 && start % align == 0,
                            "{count} frames at {start}, align {align}"
                        );
                        let run = model.get_mut(start..start + count).expect("run inside the bitmap");
                        assert!(
                            run.iter().all(|f| *f == Frame::Free),
                            "alloc of {start}+{count} over {run:?}"
                        );
                        run.fill(Frame::Allocated);
                        held.push((start, count));
                    }
                    None => assert!(
                        count == 0 || !has_run(&model, count, align),
                        "alloc({count}, {align}) failed with a free run in the model"
                    ),
                }
            }
            3 if !held.is_empty() => {
                let (start, count) = held.swap_remove(input.below(held.len()));
                assert_eq!(bitmap.free(start, count), Ok(()));
                model[start..start + count].fill(Frame::Free);
            }
            _ => {
                // Any run at all: double frees, frames that never were RAM, runs past the end.
                let (start, count) = (input.below(frames + 8), input.below(20));
                let expected = if start + count > frames {
                    Err(FreeError::OutOfRange)
                } else {
                    match (start..start + count).find(|&f| model[f] != Frame::Allocated) {
                        Some(f) => Err(FreeError::NotAllocated(f)),
                        None => Ok(()),
                    }
                };
                assert_eq!(bitmap.free(start, count), expected, "free({start}, {count})");
                if expected.is_ok() {
                    model[start..start + count].fill(Frame::Free);
                    held.retain(|&(s, c)| s + c <= start || start + count <= s);
                }
            }
        }
        let free = model.iter().filter(|f| **f == Frame::Free).count();
        assert_eq!(bitmap.free_frames(), free, "free count");
    }
}

/// Whether the model has `count` free frames in a row starting at a multiple of `align`.
fn has_run(model: &[Frame], count: usize, align: usize) -> bool {
    (0..model.len()).step_by(align).any(|s| {
        model
            .get(s..s + count)
            .is_some_and(|r| r.iter().all(|f| *f == Frame::Free))
    })
}

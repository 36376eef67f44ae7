//! The pure part of Linux's `execve` for static x86-64 ELF executables (`fs/binfmt_elf.c`, `fs/exec.c`).
//!
//! - [`LoadPlan::parse`] checks an ELF64 image and describes what to map: its `PT_LOAD` segments, entry point,
//!   program-header address and stack executability. Dynamically linked programs (`PT_INTERP`) are refused.
//! - [`load_bias`] places a static PIE (`ET_DYN`) and checks that the whole image fits in user space.
//! - [`build_stack`] lays out the initial user stack (strings, `AT_RANDOM` bytes, platform string, auxiliary
//!   vector, `envp`, `argv`, `argc`) byte for byte as Linux's `create_elf_tables` does.
//!
//! Everything here is plain logic over byte slices; mapping memory and jumping to user mode are the kernel's.
//! Every input is hostile: all arithmetic is checked and every failure is a typed error that prints as a log line.
//!
//! The ELF reader is our own (`elf`, about 100 lines) rather than `xmas-elf` 0.10: its `parse_program_header`
//! slices `input[e_phoff + i * e_phentsize..]` without a bounds check, `zero::read` asserts that `e_phentsize`
//! equals the structure size, and `ProgramHeader::raw_data` adds `p_offset + p_filesz` unchecked, so a
//! malformed file panics rather than failing.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

mod elf;
mod plan;
mod stack;

pub use elf::ElfError;
pub use plan::{ELF_ET_DYN_BASE, Kind, LoadPlan, MAX_PHNUM, PAGE_SIZE, PHENT_SIZE, Segment, USER_END, load_bias};
pub use stack::{AuxValues, MAX_ARG_STRLEN, MINSIGSTKSZ, PLATFORM, StackError, StackImage, build_stack};

#[cfg(test)]
mod tests;

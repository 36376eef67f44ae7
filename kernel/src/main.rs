//! The ember kernel image: binds the kernel's `main` to the framework's boot path. Nothing else belongs here.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

ember_frame::entry!(ember_kernel::main);

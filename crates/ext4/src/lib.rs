//! ext2 and ext4 file systems, read-write, over a [`BlockDevice`].
//!
//! Supported: everything `mke2fs -t ext4` enables by default on Debian 12 (`has_journal`, `ext_attr`,
//! `resize_inode`, `dir_index`, `filetype`, `extent`, `64bit`, `flex_bg`, `sparse_super`, `large_file`,
//! `huge_file`, `dir_nlink`, `extra_isize`, `metadata_csum`), plain ext2 (indirect block maps), and
//! `gdt_csum`/`uninit_bg`, `csum_seed`, `sparse_super2`, `largedir`. `metadata_csum` checksums (superblock,
//! group descriptors, bitmaps, inodes, extent blocks, directory blocks) are verified on read and written on
//! write (a directory block or bitmap verified or written since the mount is trusted when read again; the
//! descriptors' bitmap checksums are computed at [`Fs::sync`]; [`set_crc32c`] installs a faster CRC32C than
//! the built-in software one). Inline data, encryption, case folding,
//! `meta_bg`, `mmp`, `bigalloc` and external journals refuse the mount; unknown read-only-compatible features
//! mount read-only.
//!
//! Journal: a read-write mount replays what the journal holds (JBD2 descriptor, commit and revoke blocks,
//! checksums v2/v3), then processes Linux's orphan list. Writes then go straight to their home locations,
//! without journalling; the journal stays empty and the superblock is marked not-clean while mounted and clean
//! at [`Fs::unmount`], so `e2fsck -fn` finds a cleanly unmounted image consistent. A crash while mounted leaves
//! a file system that needs `e2fsck`.
//!
//! Directories: lookups in htree-indexed directories follow the index (half-MD4, TEA and legacy hashes, signed
//! or unsigned as the superblock says); other lookups scan all blocks. Inserts keep the index as Linux does
//! (leaves split by hash, index nodes split, a level added while the depth allows; `ENOSPC` past that), a
//! one-block directory that outgrows its block becomes indexed (with `dir_index`), and a removal changes only
//! the entry's leaf. A corrupt index refuses the change or lookup with [`Error::Corrupt`] (`e2fsck -fD`
//! rebuilds it).
//!
//! Reads do not update access times (like `noatime`); callers that want `relatime` use [`Fs::setattr`].
//!
//! Handles are inode numbers ([`Ino`]); [`Fs::root`] is 2. Methods take `&mut self`: callers wrap the
//! [`Fs`] in their own lock. [`Fs`] keeps parsed inode records (up to 16,384, checksums verified when first
//! read; writes go to the device at once and into the cache); everything else is read from the device on each
//! call, so the caller's block device should sit on a buffer cache. Hostile images yield [`Error::Corrupt`],
//! never a panic.
//!
//! A device error gives [`Error::Io`] and turns the file system read-only from then on (Linux's
//! `errors=remount-ro`): [`Fs::read_only_reason`] is then [`IO_ERROR_READ_ONLY`].
//!
//! Why not a crate: `ext4-view` (no_std) only reads and keeps its own caches, so writes, allocation and
//! checksum updates would have to be written next to a second parser anyway; the other ext4 crates need
//! nightly or `std`.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

mod balloc;
mod blockmap;
mod bytes;
mod csum;
mod device;
mod dir;
mod dxhash;
mod error;
mod extent;
mod file;
mod fs;
mod group;
mod htree;
mod htree_insert;
mod inode;
mod journal;
mod ops;
mod superblock;
mod xattr;

pub use csum::set_crc32c;
pub use device::{BlockDevice, IoError};
pub use dir::DirEntry;
pub use error::{Error, Result};
pub use fs::{Fs, IO_ERROR_READ_ONLY, MountOptions, StatFs};
pub use inode::{FileType, Ino, Metadata, ROOT_INO, Timestamp};
pub use ops::{SetAttr, Unlinked};
pub use xattr::XattrMode;

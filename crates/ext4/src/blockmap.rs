//! ext2/ext3 block maps: 12 direct pointers, then single, double and triple indirect blocks.

use crate::bytes::{le32, put32};
use crate::device::BlockDevice;
use crate::error::{Error, Result};
use crate::fs::Fs;
use crate::inode::Inode;
use alloc::vec;
use alloc::vec::Vec;

/// Recently read indirect blocks, valid for one file operation.
#[derive(Default)]
pub struct IndirectCache {
    blocks: Vec<(u64, Vec<u8>)>,
}

impl IndirectCache {
    fn get(&self, b: u64) -> Option<&Vec<u8>> {
        self.blocks.iter().find(|(k, _)| *k == b).map(|(_, v)| v)
    }
    fn put(&mut self, b: u64, data: Vec<u8>) {
        self.blocks.retain(|(k, _)| *k != b);
        if self.blocks.len() >= 4 {
            self.blocks.remove(0);
        }
        self.blocks.push((b, data));
    }
}

/// Appends a run to a list of runs to free, merging with the last one when contiguous.
pub fn push_run(runs: &mut Vec<(u64, u64)>, b: u64, n: u64) {
    if let Some(last) = runs.last_mut()
        && last.0 + last.1 == b
    {
        last.1 += n;
        return;
    }
    runs.push((b, n));
}

impl<D: BlockDevice> Fs<D> {
    /// The slot in `i_block` and the indexes inside the indirect blocks that lead to `lblk`.
    fn ind_path(&self, lblk: u32) -> Result<(usize, Vec<usize>)> {
        let p = (self.bs() / 4) as u64;
        let mut l = lblk as u64;
        if l < 12 {
            return Ok((l as usize, Vec::new()));
        }
        l -= 12;
        if l < p {
            return Ok((12, vec![l as usize]));
        }
        l -= p;
        if l < p * p {
            return Ok((13, vec![(l / p) as usize, (l % p) as usize]));
        }
        l -= p * p;
        if l < p * p * p {
            return Ok((
                14,
                vec![(l / (p * p)) as usize, ((l / p) % p) as usize, (l % p) as usize],
            ));
        }
        Err(Error::FileTooBig)
    }

    fn check_ptr(&self, b: u64) -> Result<u64> {
        if b != 0 && (b <= self.sb.first_data_block as u64 || b >= self.sb.blocks_count) {
            return Err(Error::Corrupt("block pointer outside the file system"));
        }
        Ok(b)
    }

    fn read_ind(&mut self, b: u64, cache: &mut IndirectCache) -> Result<Vec<u8>> {
        if let Some(v) = cache.get(b) {
            return Ok(v.clone());
        }
        let mut buf = vec![0u8; self.bs()];
        self.read_blocks(b, &mut buf)?;
        cache.put(b, buf.clone());
        Ok(buf)
    }

    /// The physical block of logical block `lblk`, or `None` for a hole.
    pub(crate) fn ind_map(&mut self, inode: &Inode, lblk: u32, cache: &mut IndirectCache) -> Result<Option<u64>> {
        let (slot, path) = self.ind_path(lblk)?;
        let mut b = self.check_ptr(le32(inode.i_block(), slot * 4) as u64)?;
        for idx in path {
            if b == 0 {
                return Ok(None);
            }
            let data = self.read_ind(b, cache)?;
            b = self.check_ptr(le32(&data, idx * 4) as u64)?;
        }
        Ok((b != 0).then_some(b))
    }

    /// Points logical block `lblk` (a hole) at `pblk`, allocating indirect blocks on the way.
    pub(crate) fn ind_set(&mut self, inode: &mut Inode, lblk: u32, pblk: u64, cache: &mut IndirectCache) -> Result<()> {
        let (slot, path) = self.ind_path(lblk)?;
        if path.is_empty() {
            put32(inode.i_block_mut(), slot * 4, pblk as u32);
            return Ok(());
        }
        let bs = self.bs();
        let mut b = self.check_ptr(le32(inode.i_block(), slot * 4) as u64)?;
        if b == 0 {
            b = self.alloc_zeroed_block(inode, pblk)?;
            cache.put(b, vec![0u8; bs]);
            put32(inode.i_block_mut(), slot * 4, b as u32);
        }
        for (depth, &idx) in path.iter().enumerate() {
            let mut data = self.read_ind(b, cache)?;
            let last = depth + 1 == path.len();
            let next = self.check_ptr(le32(&data, idx * 4) as u64)?;
            if last {
                put32(&mut data, idx * 4, pblk as u32);
                self.write_blocks(b, &data)?;
                cache.put(b, data);
                return Ok(());
            }
            if next == 0 {
                let n = self.alloc_zeroed_block(inode, pblk)?;
                cache.put(n, vec![0u8; bs]);
                put32(&mut data, idx * 4, n as u32);
                self.write_blocks(b, &data)?;
                cache.put(b, data);
                b = n;
            } else {
                b = next;
            }
        }
        Ok(())
    }

    fn alloc_zeroed_block(&mut self, inode: &mut Inode, goal: u64) -> Result<u64> {
        let (b, _) = self.alloc_blocks(goal, 1)?;
        if b > u32::MAX as u64 {
            return Err(Error::NoSpace);
        }
        let bs = self.bs();
        self.write_blocks(b, &vec![0u8; bs])?;
        let s = inode.sectors(self.sb.block_size) + bs as u64 / 512;
        inode.set_sectors(s);
        Ok(b)
    }

    /// Frees every block at or after logical block `from`, and the indirect blocks left empty.
    pub(crate) fn ind_truncate(&mut self, inode: &mut Inode, from: u32) -> Result<()> {
        let p = (self.bs() / 4) as u64;
        let mut runs = Vec::new();
        let mut nodes = 0u64;
        for i in (from as usize).min(12)..12 {
            let b = self.check_ptr(le32(inode.i_block(), i * 4) as u64)?;
            if b != 0 {
                push_run(&mut runs, b, 1);
                put32(inode.i_block_mut(), i * 4, 0);
            }
        }
        let mut base = 12u64;
        for (slot, level) in [(12usize, 1u32), (13, 2), (14, 3)] {
            let span = p.pow(level);
            if (from as u64) < base + span {
                let b = self.check_ptr(le32(inode.i_block(), slot * 4) as u64)?;
                let start = (from as u64).saturating_sub(base);
                if b != 0 && self.ind_trunc_node(b, level, start, &mut runs, &mut nodes)? {
                    push_run(&mut runs, b, 1);
                    put32(inode.i_block_mut(), slot * 4, 0);
                }
            }
            base += span;
        }
        let mut freed = 0;
        for (b, n) in runs {
            self.free_blocks(b, n)?;
            freed += n;
        }
        let s = inode
            .sectors(self.sb.block_size)
            .saturating_sub(freed * (self.bs() as u64 / 512));
        inode.set_sectors(s);
        Ok(())
    }

    /// Frees the part of the subtree under indirect block `b` from relative block `start` on; returns whether
    /// the node is now empty (the caller frees it).
    fn ind_trunc_node(
        &mut self,
        b: u64,
        level: u32,
        start: u64,
        runs: &mut Vec<(u64, u64)>,
        nodes: &mut u64,
    ) -> Result<bool> {
        *nodes += 1;
        if *nodes > self.sb.blocks_count {
            return Err(Error::Corrupt("indirect tree too large"));
        }
        let p = self.bs() / 4;
        let child_span = (p as u64).pow(level - 1);
        let mut data = vec![0u8; self.bs()];
        self.read_blocks(b, &mut data)?;
        let mut changed = false;
        for i in 0..p {
            let ptr = self.check_ptr(le32(&data, i * 4) as u64)?;
            let child_start = i as u64 * child_span;
            if ptr == 0 || child_start + child_span <= start {
                continue;
            }
            let free_it =
                level == 1 || self.ind_trunc_node(ptr, level - 1, start.saturating_sub(child_start), runs, nodes)?;
            if free_it {
                push_run(runs, ptr, 1);
                put32(&mut data, i * 4, 0);
                changed = true;
            }
        }
        let empty = data.iter().all(|&x| x == 0);
        if changed && !empty {
            self.write_blocks(b, &data)?;
        }
        Ok(empty)
    }
}

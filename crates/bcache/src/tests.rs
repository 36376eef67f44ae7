use super::*;

/// A device in memory that counts requests and can be told to fail.
struct Mem {
    data: Vec<u8>,
    fail: bool,
    flushes: u32,
    /// Reads longer than the cache's own runs are allowed (`read_through`).
    long_reads: bool,
}

impl Device for Mem {
    fn sectors(&self) -> u64 {
        (self.data.len() / SECTOR) as u64
    }
    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), Error> {
        assert_eq!(buf.len() % SECTOR, 0);
        assert!(buf.len() <= RUN * BLOCK || self.long_reads);
        if self.fail {
            return Err(Error::Io);
        }
        let at = sector as usize * SECTOR;
        buf.copy_from_slice(&self.data[at..at + buf.len()]);
        Ok(())
    }
    fn write(&mut self, sector: u64, buf: &[u8]) -> Result<(), Error> {
        assert_eq!(buf.len() % SECTOR, 0);
        assert!(buf.len() <= RUN * BLOCK);
        if self.fail {
            return Err(Error::Io);
        }
        let at = sector as usize * SECTOR;
        self.data[at..at + buf.len()].copy_from_slice(buf);
        Ok(())
    }
    fn flush(&mut self) -> Result<(), Error> {
        self.flushes += 1;
        Ok(())
    }
}

fn mem(bytes: usize) -> Mem {
    Mem {
        data: (0..bytes).map(|i| (i * 7 % 251) as u8).collect(),
        fail: false,
        flushes: 0,
        long_reads: false,
    }
}

/// A small deterministic generator (xorshift).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn random_reads_and_writes_match_a_model_through_eviction_and_flush() {
    // 1.5 MiB plus a partial last block; a cache of 64 blocks, so most of it gets evicted along the way.
    let size = 3 * 512 * 1024 + 1536;
    let mut model = mem(size).data;
    let mut cache = Cache::new(mem(size), 0);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..4000 {
        let len = (rng.next() % 20_000) as usize;
        let off = (rng.next() % (size as u64 - len as u64)) as usize;
        if rng.next().is_multiple_of(2) {
            let data: Vec<u8> = (0..len).map(|i| (i as u64 ^ round) as u8).collect();
            cache.write(off as u64, &data).unwrap();
            model[off..off + len].copy_from_slice(&data);
        } else {
            let mut buf = vec![0u8; len];
            cache.read(off as u64, &mut buf).unwrap();
            assert_eq!(buf, model[off..off + len], "round {round}");
        }
        assert!(cache.occupancy().0 <= 2 * RUN);
    }
    cache.flush().unwrap();
    assert_eq!(cache.occupancy().1, 0);
    assert_eq!(cache.dev.data, model);
    assert_eq!(cache.dev.flushes, 1);
}

#[test]
fn reading_twice_reads_the_device_once_and_sequential_reads_batch() {
    let mut cache = Cache::new(mem(1 << 20), 1024);
    let mut buf = vec![0u8; 4096];
    for b in 0..256u64 {
        cache.read(b * 4096, &mut buf).unwrap();
    }
    let first = cache.stats();
    assert_eq!(first.reads, 256 / RUN as u64);
    for b in 0..256u64 {
        cache.read(b * 4096, &mut buf).unwrap();
    }
    assert_eq!(cache.stats().reads, first.reads);
    assert_eq!(cache.stats().hits, first.hits + 256);
}

#[test]
fn whole_block_writes_do_not_read_and_flush_coalesces() {
    let mut cache = Cache::new(mem(1 << 20), 1024);
    cache.write(0, &vec![1u8; 64 * 4096]).unwrap();
    assert_eq!(cache.stats().reads, 0);
    cache.flush().unwrap();
    assert_eq!(cache.stats().writes, 64 / RUN as u64);
    assert!(cache.dev.data[..64 * 4096].iter().all(|&b| b == 1));
}

#[test]
fn ranges_outside_the_device_are_refused() {
    let mut cache = Cache::new(mem(8192), 0);
    let mut buf = [0u8; 2];
    assert_eq!(cache.read(8191, &mut buf), Err(Error::OutOfRange));
    assert_eq!(cache.write(u64::MAX, &buf), Err(Error::OutOfRange));
    assert_eq!(cache.read(8190, &mut buf), Ok(()));
}

#[test]
fn a_failed_write_back_keeps_the_data_dirty() {
    let mut cache = Cache::new(mem(1 << 20), 0);
    cache.write(100, b"hello").unwrap();
    cache.dev.fail = true;
    assert_eq!(cache.flush(), Err(Error::Io));
    assert_eq!(cache.occupancy().1, 1);
    cache.dev.fail = false;
    cache.flush().unwrap();
    assert_eq!(&cache.dev.data[100..105], b"hello");
}

#[test]
fn read_through_sees_cached_and_dirty_blocks_and_keeps_nothing() {
    let mut dev = mem(64 * BLOCK);
    dev.long_reads = true;
    let mut model = dev.data.clone();
    let mut c = Cache::new(dev, 2 * RUN);
    // A dirty block, a block cached clean, and a dirty partial block straddled by the range.
    c.write(5 * BLOCK as u64, &[0xaa; BLOCK]).unwrap();
    model[5 * BLOCK..6 * BLOCK].fill(0xaa);
    let mut one = [0u8; BLOCK];
    c.read(9 * BLOCK as u64, &mut one).unwrap();
    c.write(40 * BLOCK as u64 + 100, &[0x55; 300]).unwrap();
    model[40 * BLOCK + 100..40 * BLOCK + 400].fill(0x55);
    let held = c.occupancy().0;
    // 48 blocks from the middle of a sector-aligned offset: one device request, longer than a run.
    let (off, len) = (512 * 3, 48 * BLOCK);
    let mut buf = vec![0u8; len];
    let reads = c.stats().reads;
    c.read_through(off as u64, &mut buf).unwrap();
    assert_eq!(buf, model[off..off + len]);
    assert_eq!(c.stats().reads, reads + 1);
    assert_eq!(c.occupancy().0, held, "read_through keeps no block");
    // Not in whole sectors: through the cache, same bytes.
    let mut odd = vec![0u8; 1000];
    c.read_through(5 * BLOCK as u64 - 10, &mut odd).unwrap();
    assert_eq!(odd, model[5 * BLOCK - 10..5 * BLOCK + 990]);
    // Past the end: refused.
    assert_eq!(
        c.read_through(63 * BLOCK as u64, &mut [0u8; 2 * BLOCK]),
        Err(Error::OutOfRange)
    );
}

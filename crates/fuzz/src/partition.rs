//! MBR and GPT partition tables (`ember-partition`) read from the fuzz input as a disk.

use ember_partition::{Disk, IoError, PartUuid, SECTOR};

/// The fuzz input as a disk: its bytes, cut to whole sectors; reads past the end fail.
struct Mem<'a>(&'a [u8]);

impl Disk for Mem<'_> {
    fn sectors(&self) -> u64 {
        (self.0.len() / SECTOR) as u64
    }
    fn read(&mut self, lba: u64, buf: &mut [u8; SECTOR]) -> Result<(), IoError> {
        let at = usize::try_from(lba)
            .ok()
            .and_then(|l| l.checked_mul(SECTOR))
            .ok_or(IoError)?;
        let end = at.checked_add(SECTOR).ok_or(IoError)?;
        buf.copy_from_slice(self.0.get(at..end).ok_or(IoError)?);
        Ok(())
    }
}

/// Input: a disk image (the seed corpus holds small GPT and MBR disks made by `sfdisk`). Checks that every
/// partition read is a non-empty range inside the disk past sector 0, that numbers rise, and that each
/// `PARTUUID` prints in its form and matches its own text in either letter case.
pub fn partition(data: &[u8]) {
    let mut disk = Mem(data);
    let sectors = disk.sectors();
    let Ok(Some(table)) = ember_partition::read(&mut disk) else {
        return;
    };
    let mut last = 0;
    for p in &table.partitions {
        assert!(p.start > 0 && p.sectors > 0, "{p:?}");
        assert!(
            p.start.checked_add(p.sectors).is_some_and(|end| end <= sectors),
            "{p:?} past {sectors}"
        );
        assert!(p.number > last, "numbers do not rise: {:?}", table.partitions);
        last = p.number;
        let text = p.uuid.to_string();
        let len = match p.uuid {
            PartUuid::Gpt(_) => 36,
            PartUuid::Mbr { .. } => 11,
        };
        assert_eq!(text.len(), len, "{text}");
        assert!(p.uuid.matches(&text) && p.uuid.matches(&text.to_uppercase()));
    }
}

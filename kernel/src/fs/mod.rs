//! Files: placeholder types until the file-system work lands (see the fs branch).

/// A process's open files.
#[derive(Debug, Default, Clone)]
pub struct FdTable;

/// A process's root, working directory and umask.
#[derive(Debug, Default, Clone)]
pub struct FsContext;

//! Persistence: versioned per-home snapshot files, atomic writes, the
//! data-directory lock and the debounced saver.

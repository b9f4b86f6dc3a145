//! The store with real files and real processes: loading and quarantining
//! snapshots (`load`), the debounced saver on a paused clock (`saver`),
//! kill -9 crash safety of the saver (`crash`) and of the whole service
//! (`crash_service`).

mod helpers;

mod crash;
mod crash_service;
mod hardening;
mod load;
mod old_files;
mod saver;

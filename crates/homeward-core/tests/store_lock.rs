//! The registry lock and child processes.
//!
//! A process that spawns a child while a registry is open lends the child a
//! duplicate of the lock file's descriptor between `fork` and `exec`, and the
//! duplicate shares the `flock`. A registry dropped and reopened in that
//! window used to be refused as `Locked` (the cause of a rare failure of
//! `reopen_reuses_snapshot…` while `sigkill_during_ingest…` spawned writers
//! on another test thread). Here the window is widened on purpose.

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use homeward_core::store::{Registry, StoreError};

#[test]
fn reopen_succeeds_while_a_spawning_child_still_holds_the_inherited_lock() {
    let dir = tempfile::tempdir().unwrap();
    let reg = Registry::open(dir.path()).unwrap();
    let exe = std::env::current_exe().unwrap();
    let spawner = std::thread::spawn(move || {
        let mut cmd = Command::new(exe);
        cmd.arg("--list")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: the closure runs in the forked child before `exec` and only
        // sleeps (nanosleep is async-signal-safe); it touches no locks or heap.
        unsafe {
            cmd.pre_exec(|| {
                std::thread::sleep(Duration::from_millis(150));
                Ok(())
            });
        }
        cmd.status().map(|s| s.success())
    });
    // Let the child fork while the registry is open, then close and reopen
    // while it has not exec'd yet.
    std::thread::sleep(Duration::from_millis(40));
    drop(reg);
    let reopened = Registry::open(dir.path());
    assert!(reopened.is_ok(), "{:?}", reopened.err());
    assert_eq!(spawner.join().unwrap().ok(), Some(true));
    // A registry that really is open is still refused.
    assert!(matches!(
        Registry::open(dir.path()),
        Err(StoreError::Locked { .. })
    ));
}

//! Helpers shared by the CLI's test files.

use std::io::Read;
use std::process::{Command, Stdio};

/// Runs `cmd`, reads the first bytes of its output and then closes it, as `| head` does; asserts
/// the command then stops quietly: exit 0, and nothing on standard error that says `error` or
/// `panicked`.
pub fn stops_quietly_when_its_reader_goes_away(cmd: &mut Command) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 64];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout); // the reader goes away
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}: {err}");
    assert!(!err.contains("error") && !err.contains("panicked"), "{err}");
}

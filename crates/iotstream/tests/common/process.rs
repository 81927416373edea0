//! A process of the binary under test with its stdout and stderr in files, and waiting for
//! evidence (a log line, a file's content) rather than for time. Killed on drop, however the test
//! ends.

use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A running process: `NAME.out` (stdout) and `NAME.log` (stderr) in a directory of the test's.
pub struct Process {
    pub child: Child,
    pub out: PathBuf,
    pub log: PathBuf,
}

impl Process {
    /// Starts `command` with its output in `dir/NAME.out` and `dir/NAME.log`, and nothing on stdin.
    pub fn start(mut command: Command, dir: &Path, name: &str) -> Process {
        command.stdin(Stdio::null());
        Process::spawn(command, dir, name)
    }

    /// Starts `command` like [`Process::start`], with a pipe to its stdin.
    pub fn start_piped(mut command: Command, dir: &Path, name: &str) -> (Process, ChildStdin) {
        command.stdin(Stdio::piped());
        let mut process = Process::spawn(command, dir, name);
        let stdin = process.child.stdin.take().unwrap();
        (process, stdin)
    }

    fn spawn(mut command: Command, dir: &Path, name: &str) -> Process {
        let (out, log) = (dir.join(format!("{name}.out")), dir.join(format!("{name}.log")));
        let child = command
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start the process");
        Process { child, out, log }
    }

    /// Everything it has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Everything it has written to stdout so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    /// Waits until its log contains `needle`; panics with the log after `timeout`.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> String {
        wait_until(&format!("{needle:?} in the log"), timeout, || self.log().contains(needle));
        self.log()
    }

    /// The address of its dashboard (`--http`), from its log line "dashboard on http://ADDR/".
    pub fn dashboard(&self) -> String {
        let log = self.wait_log("dashboard on http://", Duration::from_secs(30));
        let rest = log.split("dashboard on http://").nth(1).unwrap_or_default();
        rest.split('/').next().unwrap_or_default().to_owned()
    }

    /// True while it runs.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().expect("wait for a child").is_none()
    }

    /// SIGTERM, then its exit status; `None` (and SIGKILL) if it did not end within `timeout`.
    pub fn sigterm(&mut self, timeout: Duration) -> Option<ExitStatus> {
        signal(&self.child, "TERM");
        super::wait_timeout(&mut self.child, timeout)
    }

    /// SIGKILL, at once.
    pub fn kill_9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill_9();
    }
}

/// Any child process (a Python helper, a server), killed on drop.
pub struct Reaped(pub Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Sends `SIGNAL` (a name: TERM, KILL) to `child` (nothing if it has ended).
pub fn signal(child: &Child, name: &str) {
    let _ = Command::new("kill").arg(format!("-{name}")).arg(child.id().to_string()).status();
}

/// Polls `done` every 50 ms; panics naming `what` after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A TCP port of 127.0.0.1 that nothing listens on (free when this returns).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

//! Forking a plugin's process: the one place the host runs a program.
//!
//! - **The checksum covers the bytes that run.** With `sha256` configured, the program is copied
//!   into the start's private directory while it is hashed, and that copy is executed; a file
//!   renamed over the configured path between the check and the exec is never run. (A script
//!   started this way sees the copy's path as `$0`; see `docs/plugins.md`.)
//! - **The child dies with the host.** Before it executes the program it asks the kernel for
//!   SIGKILL when its parent goes (`PR_SET_PDEATHSIG`), then checks its parent is still the host
//!   (the host may have died in between). That signal follows the *thread* that forked, not the
//!   process, so every plugin is forked by one thread that lives as long as the process.
//! - **The host's memory and environment stay its own.** Before the first plugin starts, the
//!   host makes itself non-dumpable (`PR_SET_DUMPABLE` 0), so a plugin running as the same user
//!   cannot read `/proc/<host>/environ`, `mem` or `maps`, nor attach a debugger. A capability
//!   would override that (`CAP_SYS_PTRACE`, but also `CAP_SYS_ADMIN` and `CAP_PERFMON`, as found
//!   on a host run as root), so the child empties its bounding and ambient sets before it
//!   executes the program: a plugin has no capabilities, even under a root host.
//!
//! It must never execute a path it has not checked when a checksum is configured, and never make
//! anything but plain system calls (no allocation, no lock) between fork and exec.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{OnceLock, mpsc};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::process::{Child, Command};

/// Everything one start of a plugin runs with.
pub struct Launch {
    /// The configured program.
    pub program: PathBuf,
    /// Its expected SHA-256 (hex), when one is configured.
    pub sha256: Option<String>,
    /// The start's private directory (0700, made by the host); a checked copy goes in it.
    pub dir: PathBuf,
    /// The whole environment the plugin gets.
    pub env: Vec<(OsString, OsString)>,
}

/// Why a plugin's process was not started.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("cannot read {program}: {source}")]
    Unreadable { program: String, source: std::io::Error },
    #[error("{program} has SHA-256 {actual}, not the configured {expected}; not started")]
    Mismatch { program: String, actual: String, expected: String },
    #[error("cannot copy {program} to run it: {source}")]
    Copy { program: String, source: std::io::Error },
    #[error("cannot start {program}: {source}")]
    Spawn { program: String, source: std::io::Error },
    #[error(
        "cannot run the checked copy of {program} in {dir}: {source} (is $TMPDIR on a noexec mount? start the server with TMPDIR elsewhere)"
    )]
    CopyNotExecutable { program: String, dir: String, source: std::io::Error },
    #[error("the thread that starts plugins is gone")]
    NoSpawner,
}

impl LaunchError {
    /// Whether trying again cannot help until the configuration (or the file) changes.
    pub fn is_permanent(&self) -> bool {
        !matches!(self, Self::Copy { .. } | Self::NoSpawner)
    }
}

/// Starts `launch` on the spawning thread and waits for the child (or why there is none).
pub async fn launch(launch: Launch) -> Result<Child, LaunchError> {
    let runtime = tokio::runtime::Handle::current();
    let (reply, answer) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        // The child's pipes and its reaping belong to the caller's runtime.
        let _entered = runtime.enter();
        // A caller that gave up drops the child here, which kills it (`kill_on_drop`).
        let _ = reply.send(launch.run());
    });
    spawner().ok_or(LaunchError::NoSpawner)?.send(job).map_err(|_| LaunchError::NoSpawner)?;
    answer.await.map_err(|_| LaunchError::NoSpawner)?
}

type Job = Box<dyn FnOnce() + Send>;

/// The thread every plugin is forked from. It never ends (its sender lives in a static), so a
/// child's parent-death signal fires only when the whole host does.
fn spawner() -> Option<&'static mpsc::Sender<Job>> {
    static SPAWNER: OnceLock<Option<mpsc::Sender<Job>>> = OnceLock::new();
    SPAWNER
        .get_or_init(|| {
            make_host_non_dumpable();
            let (jobs, received) = mpsc::channel::<Job>();
            let started = std::thread::Builder::new().name("plugin-spawner".to_owned()).spawn(move || {
                for job in received {
                    // A panic must not end this thread: its children would get SIGKILL with it.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                }
            });
            match started {
                Ok(_) => Some(jobs),
                Err(e) => {
                    tracing::error!("cannot start the thread that starts plugins: {e}");
                    None
                }
            }
        })
        .as_ref()
}

/// `PR_SET_DUMPABLE` 0: `/proc/<pid>/environ`, `mem`, `maps` and `ptrace` are then closed to
/// processes of the same user without `CAP_SYS_PTRACE` (or `CAP_SYS_ADMIN`, `CAP_PERFMON`), so
/// to plugins, which have no capabilities.
fn make_host_non_dumpable() {
    match rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable) {
        Ok(()) => {
            tracing::debug!("the server is not dumpable: plugins cannot read its memory or environment")
        }
        Err(e) => tracing::warn!(
            "cannot make the server non-dumpable ({e}): a plugin could read its environment through /proc"
        ),
    }
}

impl Launch {
    fn shown(&self) -> String {
        self.program.display().to_string()
    }

    /// Runs on the spawning thread: checks and copies the program when a checksum is configured,
    /// then forks and executes it.
    fn run(self) -> Result<Child, LaunchError> {
        let executed = match &self.sha256 {
            Some(expected) => self.copy_checked(expected)?,
            None => self.program.clone(),
        };
        let mut command = Command::new(&executed);
        command
            // The program sees the configured path as its name, not the copy's.
            .arg0(&self.program)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        die_with_host(&mut command);
        let mut attempts = 0;
        loop {
            match command.spawn() {
                // The copy was just written: a fork elsewhere in the process that still holds
                // its (close-on-exec) descriptor makes exec fail for a moment.
                Err(e)
                    if e.raw_os_error() == Some(rustix::io::Errno::TXTBSY.raw_os_error())
                        && attempts < 10 =>
                {
                    attempts += 1;
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(source)
                    if self.sha256.is_some() && source.kind() == std::io::ErrorKind::PermissionDenied =>
                {
                    return Err(LaunchError::CopyNotExecutable {
                        program: self.shown(),
                        dir: self.dir.display().to_string(),
                        source,
                    });
                }
                other => return other.map_err(|source| LaunchError::Spawn { program: self.shown(), source }),
            }
        }
    }

    /// Copies the program into `dir/program/` while hashing what is read; answers the copy's
    /// path when the digest is `expected`. The file is opened once: what is hashed is what is
    /// copied, whatever happens to the path meanwhile.
    fn copy_checked(&self, expected: &str) -> Result<PathBuf, LaunchError> {
        let unreadable = |source| LaunchError::Unreadable { program: self.shown(), source };
        let copy_failed = |source| LaunchError::Copy { program: self.shown(), source };
        let mut source = std::fs::File::open(&self.program).map_err(unreadable)?;
        // The copy (0700) must not run what could not run in place: a file no one may execute
        // is refused as exec would refuse it.
        let mode = source.metadata().map_err(unreadable)?.permissions().mode();
        if mode & 0o111 == 0 {
            return Err(LaunchError::Spawn {
                program: self.shown(),
                source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
            });
        }
        let folder = self.dir.join("program");
        std::fs::DirBuilder::new().mode(0o700).create(&folder).map_err(copy_failed)?;
        let copy = folder.join(self.program.file_name().unwrap_or("plugin".as_ref()));
        let mut target = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o700)
            .open(&copy)
            .map_err(copy_failed)?;
        let mut hasher = Sha256::new();
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let n = source.read(&mut buffer).map_err(unreadable)?;
            if n == 0 {
                break;
            }
            hasher.update(&buffer[..n]);
            target.write_all(&buffer[..n]).map_err(copy_failed)?;
        }
        drop(target);
        let actual: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
        if !actual.eq_ignore_ascii_case(expected) {
            let _ = std::fs::remove_file(&copy);
            return Err(LaunchError::Mismatch {
                program: self.shown(),
                actual,
                expected: expected.to_owned(),
            });
        }
        Ok(copy)
    }
}

/// Makes the child ask for SIGKILL when the host dies, give up if the host is already gone, and
/// give up every capability (any of several would let it read a non-dumpable host).
#[allow(unsafe_code)]
fn die_with_host(command: &mut Command) {
    let host = rustix::process::getpid();
    // SAFETY: `pre_exec` runs the closure in the child between fork and exec, where another
    // thread of the parent may have held a lock or been allocating when it forked. The closure
    // only makes system calls through rustix (prctl, getppid), which neither allocate nor lock,
    // and builds its errors from raw OS codes (no allocation either). It captures a `Pid` (a
    // plain integer) and touches no other memory of the parent.
    unsafe {
        command.pre_exec(move || {
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))?;
            // The host may have died between fork and prctl: then nobody would kill us later.
            if rustix::process::getppid() != Some(host) {
                return Err(rustix::io::Errno::SRCH.into());
            }
            // Ambient capabilities survive exec for a host that is not root; without any, or
            // on a kernel without them, there is nothing to clear.
            let _ = rustix::thread::clear_ambient_capability_set();
            for capability in 0..64 {
                let one = rustix::thread::CapabilitySet::from_bits_retain(1 << capability);
                match rustix::thread::remove_capability_from_bounding_set(one) {
                    Ok(()) => {}
                    // Past the kernel's last capability, or (without CAP_SETPCAP) none to give.
                    Err(rustix::io::Errno::INVAL | rustix::io::Errno::PERM) => break,
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(())
        });
    }
}

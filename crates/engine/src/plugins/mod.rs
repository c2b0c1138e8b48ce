//! Providers run as plugins: separate programs speaking `nephele.provider.v1` over gRPC on a Unix
//! socket (see `docs/plugins.md` and `proto/`).
//!
//! - [`process`] starts one: private directory, clean environment, handshake line, the socket's
//!   owner checked, health, `Configure`.
//! - [`launch`] forks it: the checksum taken of the bytes that run, the child bound to die with
//!   the host, the host kept non-dumpable (the workspace's one `unsafe` block is there).
//! - [`output`] copies its stderr into the log, within a budget.
//! - [`supervisor`] keeps it running: restarts with backoff when it dies, stops it on shutdown.
//! - [`provider`] is [`PluginProvider`], the `Provider` the rest of the server uses, so handlers,
//!   operations, idempotency, audit and the inventory work unchanged whichever side of the
//!   socket a cloud's client lives on.

mod launch;
mod output;
pub mod process;
pub mod provider;
mod supervisor;

use std::path::{Path, PathBuf};

pub use process::{PluginSpec, StartError};
pub use provider::PluginProvider;

/// The program `plugin` names: a path as written (relative to the configuration file's folder),
/// or, for a bare name, `plugins/<name>` and then `plugins/nephele-provider-<name>` next to the
/// configuration file.
pub fn resolve_program(plugin: &str, config_dir: &Path) -> PathBuf {
    if plugin.contains('/') {
        let path = PathBuf::from(plugin);
        return if path.is_absolute() { path } else { config_dir.join(path) };
    }
    let folder = config_dir.join("plugins");
    let exact = folder.join(plugin);
    if exact.is_file() {
        return exact;
    }
    let stem = plugin.strip_prefix("nephele-provider-").unwrap_or(plugin);
    folder.join(format!("nephele-provider-{stem}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_names_are_found_in_the_plugins_folder() {
        let dir = Path::new("/etc/nephele");
        assert_eq!(resolve_program("aws", dir), PathBuf::from("/etc/nephele/plugins/nephele-provider-aws"));
        assert_eq!(
            resolve_program("nephele-provider-aws", dir),
            PathBuf::from("/etc/nephele/plugins/nephele-provider-aws")
        );
        assert_eq!(resolve_program("./bin/p", dir), PathBuf::from("/etc/nephele/./bin/p"));
        assert_eq!(resolve_program("/opt/p", dir), PathBuf::from("/opt/p"));
    }
}

//! A fresh PostgreSQL database for a test, and where to find a server.
//!
//! In order: `DATABASE_URL` if set; else the server on 127.0.0.1:5432 (port overridable with
//! `NEPHELE_TEST_PG_PORT`); else a throwaway cluster started with the installed `initdb` and
//! `pg_ctl`. If none of these works the test fails, saying how to get one. It never skips.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use sqlx::{Connection, Executor};

/// A database made for one test, dropped by [`TestDatabase::cleanup`].
pub struct TestDatabase {
    pub url: String,
    admin_url: String,
    name: String,
    _cluster: Option<Cluster>,
}

/// A cluster this test run started, stopped when dropped.
struct Cluster {
    dir: tempfile::TempDir,
    pg_ctl: PathBuf,
    as_postgres: bool,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let mut command = pg_command(&self.pg_ctl, self.as_postgres);
        command.args(["stop", "-m", "immediate", "-D"]).arg(self.dir.path().join("data"));
        let _ = command.output();
    }
}

fn pg_command(binary: &PathBuf, as_postgres: bool) -> Command {
    if as_postgres {
        // initdb and postgres refuse to run as root.
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(binary);
        c
    } else {
        Command::new(binary)
    }
}

fn find_binary(name: &str) -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join(name)).collect::<Vec<_>>())
        .unwrap_or_default();
    let installed = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dirs| dirs.filter_map(Result::ok).map(|d| d.path().join("bin").join(name)).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path.into_iter().chain(installed).find(|p| p.is_file())
}

async fn reachable(url: &str) -> bool {
    sqlx::any::install_default_drivers();
    matches!(tokio::time::timeout(Duration::from_secs(3), sqlx::AnyConnection::connect(url)).await, Ok(Ok(_)))
}

async fn throwaway_cluster() -> Option<(String, Cluster)> {
    let initdb = find_binary("initdb")?;
    let pg_ctl = find_binary("pg_ctl")?;
    let is_root = Command::new("id").arg("-u").output().ok().is_some_and(|o| o.stdout.starts_with(b"0\n"));
    let dir = tempfile::tempdir().ok()?;
    if is_root {
        let _ = Command::new("chown").args(["-R", "postgres"]).arg(dir.path()).output();
    }
    let data = dir.path().join("data");
    let init = pg_command(&initdb, is_root)
        .args(["-U", "postgres", "--auth=trust", "-D"])
        .arg(&data)
        .output()
        .ok()?;
    if !init.status.success() {
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
    let options = format!("-p {port} -c listen_addresses=127.0.0.1 -k {}", dir.path().display());
    let started = pg_command(&pg_ctl, is_root)
        .args(["start", "-w", "-D"])
        .arg(&data)
        .args(["-o", &options, "-l"])
        .arg(dir.path().join("log"))
        .output()
        .ok()?;
    if !started.status.success() {
        return None;
    }
    Some((
        format!("postgres://postgres@127.0.0.1:{port}/postgres"),
        Cluster { dir, pg_ctl, as_postgres: is_root },
    ))
}

/// The server to use, as a URL of its `postgres` database.
async fn server() -> (String, Option<Cluster>) {
    if let Ok(url) = std::env::var("DATABASE_URL") {
        assert!(reachable(&url).await, "DATABASE_URL is set but {url} does not answer");
        return (url, None);
    }
    let port = std::env::var("NEPHELE_TEST_PG_PORT").unwrap_or_else(|_| "5432".to_owned());
    let local = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    if reachable(&local).await {
        return (local, None);
    }
    if let Some((url, cluster)) = throwaway_cluster().await {
        eprintln!("no PostgreSQL on port {port}: started a throwaway cluster at {url}");
        return (url, Some(cluster));
    }
    panic!(
        "PostgreSQL tests need a server: set DATABASE_URL, run PostgreSQL on 127.0.0.1:{port} with trust \
         auth for the postgres user, or install PostgreSQL's initdb and pg_ctl (Debian: apt-get install postgresql)"
    );
}

fn with_database(url: &str, name: &str) -> String {
    match url.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{name}"),
        None => format!("{url}/{name}"),
    }
}

impl TestDatabase {
    pub async fn create() -> Self {
        let (admin_url, cluster) = server().await;
        let name = format!("nephele_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::AnyConnection::connect(&admin_url).await.expect("connect to PostgreSQL");
        admin.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).await.expect("create database");
        Self { url: with_database(&admin_url, &name), admin_url, name, _cluster: cluster }
    }

    pub async fn cleanup(self) {
        if let Ok(mut admin) = sqlx::AnyConnection::connect(&self.admin_url).await {
            let _ = admin
                .execute(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)))
                .await;
        }
    }
}

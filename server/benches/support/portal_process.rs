//! A Portal binary run as a child process, for the storms (`benches/login_storm.rs`,
//! `examples/replica_storm.rs`): on a free port with its settings in the environment, ready when
//! `/readyz` answers, stopped when dropped; and the fresh PostgreSQL database it runs on.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use reqwest::{Client, StatusCode};
use sea_orm::{ConnectionTrait, Database};

pub struct PortalProcess {
    child: Child,
    pub base: String,
    binary: String,
    env: Vec<(String, String)>,
}

/// How a [`PortalProcess`] is started, beyond its binary and settings.
#[derive(Default)]
pub struct Launch<'a> {
    /// The working directory.
    pub dir: Option<&'a Path>,
    /// Pins the server to this CPU with `taskset`, when the machine has it.
    pub cpu: Option<usize>,
    /// Passes the server's log through to this process's stderr.
    pub show_log: bool,
}

impl PortalProcess {
    /// Starts `binary` on a free loopback port with `env` (`PORTAL_*` settings, `RUST_LOG`).
    pub fn start(
        binary: &str,
        env: Vec<(String, String)>,
        launch: Launch,
    ) -> anyhow::Result<PortalProcess> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let pinned = launch.cpu.filter(|_| {
            let present = Command::new("taskset").arg("--version").output().is_ok();
            if !present {
                eprintln!("taskset is missing: the server is not pinned to one CPU");
            }
            present
        });
        let mut command = match pinned {
            Some(cpu) => {
                let mut c = Command::new("taskset");
                c.args(["-c", &cpu.to_string(), binary]);
                c
            }
            None => Command::new(binary),
        };
        if let Some(dir) = launch.dir {
            command.current_dir(dir);
        }
        let child = command
            .envs(env.iter().cloned())
            .env("PORTAL_ADDR", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(if launch.show_log {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .spawn()
            .with_context(|| format!("start {binary}"))?;
        Ok(PortalProcess {
            child,
            base: format!("http://127.0.0.1:{port}"),
            binary: binary.to_string(),
            env,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until `/readyz` answers 200: migrated, first admin made, database reachable.
    pub async fn ready(&self, client: &Client) -> anyhow::Result<()> {
        let started = Instant::now();
        while !client
            .get(format!("{}/readyz", self.base))
            .send()
            .await
            .is_ok_and(|r| r.status() == StatusCode::OK)
        {
            if started.elapsed() > Duration::from_secs(60) {
                bail!("the portal at {} did not become ready", self.base);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    /// An API token for the admin `email`, minted by `portal token create` on the same settings.
    pub fn token(&self, email: &str, name: &str) -> anyhow::Result<String> {
        let output = Command::new(&self.binary)
            .args(["token", "create", "--email", email, "--name", name])
            .envs(self.env.iter().cloned())
            .output()?;
        if !output.status.success() {
            bail!(
                "portal token create: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(String::from_utf8(output.stdout)?.trim().to_string())
    }
}

impl Drop for PortalProcess {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.pid().to_string()).status();
        let _ = self.child.wait();
    }
}

/// A new, empty database named `{prefix}_{random}` on the PostgreSQL server at `server` (a URL
/// with a database name, such as `postgres://postgres@127.0.0.1:5432/postgres`); its URL.
pub async fn create_database(server: &str, prefix: &str) -> anyhow::Result<String> {
    let name = format!("{prefix}_{}", hex::encode(rand::random::<[u8; 4]>()));
    let admin = Database::connect(server).await?;
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await?;
    admin.close().await.ok();
    let (base, _) = server
        .rsplit_once('/')
        .context("a URL with a database name")?;
    Ok(format!("{base}/{name}"))
}

/// Drops the database at `database_url`, made by [`create_database`] on `server`.
pub async fn drop_database(server: &str, database_url: &str) -> anyhow::Result<()> {
    let (_, name) = database_url
        .rsplit_once('/')
        .context("a URL with a database name")?;
    let admin = Database::connect(server).await?;
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await?;
    admin.close().await.ok();
    Ok(())
}

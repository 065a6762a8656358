//! Containers through the Docker API (testcontainers, which drives bollard): the reachability check every
//! container provider runs before creating anything, and the lifecycle they share — a container named and
//! labelled after the run (journalled under that name before it exists, so `cleanroom gc` can remove it
//! after a crash), removed at `finish`, or handed to the user with `--keep`.
//!
//! testcontainers-rs has no Ryuk reaper (the Java/Go libraries do) and its own drop handler runs only when
//! the process unwinds normally: after a SIGKILL the container stays until `cleanroom gc`.

use std::path::Path;
use std::time::Duration;

use testcontainers::core::client::docker_client_instance;
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, ContainerRequest, Image};

use super::environment::EnvironmentError;
use super::ProviderError;

const PING_TIMEOUT: Duration = Duration::from_secs(15);

/// Where testcontainers looks for Docker: `DOCKER_HOST` when set (the usual override; a
/// `~/.testcontainers.properties` `tc.host` would take precedence), else the local socket.
pub fn docker_host() -> String {
    std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "unix:///var/run/docker.sock".into())
}

/// The environment error for a Docker that does not answer, with what to do instead (`hint`).
pub fn unreachable(detail: impl Into<String>, hint: &str) -> EnvironmentError {
    EnvironmentError::DockerUnreachable { host: docker_host(), detail: detail.into(), hint: hint.into() }
}

/// Ping the Docker engine testcontainers will use; an [`EnvironmentError`] (exit 3) when it does not answer.
pub async fn check_reachable(hint: &str) -> Result<(), EnvironmentError> {
    let ping = async {
        let docker = docker_client_instance().await.map_err(|e| e.to_string())?;
        docker.ping().await.map(|_| ()).map_err(|e| e.to_string())
    };
    match tokio::time::timeout(PING_TIMEOUT, ping).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(unreachable(format!("ping failed: {e}"), hint)),
        Err(_) => Err(unreachable(format!("no answer to ping in {}s", PING_TIMEOUT.as_secs()), hint)),
    }
}

/// What the user runs to remove a kept or stranded container.
pub fn rm_command(id_or_name: &str) -> String {
    format!("docker rm -f {id_or_name}")
}

/// Force-remove a container (and its anonymous volumes) by name or id. Ok(false): there was none.
pub async fn remove(id_or_name: &str) -> Result<bool, String> {
    use testcontainers::bollard::errors::Error;
    use testcontainers::bollard::query_parameters::RemoveContainerOptionsBuilder;
    let docker = docker_client_instance().await.map_err(|e| e.to_string())?;
    let opts = RemoveContainerOptionsBuilder::new().force(true).v(true).build();
    match docker.remove_container(id_or_name, Some(opts)).await {
        Ok(()) => Ok(true),
        Err(Error::DockerResponseServerError { status_code: 404, .. }) => Ok(false),
        Err(e) => Err(e.to_string()),
    }
}

/// One container of a provider, from "about to be created" to removed or kept.
pub struct Managed<I: Image> {
    /// The container's name: journalled before it is created, what `remove` falls back to.
    pub name: String,
    /// Set just before the create request: from then on `remove` must make sure it is gone.
    attempted: bool,
    handle: Option<ContainerAsync<I>>,
}

impl<I: Image> Managed<I> {
    pub fn new(name: impl Into<String>) -> Self {
        Managed { name: name.into(), attempted: false, handle: None }
    }

    /// Start `request` (which must carry [`Managed::name`] as its container name) and wait for the image's
    /// ready conditions.
    pub async fn start(&mut self, request: ContainerRequest<I>) -> Result<&ContainerAsync<I>, ProviderError> {
        debug_assert_eq!(request.container_name().as_deref(), Some(self.name.as_str()));
        self.attempted = true;
        let c = request.start().await.map_err(|e| ProviderError::Command { command: format!("start container {}", self.name), message: e.to_string() })?;
        Ok(self.handle.insert(c))
    }

    pub fn get(&self) -> Option<&ContainerAsync<I>> {
        self.handle.as_ref()
    }

    /// Remove the container. Without a handle (the start was interrupted or failed after the create),
    /// remove it by name. Idempotent.
    pub async fn remove(&mut self) -> Result<(), ProviderError> {
        let fail = |message: String| ProviderError::Command { command: rm_command(&self.name), message };
        if let Some(c) = self.handle.take() {
            c.rm().await.map_err(|e| fail(e.to_string()))?;
        } else if self.attempted {
            remove(&self.name).await.map_err(fail)?;
        }
        self.attempted = false;
        Ok(())
    }

    /// After a failed scenario: the container's stdout and stderr so far into `dir/<name>.{stdout,stderr}.log`;
    /// a line for the scenario's findings (None before the container started).
    pub async fn save_logs(&self, dir: &Path) -> Option<String> {
        let c = self.handle.as_ref()?;
        let saved: Result<(), String> = async {
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
            for (stream, bytes) in [("stdout", c.stdout_to_vec().await), ("stderr", c.stderr_to_vec().await)] {
                let bytes = bytes.map_err(|e| e.to_string())?;
                std::fs::write(dir.join(format!("{}.{stream}.log", self.name)), bytes).map_err(|e| e.to_string())?;
            }
            Ok(())
        }
        .await;
        Some(match saved {
            Ok(()) => format!("logs of container {} saved to {}", self.name, dir.display()),
            Err(e) => format!("saving the logs of container {} failed: {e}", self.name),
        })
    }

    /// `--keep`: let the container outlive this process (dropping the handle would remove it), and
    /// return its id for the `docker rm -f` line.
    pub fn keep(&mut self) -> Option<String> {
        self.attempted = false;
        let c = self.handle.take()?;
        let id = c.id().to_string();
        std::mem::forget(c);
        Some(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unreachable_error_names_the_host_and_what_to_do() {
        let e = EnvironmentError::DockerUnreachable {
            host: "unix:///nonexistent.sock".into(),
            detail: "ping failed: no such file".into(),
            hint: "start Docker, or use --provider sim|kwok".into(),
        };
        assert_eq!(
            e.to_string(),
            "Docker is not reachable at unix:///nonexistent.sock: start Docker, or use --provider sim|kwok (ping failed: no such file)"
        );
        assert_eq!(rm_command("abc"), "docker rm -f abc");
    }
}

//! The `redis` provider (placeholder until the server-backed implementation lands).

use super::{Provider, ProviderError, ProviderInfo, Readiness};
use crate::addon::Resource;
use crate::config::ServerSettings;

/// Registry entry for `redis`.
pub static INFO: ProviderInfo = ProviderInfo {
    name: "redis",
    vars: &["REDIS_URL", "REDIS_KEY_PREFIX"],
    params: &[],
    check_params: |_| Ok(()),
    needs: Some("[providers.redis]\nurl = \"redis://default:PASSWORD@127.0.0.1:6379\""),
    summary: "a Redis ACL user limited to its own key prefix",
};

/// Talks to the server named in the config file.
pub struct Redis {
    server: ServerSettings,
}

impl Redis {
    pub fn new(server: ServerSettings) -> Self {
        Redis { server }
    }

    fn todo(&self) -> ProviderError {
        ProviderError::Permanent(format!("the redis provider for {} is not built yet", self.server.display_url()))
    }
}

impl Provider for Redis {
    fn begin_provision(&self, _addon: Resource<'_>) -> Result<String, ProviderError> {
        Err(self.todo())
    }
    fn provision_complete(&self, _addon: Resource<'_>) -> Result<Readiness, ProviderError> {
        Err(self.todo())
    }
    fn get_config(&self, _addon: Resource<'_>) -> Result<Vec<(String, String)>, ProviderError> {
        Err(self.todo())
    }
    fn deprovision(&self, _addon: Resource<'_>) -> Result<String, ProviderError> {
        Err(self.todo())
    }
    fn health(&self) -> Result<String, ProviderError> {
        Err(self.todo())
    }
}

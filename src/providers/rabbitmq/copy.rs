//! `provision --from` on RabbitMQ: the source vhost's definitions (exchanges, queues,
//! bindings, policies, parameters) imported into the new addon's vhost, never its
//! messages nor its limits (the copy's params set its own). A global runtime parameter
//! `addons-copy-<id>`, which only an administrator can read or write, tells any host how
//! the copy stands: at work until a time the copier set, or done.

use serde_json::{json, Value};

use super::{segment, Api, Names, Rabbitmq};
use crate::addon::Resource;
use crate::providers::{Copier, CopyStatus, ProviderError};

/// How long past a copier's next request its mark says it is at work, beyond the time
/// that request may take.
const ALIVE_MS: i64 = 5_000;

/// The API path of one addon's copy mark.
fn mark(addon: &Resource<'_>) -> String {
    format!("/api/global-parameters/{}", segment(&format!("addons-copy-{}", addon.id)))
}

/// The copy mark's value, `None` when there is none.
fn marked(api: &Api<'_>, addon: &Resource<'_>) -> Result<Option<Value>, ProviderError> {
    Ok(api.get(&mark(addon))?.map(|parameter| parameter["value"].clone()))
}

/// Whether a copier is at work on `addon`'s vhost now.
pub(super) fn running(api: &Api<'_>, addon: &Resource<'_>) -> Result<bool, ProviderError> {
    let value = marked(api, addon)?.unwrap_or_default();
    Ok(value["done"] != json!(true) && value["until"].as_i64().is_some_and(|until| until > crate::clock::host_ms()))
}

/// Removes the copy mark (deprovisioning).
pub(super) fn forget(api: &Api<'_>, addon: &Resource<'_>) -> Result<(), ProviderError> {
    api.delete(&mark(addon)).map(drop)
}

/// Sets the copy mark to `value`.
fn set(api: &Api<'_>, addon: &Resource<'_>, value: Value) -> Result<(), ProviderError> {
    let name = format!("addons-copy-{}", addon.id);
    api.put(&mark(addon), &json!({"name": name, "component": "global", "value": value}))
}

/// Marks the copier at work for its next few requests (each bounded by the API's timeout).
fn alive(api: &Api<'_>, addon: &Resource<'_>, source: &Resource<'_>) -> Result<(), ProviderError> {
    let timeout = i64::try_from(api.timeout().as_millis()).unwrap_or(i64::MAX / 8);
    let until = crate::clock::host_ms() + 3 * timeout + ALIVE_MS;
    set(api, addon, json!({"source": source.id, "until": until}))
}

/// Leaves the source's vhost limits out of its definitions: they are the source's params
/// (an emptied limit shows as a parameter too), and imported they would replace the
/// limits the copy's own params set.
fn own_limits(definitions: &mut Value) {
    if let Some(parameters) = definitions["parameters"].as_array_mut() {
        parameters.retain(|parameter| parameter["component"] != json!("vhost-limits"));
    }
}

impl Copier for Rabbitmq {
    /// The source's vhost must be there.
    fn check_copy(&self, source: Resource<'_>) -> Result<(), ProviderError> {
        let names = Names::of(&source)?;
        let api = self.api(format!("looking up vhost {}", names.vhost));
        match api.get(&names.vhost_path())? {
            Some(_) => Ok(()),
            None => Err(api.permanent(&format!("the source's vhost {} is not there", names.vhost))),
        }
    }

    fn copy_status(&self, addon: Resource<'_>, _source: Resource<'_>) -> Result<CopyStatus, ProviderError> {
        Names::of(&addon)?;
        let api = self.api(format!("looking up the copy into addon {}", addon.id));
        if marked(&api, &addon)?.is_some_and(|value| value["done"] == json!(true)) {
            return Ok(CopyStatus::Done);
        }
        Ok(match running(&api, &addon)? {
            true => CopyStatus::Running,
            false => CopyStatus::Stopped,
        })
    }

    fn copy(&self, addon: Resource<'_>, source: Resource<'_>) -> Result<String, ProviderError> {
        let (names, from) = (Names::of(&addon)?, Names::of(&source)?);
        let api = self.api(format!("copying the definitions of vhost {} to {}", from.vhost, names.vhost));
        if marked(&api, &addon)?.is_some_and(|value| value["done"] == json!(true)) {
            return Ok(format!("vhost {} is already a copy", names.vhost));
        }
        alive(&api, &addon, &source)?;
        let Some(mut definitions) = api.get(&format!("/api/definitions/{}", segment(&from.vhost)))? else {
            // No copier is at work any more: the cleanup need not wait for the mark to expire.
            forget(&api, &addon)?;
            return Err(api.permanent(&format!("the source's vhost {} is gone: it was deprovisioned", from.vhost)));
        };
        own_limits(&mut definitions);
        // A dead copier's partial copy goes first: the vhost is made again, empty.
        alive(&api, &addon, &source)?;
        api.delete(&names.vhost_path())?;
        self.ensure_vhost(&api, &names, &addon)?;
        for user in self.addon_users(&api, &addon)? {
            api.put(&names.permissions_path(&user), &super::every_right())?;
        }
        crate::failpoint!("copy-started");
        alive(&api, &addon, &source)?;
        api.post(&format!("/api/definitions/{}", segment(&names.vhost)), &definitions)?;
        crate::failpoint!("after-copy-before-mark");
        set(&api, &addon, json!({"source": source.id, "done": true}))?;
        let what = ["exchanges", "queues", "bindings", "policies"]
            .map(|kind| format!("{kind}: {}", definitions[kind].as_array().map_or(0, Vec::len)));
        Ok(format!(
            "copied the definitions of vhost {} to {} ({}); messages are not copied",
            from.vhost,
            names.vhost,
            what.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sources_limits_are_left_out_and_its_other_parameters_kept() {
        let mut definitions = json!({"parameters": [
            {"component": "vhost-limits", "name": "limits", "vhost": "a", "value": {"max-queues": 50}},
            {"component": "shovel", "name": "s", "vhost": "a", "value": {}},
        ], "queues": [{"name": "q"}]});
        own_limits(&mut definitions);
        assert_eq!(definitions["parameters"], json!([{"component": "shovel", "name": "s", "vhost": "a", "value": {}}]));
        assert_eq!(definitions["queues"], json!([{"name": "q"}]));
    }
}

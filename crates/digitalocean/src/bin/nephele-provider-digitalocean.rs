//! The DigitalOcean provider as a Nephele plugin: the same `DigitalOcean` the server builds in,
//! served over the plugin protocol (`providers.digitalocean.plugin: nephele-provider-digitalocean`).

use std::process::ExitCode;
use std::sync::Arc;

use nephele_core::Provider;
use nephele_digitalocean::{DigitalOcean, Settings};

fn main() -> ExitCode {
    nephele_digitalocean::install_crypto_provider();
    nephele_plugin_sdk::run(|settings| async move {
        let settings = Settings::from_json(settings)?;
        Ok(Arc::new(DigitalOcean::from_settings(&settings)?) as Arc<dyn Provider>)
    })
}

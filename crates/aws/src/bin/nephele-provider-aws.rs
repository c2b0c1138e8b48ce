//! AWS EC2 as a Nephele plugin (`providers.aws.plugin: nephele-provider-aws`).

use std::process::ExitCode;
use std::sync::Arc;

use nephele_aws::{Aws, Settings};
use nephele_core::Provider;

fn main() -> ExitCode {
    nephele_aws::install_crypto_provider();
    nephele_plugin_sdk::run(|settings| async move {
        // The host starts plugins with a clean environment; credentials in it come from the
        // user who ran the plugin by hand (or `nephele plugin check`).
        let settings = Settings::from_json(settings, |key| std::env::var(key).ok())?;
        Ok(Arc::new(Aws::new(settings)?) as Arc<dyn Provider>)
    })
}

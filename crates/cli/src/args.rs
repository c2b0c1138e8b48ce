//! The command line, as clap reads it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Nephele: one API over your clouds.
#[derive(Parser, Debug)]
#[command(name = "nephele", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options for commands that talk to a running server.
#[derive(Args, Debug, Clone)]
pub struct Global {
    /// The Nephele server to talk to.
    #[arg(long, global = true, env = "NEPHELE_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// The provider to act on (default: digitalocean). With `keys create`: the one provider the
    /// key may use (default: every provider).
    #[arg(long, global = true)]
    pub provider: Option<String>,
    /// API key sent as `Authorization: Bearer` (make one with `nephele keys create`).
    #[arg(long, global = true, env = "NEPHELE_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// How to print results.
    #[arg(long, short, global = true, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Aligned columns for people.
    Table,
    /// The server's JSON, for scripts.
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Start the HTTP server (demo mode against a built-in simulator when no token is configured).
    Serve(ServeArgs),
    /// List, inspect, create, delete and power instances.
    #[command(subcommand)]
    Instances(InstancesCommand),
    /// List the provider's regions.
    Regions,
    /// List the provider's instance types with prices.
    Types,
    /// List the provider's images.
    Images,
    /// Estimate what instances of a type cost over a span.
    CostEstimate(CostArgs),
    /// List, show and wait for operations (creates, deletes, power actions).
    #[command(subcommand)]
    Operations(OperationsCommand),
    /// Block volumes: list, get, create, delete, attach/detach/resize (`action`).
    #[command(subcommand)]
    Volumes(ResourceCommand),
    /// Snapshots of instances and volumes: list, get, create, delete.
    #[command(subcommand)]
    Snapshots(ResourceCommand),
    /// SSH keys: list, get, import (`create`), delete.
    #[command(subcommand, name = "ssh-keys")]
    SshKeys(ResourceCommand),
    /// Firewalls (security groups on EC2): list, get, create, delete, rules and members (`action`).
    #[command(subcommand)]
    Firewalls(ResourceCommand),
    /// Reserved IPs (Elastic IPs on EC2): list, get, create, delete, assign/unassign (`action`).
    #[command(subcommand, name = "reserved-ips")]
    ReservedIps(ResourceCommand),
    /// VPCs: list, get, create, delete, members.
    #[command(subcommand)]
    Vpcs(ResourceCommand),
    /// What costs money and serves nothing: idle volumes and IPs, orphan snapshots, stopped but
    /// billed instances, with their monthly cost.
    Waste {
        /// Only this account (provider).
        #[arg(long)]
        account: Option<String>,
        /// volume, snapshot, reserved_ip or instance.
        #[arg(long)]
        kind: Option<String>,
    },
    /// The audit log of changes, newest first (admin keys).
    Audit {
        /// How many entries to show.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Manage API keys directly in the database named by the config (works offline).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Follow what happens (the event stream).
    #[command(subcommand)]
    Events(EventsCommand),
    /// Endpoints that receive events, signed per Standard Webhooks (admin keys).
    #[command(subcommand)]
    Webhooks(WebhooksCommand),
    /// What the fleet has cost, from the recorded history.
    #[command(subcommand)]
    Costs(crate::spend::CostsCommand),
    /// Budgets: list, show, create, update, delete.
    #[command(subcommand)]
    Budgets(crate::spend::BudgetsCommand),
    /// Work with provider plugins.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// List, add, change and remove accounts (adding, changing and removing: admin keys).
    #[command(subcommand)]
    Accounts(AccountsCommand),
    /// The master key that seals runtime accounts' credentials.
    #[command(subcommand)]
    Secrets(SecretsCommand),
}

#[derive(Subcommand, Debug)]
pub enum AccountsCommand {
    /// Every account the key may use, with its type, status and where it is defined.
    List,
    /// Add an account at runtime; its credential is read from standard input, never taken as
    /// an argument.
    Add {
        /// 1-32 of a-z, 0-9 and -.
        name: String,
        /// digitalocean, or a plugin type the server's configuration names.
        #[arg(long = "type")]
        provider_type: String,
        #[command(flatten)]
        settings: AccountSettingsArgs,
        #[command(flatten)]
        credentials: CredentialArgs,
    },
    /// Change an account added at runtime: new settings (replacing them whole), a new
    /// credential (tried before it replaces the old one), or both.
    Update {
        name: String,
        #[command(flatten)]
        settings: AccountSettingsArgs,
        #[command(flatten)]
        credentials: CredentialArgs,
    },
    /// Remove an account added at runtime.
    Remove {
        name: String,
        /// Also when operations are under way (they fail with account_removed).
        #[arg(long)]
        force: bool,
    },
}

#[derive(Args, Debug)]
pub struct AccountSettingsArgs {
    /// The account's default region.
    #[arg(long)]
    pub region: Option<String>,
    /// Another setting, KEY=VALUE (repeatable; a number or true/false is sent as such).
    #[arg(long = "setting", value_name = "KEY=VALUE")]
    pub settings: Vec<String>,
}

#[derive(Args, Debug)]
pub struct CredentialArgs {
    /// Read the API token from standard input (DigitalOcean's `api_token`).
    #[arg(long)]
    pub token_stdin: bool,
    /// Read the credentials from standard input as a JSON object (a plugin's own keys).
    #[arg(long, conflicts_with = "token_stdin")]
    pub credentials_stdin: bool,
}

#[derive(Subcommand, Debug)]
pub enum SecretsCommand {
    /// Write a new random master key (32 bytes, base64) to a file only its owner may read.
    Generate {
        /// The file to write; it must not exist.
        #[arg(long)]
        out: PathBuf,
    },
    /// Re-wrap every account's data key under the master key in FILE, while the server serves
    /// (the server reads the file: the key never crosses the API).
    Rotate {
        /// A key file on the server's host, as `nephele secrets generate` writes it.
        #[arg(long)]
        new_key_file: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum OperationsCommand {
    /// Recent operations on the providers the key may use, newest first.
    List {
        /// pending, running, succeeded or failed.
        #[arg(long)]
        state: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Show one operation.
    Get { id: String },
    /// Wait until an operation has succeeded or failed (exit 1 when it failed).
    Wait {
        id: String,
        /// How long to wait, in seconds.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
}

#[derive(Subcommand, Debug)]
pub enum EventsCommand {
    /// Print events as they happen, one a line, until interrupted; reconnects after a dropped
    /// connection without losing or repeating an event (Last-Event-ID).
    Tail {
        /// Only events of this type (nephele.instance.deleted, ...).
        #[arg(long = "type")]
        event_type: Option<String>,
        /// Only events of this account.
        #[arg(long)]
        account: Option<String>,
        /// Start after this event id instead of with the next event.
        #[arg(long)]
        after: Option<String>,
        /// Stop after this many events (default: never).
        #[arg(long)]
        count: Option<u64>,
    },
}

#[derive(Subcommand, Debug)]
pub enum WebhooksCommand {
    /// Register an endpoint; prints its signing secret (the only time it is shown).
    Add {
        /// https://... (http only when the server allows it).
        url: String,
        /// Only these event types (repeat the flag); default every type.
        #[arg(long = "type")]
        event_types: Vec<String>,
        /// Only these accounts' events (repeat the flag); default every account.
        #[arg(long = "account")]
        accounts: Vec<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// The registered endpoints (never their secrets).
    List,
    /// Delete an endpoint; its pending deliveries are failed.
    Remove { id: String },
    /// Send a test event to one endpoint.
    Test { id: String },
    /// Make a new secret (the old one keeps signing for a day); prints it once.
    RotateSecret { id: String },
    /// An endpoint's delivery log, newest first.
    Deliveries {
        id: String,
        /// pending, delivered or failed.
        #[arg(long)]
        state: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

#[derive(Subcommand, Debug)]
pub enum PluginCommand {
    /// Run the plugin conformance suite against a plugin program: handshake, health, info, every
    /// call with good and bad input, exactly-once creation, a lifecycle, a large list,
    /// cancellation. Creates (and deletes) one instance in the plugin's cloud.
    Check(PluginCheckArgs),
}

#[derive(Args, Debug)]
pub struct PluginCheckArgs {
    /// The plugin program.
    pub path: PathBuf,
    /// A Nephele config.yaml: the plugin's settings are its `providers.<name>` section (the one
    /// whose `plugin` names PATH, or the only one; --provider chooses).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Fail unless the plugin lists at least this many instances (the 10,000 list check).
    #[arg(long, default_value_t = 0)]
    pub min_list: usize,
    /// Instance type, region and image for the created instance (default: the first the
    /// plugin offers that go together).
    #[arg(long = "type")]
    pub instance_type: Option<String>,
    #[arg(long)]
    pub region: Option<String>,
    #[arg(long)]
    pub image: Option<String>,
    /// Longest wait for an instance to reach a state, in seconds.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Make a key and print it (the only time it is shown).
    Create {
        /// viewer (read), operator (create, delete, power) or admin (keys, audit).
        #[arg(long)]
        role: String,
        #[arg(long)]
        description: Option<String>,
        /// Configuration file naming the database (default: ./config.yaml if it exists).
        #[arg(long, env = "NEPHELE_CONFIG")]
        config: Option<PathBuf>,
    },
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Configuration file (default: ./config.yaml if it exists).
    #[arg(long, env = "NEPHELE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Override `server.listen` (port 0 picks a free port).
    #[arg(long)]
    pub listen: Option<String>,
    /// How log lines on stderr look: `text` for people, `json` (one object a line) for machines.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum InstancesCommand {
    /// List instances.
    List {
        #[arg(long)]
        region: Option<String>,
        /// provisioning, running, stopped, archived or unknown.
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        tag: Option<String>,
        #[arg(long)]
        name: Option<String>,
    },
    /// Show one instance.
    Get { id: String },
    /// Create instances.
    Create(CreateArgs),
    /// Delete an instance.
    Delete { id: String },
    /// Power an instance on.
    PowerOn { id: String },
    /// Cut an instance's power (hard).
    PowerOff { id: String },
    /// Shut an instance down gracefully.
    Shutdown { id: String },
    /// Reboot an instance.
    Reboot { id: String },
}

/// The verbs every resource kind shares.
#[derive(Subcommand, Debug)]
pub enum ResourceCommand {
    /// List them (this provider's; with --all, every provider's).
    List {
        #[arg(long)]
        region: Option<String>,
        #[arg(long)]
        tag: Option<String>,
        /// Across every provider this key may use.
        #[arg(long)]
        all: bool,
    },
    /// Show one.
    Get { id: String },
    /// Create one from fields: `--set name=data --set size_gib=100` (a value that is JSON, such
    /// as a number or a list, is sent as such; anything else as text).
    Create {
        #[arg(long = "set", value_name = "FIELD=VALUE")]
        fields: Vec<String>,
    },
    /// Delete one.
    Delete { id: String },
    /// Change one: `action VOL attach --set instance_id=123`; `resize --set size_gib=200`;
    /// `assign`/`unassign`; `set_rules`, `add_instances`, `remove_instances`, `add_tags`,
    /// `remove_tags`.
    Action {
        id: String,
        /// The action's type.
        action: String,
        #[arg(long = "set", value_name = "FIELD=VALUE")]
        fields: Vec<String>,
    },
    /// What is inside a VPC.
    Members { id: String },
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    #[arg(long)]
    pub name: String,
    /// Instance type, e.g. s-1vcpu-1gb.
    #[arg(long = "type")]
    pub instance_type: String,
    /// Region (default: the provider's configured region).
    #[arg(long)]
    pub region: Option<String>,
    /// Image slug or id, e.g. ubuntu-24-04-x64.
    #[arg(long)]
    pub image: String,
    /// How many to create (named NAME-1..NAME-N when more than one).
    #[arg(long, default_value_t = 1)]
    pub count: u32,
    #[arg(long = "tag")]
    pub tags: Vec<String>,
    #[arg(long = "ssh-key")]
    pub ssh_keys: Vec<String>,
    /// A file whose contents become the instance's user data (cloud-init).
    #[arg(long)]
    pub user_data_file: Option<PathBuf>,
    #[arg(long)]
    pub backups: bool,
    #[arg(long)]
    pub ipv6: bool,
    /// Wait until every instance is running.
    #[arg(long)]
    pub wait: bool,
    /// How long --wait waits, in seconds.
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
}

#[derive(Args, Debug)]
pub struct CostArgs {
    #[arg(long = "type")]
    pub instance_type: String,
    #[arg(long)]
    pub region: Option<String>,
    /// 30s, 90min, 12h, 1d, 2w, 1mo, 1y or ISO 8601 (P1DT12H).
    #[arg(long)]
    pub duration: String,
    #[arg(long)]
    pub count: Option<u32>,
    /// none, weekly or daily.
    #[arg(long)]
    pub backups: Option<String>,
    /// RFC 3339 start time (default: now).
    #[arg(long)]
    pub start: Option<String>,
}

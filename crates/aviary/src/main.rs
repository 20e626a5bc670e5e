//! `aviary`: one binary for every component. With no arguments it runs
//! all-in-one on embedded stores under `./aviary-data`.

/// mimalloc: per-thread heaps; under load glibc's malloc showed arena lock
/// contention (`__lll_lock_wait_private`) and ~12 % of the gateway's CPU.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use aviary::App;
use aviary::config::Config;
use aviary::targets::Targets;
use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

#[derive(Parser, Debug)]
#[command(name = "aviary", version, about = "A microblogging server speaking the Mastodon client API")]
struct Cli {
    /// TOML configuration file (see deploy/aviary.example.toml).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to serve on [default: 127.0.0.1:8080; env AVIARY_LISTEN].
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Data directory for all-in-one mode [default: ./aviary-data; env AVIARY_DATA].
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Log format: text or json [env AVIARY_LOG_FORMAT].
    #[arg(long, value_name = "FORMAT")]
    log_format: Option<String>,
    /// Components to run: `all` (default; every component in this process)
    /// or a comma-separated list of them (`--components` lists them)
    /// [env AVIARY_TARGET].
    #[arg(long, env = "AVIARY_TARGET", default_value = "all", value_name = "LIST")]
    target: String,
    /// Print the components, one per line in start order, each followed by
    /// the components it calls, and exit (scripts/split-up reads it).
    #[arg(long)]
    components: bool,
}

fn load(cli: &Cli) -> Result<(Config, Targets), String> {
    // Variables that are not valid UTF-8 cannot be settings; skipping them
    // here leaves the rest to the configuration's own checks.
    let env = std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
    let mut config = Config::load(cli.config.as_deref(), env).map_err(|e| e.to_string())?;
    if let Some(l) = &cli.listen {
        config.listen = l
            .parse()
            .map_err(|_| format!("invalid configuration: --listen {l:?} is not an address like 127.0.0.1:8080"))?;
    }
    if let Some(d) = &cli.data {
        config.data_dir = d.clone();
    }
    if let Some(f) = &cli.log_format {
        config.log_format = f.parse().map_err(|e| format!("invalid configuration: --log-format: {e}"))?;
    }
    let targets: Targets = cli.target.parse().map_err(|e| format!("invalid configuration: {e}"))?;
    config.validate().map_err(|e| e.to_string())?;
    Ok((config, targets))
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.components {
        for r in aviary::registry::COMPONENTS {
            println!("{} {}", r.component.name(), r.component.uses().join(" "));
        }
        return ExitCode::SUCCESS;
    }
    let (config, targets) = match load(&cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("aviary: {e}");
            return ExitCode::from(2);
        }
    };
    platform::telemetry::init(config.log_format);
    for notice in &config.notices {
        tracing::warn!("{notice}");
    }
    let app = match App::build(&config, &targets).await {
        Ok(app) => app,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "aviary could not start");
            eprintln!("aviary: could not start: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let stop = CancellationToken::new();
    let signal_stop = stop.clone();
    tokio::spawn(async move {
        platform::server::shutdown_signal().await;
        signal_stop.cancel();
    });
    match app.run_until_stopped(stop).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("aviary: {e:#}");
            ExitCode::FAILURE
        }
    }
}

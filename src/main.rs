use clap::Parser;

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("VISAGE_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = visage::cli::Cli::parse();
    match visage::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("visage: error [{}]: {e}", e.code());
            std::process::ExitCode::from(if e.is_client_error() { 2 } else { 1 })
        }
    }
}

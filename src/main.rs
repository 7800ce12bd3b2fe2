use clap::Parser;

fn main() -> std::process::ExitCode {
    cap_malloc_arenas();
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

/// Caps glibc's malloc at one arena per core (its default is eight per core), before any thread
/// starts, unless `MALLOC_ARENA_MAX` says otherwise. Memory freed in one arena is not reused by
/// the others: in a 30-minute soak, RSS crept 1.5 MiB a minute in the arenas with the gallery's
/// size held; with two arenas it stayed flat, a third lower (README, "Soak").
fn cap_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let arenas = libc::c_int::try_from(cores).unwrap_or(libc::c_int::MAX);
        // SAFETY: `mallopt` only sets a tuning parameter; no other thread exists yet.
        unsafe { libc::mallopt(libc::M_ARENA_MAX, arenas) };
    }
}

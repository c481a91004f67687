use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = harnessgym_cli::cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error")),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("harnessgym: error: could not start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(harnessgym_cli::main_with(cli))
}

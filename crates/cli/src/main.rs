use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match harnessgym_cli::cli::Cli::parse_args(std::env::args_os()) {
        Ok(cli) => cli,
        // With --resume every other flag is refused as a usage error anyway (exit 2).
        Err(e) if std::env::args().any(|a| a == "--resume" || a.starts_with("--resume=")) => e.exit(),
        Err(e) => match harnessgym_cli::cli::validation_message(&e) {
            Some(message) => {
                eprintln!("harnessgym: error: {message}");
                return ExitCode::from(2);
            }
            None => e.exit(),
        },
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colours only for a terminal: a log file gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error")),
        )
        .init();
    // Every process group this process starts while it holds a workspace's lock is recorded
    // there, so that the next command kills what a SIGKILLed harnessgym left.
    harnessgym_proc::live::enable_recording();
    // mcp-proxy moves messages on threads of its own and uses the runtime only to start and stop
    // the server: a current-thread runtime spares its start-up two worker threads.
    let mut builder = match cli.command {
        harnessgym_cli::cli::Command::McpProxy(_) => tokio::runtime::Builder::new_current_thread(),
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("harnessgym: error: could not start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(harnessgym_cli::main_with(cli))
}

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    match portal::cli::run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("portal: {error:#}");
            ExitCode::FAILURE
        }
    }
}

//! The `fundtrail` command: see `fundtrail --help`.

use std::process::ExitCode;

fn main() -> ExitCode {
    match fundtrail_node::main_entry() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
